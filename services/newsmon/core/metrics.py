"""Prometheus metrics shared by every service (service-specific ones live in each service)."""

from __future__ import annotations

import functools
import time

from prometheus_client import Counter, Gauge, Histogram, Info

SERVICE_INFO = Info("newsmon_service", "Which newsmon service this process runs")
SERVICE_READY = Gauge(
    "newsmon_service_ready", "1 once the service has joined its group / opened its inputs"
)
DEAD_LETTERS = Counter(
    "newsmon_dead_letters_total",
    "Records sent to the dead-letter topic, by stage and reason",
    ["stage", "reason"],
)
RECORDS_IN = Counter(
    "newsmon_records_consumed_total", "Records consumed from a contract topic", ["topic"]
)
RECORDS_OUT = Counter(
    "newsmon_records_produced_total", "Records produced to a contract topic", ["topic"]
)
LAST_CONSUMED = Gauge(
    "newsmon_records_consumed_last_timestamp_seconds",
    "Unix time of the last record consumed from a contract topic",
    ["topic"],
)
LAST_PRODUCED = Gauge(
    "newsmon_records_produced_last_timestamp_seconds",
    "Unix time of the last record produced to a contract topic",
    ["topic"],
)


class Tally:
    """A topic's records counter together with the time of its last record (both exported).

    The time tells how long ago a service last read or wrote a topic (a stalled or idle
    stage), to the millisecond rather than to the scrape interval.
    """

    __slots__ = ("_count", "_last")

    def __init__(self, counter: Counter, last: Gauge, topic: str):
        self._count = counter.labels(topic=topic)
        self._last = last.labels(topic=topic)

    def inc(self, n: int = 1) -> None:
        self._count.inc(n)
        self._last.set(time.time())


# One tally per topic, made once: callers on per-record paths (the ingester's publisher, the
# extractor) ask for it at each record, and each `labels()` lookup takes a lock.
@functools.cache
def consumed(topic: str) -> Tally:
    """The consumed-records tally of a contract topic."""
    return Tally(RECORDS_IN, LAST_CONSUMED, topic)


@functools.cache
def produced(topic: str) -> Tally:
    """The produced-records tally of a contract topic."""
    return Tally(RECORDS_OUT, LAST_PRODUCED, topic)


#: Seconds from an article's ingestion to a stage's output; the alerter's stage is the
#: end-to-end latency (ingest time -> alert time).
PIPELINE_LATENCY = Histogram(
    "newsmon_pipeline_latency_seconds",
    "Seconds from an article's ingestion to a stage's output",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
COMMITS_DEFERRED = Counter(
    "newsmon_commits_deferred_total",
    "Offset commits put off because table changelog records were not yet acknowledged",
)
COMMITS_HELD_BACK = Counter(
    "newsmon_commits_held_back_total",
    "Offset commits held back to the first record no agent processed (Faust had acknowledged "
    "records it never delivered)",
)
RESTARTS = Gauge(
    "newsmon_service_restarts",
    "In-place restarts of this service by its stall watchdog since it was started",
)
STALLS = Counter(
    "newsmon_stream_stalls_total",
    "Times an agent had unread records on its partitions and read none for the stall limit",
)
