"""The extractor's Prometheus metrics (`newsmon_extractor_*`; bounded label values only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ARTICLES_PROCESSED = Counter(
    "newsmon_extractor_articles_processed_total", "Articles extracted and published"
)
ARTICLES_SKIPPED = Counter(
    "newsmon_extractor_articles_skipped_total",
    "Articles skipped because their id was already processed",
)
STAGE_SECONDS = Histogram(
    "newsmon_extractor_stage_seconds",
    "Seconds one article spends in each extraction stage",
    ["stage"],  # parse, entities, quantities, events
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ENTITIES_EMITTED = Counter("newsmon_extractor_entities_emitted_total", "Entities published")
OBSERVATIONS_EMITTED = Counter(
    "newsmon_extractor_observations_emitted_total", "Quantity observations published"
)
EVENTS_EMITTED = Counter("newsmon_extractor_events_emitted_total", "Diplomatic events published")
FAILURES = Counter(
    "newsmon_extractor_failures_total",
    "Articles sent to the dead-letter topic, by reason",
    ["reason"],  # invalid_article, extraction_failed, extraction_timeout
)
