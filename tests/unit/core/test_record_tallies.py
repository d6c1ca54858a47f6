"""Records tallies: the counter and the time of the last record move together."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge

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


def test_a_topic_has_one_tally_for_the_life_of_the_process() -> None:
    from newsmon.core.metrics import RECORDS_IN, consumed, produced

    labels = {"topic": "tally-test"}
    before = RECORDS_IN.labels(**labels)._value.get()
    assert consumed("tally-test") is consumed("tally-test")
    assert produced("tally-test") is not consumed("tally-test")
    consumed("tally-test").inc()
    consumed("tally-test").inc(2)
    assert RECORDS_IN.labels(**labels)._value.get() == before + 3
