"""The ingester's Prometheus metrics (`newsmon_ingester_*`), with bounded label values.

Article sources are open-ended (a seed archive names one source per file), so the `source`
label keeps the first `SOURCE_LABELS` distinct sources this process sees and folds the rest
into `other`; configured feed names are registered first so they always get their own value.
`channel` is one of replay, feed, http; `reason` is a `Reason` code; `feed` comes from config.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

SOURCE_LABELS = 50
OTHER = "other"

ARTICLES_PUBLISHED = Counter(
    "newsmon_ingester_articles_published_total",
    "Articles acknowledged by Kafka on news.articles.raw, by channel and (bounded) source",
    ["channel", "source"],
)
ARTICLES_REJECTED = Counter(
    "newsmon_ingester_articles_rejected_total",
    "Inputs rejected to news.articles.dlq, by channel and reason",
    ["channel", "reason"],
)
DUPLICATES_SKIPPED = Counter(
    "newsmon_ingester_duplicates_skipped_total",
    "Articles not published again because their id was already published",
    ["channel"],
)
PUBLISH_ERRORS = Counter(
    "newsmon_ingester_publish_errors_total",
    "Records Kafka did not acknowledge (the input is reported as failed, never as published)",
    ["topic"],
)
PUBLISH_LATENCY = Histogram(
    "newsmon_ingester_publish_latency_seconds",
    "Seconds from handing an article to the producer to Kafka's acknowledgement (acks=all)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BYTES_PUBLISHED = Counter(
    "newsmon_ingester_published_bytes_total",
    "Bytes of article values acknowledged on news.articles.raw",
    ["channel"],
)
FEED_POLLS = Counter(
    "newsmon_ingester_feed_polls_total",
    "Feed polls by feed and outcome (new, unchanged, not_modified, http_error, network_error, "
    "parse_error, publish_error)",
    ["feed", "outcome"],
)
FEED_LAST_SUCCESS = Gauge(
    "newsmon_ingester_feed_last_success_timestamp_seconds",
    "Unix time of the feed's last successful poll (200 or 304)",
    ["feed"],
)
FEED_ENTRIES = Counter(
    "newsmon_ingester_feed_entries_total",
    "New feed entries seen, by feed",
    ["feed"],
)
HTTP_REQUESTS = Counter(
    "newsmon_ingester_http_requests_total",
    "POST /articles requests by HTTP status code",
    ["status"],
)


class BoundedLabel:
    """Maps open-ended values to at most `limit` label values (first come), the rest to `other`."""

    def __init__(self, limit: int = SOURCE_LABELS, other: str = OTHER) -> None:
        self._limit = limit
        self._other = other
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        """Reserve a label value (e.g. a configured feed name), even beyond the limit."""
        with self._lock:
            self._seen.add(value[:64])

    def __call__(self, value: str) -> str:
        value = value[:64]
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return self._other


SOURCE_LABEL = BoundedLabel()
