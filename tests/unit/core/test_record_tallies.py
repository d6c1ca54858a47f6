"""Records tallies: the counter and the time of the last record move together."""

from __future__ import annotations

import time

from bench.run import sample_values
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from newsmon.core.metrics import Tally


def test_a_tally_counts_and_stamps_its_last_record() -> None:
    registry = CollectorRegistry()
    count = Counter("t_records_total", "records", ["topic"], registry=registry)
    last = Gauge("t_records_last_timestamp_seconds", "last record", ["topic"], registry=registry)
    tally = Tally(count, last, "news.metrics")
    labels = {"topic": "news.metrics"}
    assert registry.get_sample_value("t_records_last_timestamp_seconds", labels) == 0

    before = time.time()
    tally.inc()
    tally.inc(2)
    after = time.time()

    assert registry.get_sample_value("t_records_total", labels) == 3
    stamp = registry.get_sample_value("t_records_last_timestamp_seconds", labels)
    assert stamp is not None and before <= stamp <= after


def test_the_bench_reads_every_labelled_sample_of_a_metric() -> None:
    registry = CollectorRegistry()
    last = Gauge("t_last_timestamp_seconds", "last record", ["topic"], registry=registry)
    last.labels(topic="a").set(10.5)
    last.labels(topic="b").set(12.25)
    Gauge("t_last_timestamp_seconds_other", "not this one", registry=registry).set(99)

    text = generate_latest(registry).decode()

    assert sorted(sample_values(text, "t_last_timestamp_seconds")) == [10.5, 12.25]
    assert sample_values(text, "t_missing") == []
