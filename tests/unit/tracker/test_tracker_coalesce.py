"""Which news.metrics records a batch publishes (`metrics_coalesce`), and what alerts follow.

"unchanged" publishes a report's record at once when it moves a date's value (or adds the
date) and leaves the other reports' records to one per date after the batch. The alerts must
be exactly those of a record per report ("none"), whatever the batch boundaries: the tests
below run both through the alerter's evaluator and gate on random feeds.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from tests.unit.alerter.builders import rules
from tests.unit.tracker.builders import (
    PUBLISHED,
    PartitionedStore,
    article_observations,
    in_partition,
    observation,
)

from newsmon.alerter.alerts import AlertGate, Evaluator
from newsmon.core.models import MetricUpdate
from newsmon.tracker.main import series_hooks
from newsmon.tracker.series import SeriesTracker, route_observations

RULES = rules(
    {"name": "drop", "kind": "change", "direction": "down", "min_pct": 30},
    {"name": "rise-week", "kind": "change", "direction": "up", "min_abs": 25, "window_days": 7},
    {"name": "jump", "kind": "change", "min_pct": 60, "suppress_s": 7200},
    {"name": "low", "kind": "threshold", "below": 35, "resolve": True},
    {"name": "high", "kind": "threshold", "above": 90, "suppress_s": 0},
)


def _feed(seed: int, articles: int = 120) -> list[Any]:
    """Random articles on two series: most reports confirm their date's figure, some
    conflict with it; dates over three weeks, four sources, publication times that go back
    and forth."""
    rng = random.Random(seed)
    start = dt.date(2023, 10, 1)
    truth: dict[tuple[str, dt.date], int] = {}
    out = []
    for i in range(articles):
        obs = []
        for k in range(rng.randint(1, 3)):
            day = start + dt.timedelta(days=rng.randint(0, 20))
            place = rng.choice(["gaza", "rafah"])
            # Most reports of a date give its figure; some give another one.
            figure = truth.setdefault((place, day), rng.choice([20, 30, 60, 100]))
            obs.append(
                observation(
                    figure if rng.random() < 0.7 else rng.choice([20, 30, 60, 100]),
                    day,
                    location=place,
                    approximate=rng.random() < 0.3,
                    start=40 * k,
                )
            )
        out.append(
            article_observations(
                f"a{i:03d}",
                *obs,
                source=rng.choice(["guardian", "reuters", "ap", "bbc"]),
                published=PUBLISHED + dt.timedelta(hours=rng.randint(-72, 72)),
            )
        )
    return out


def _records(feed: list[Any], coalesce: str, seed: int) -> list[MetricUpdate]:
    """The records the series stage publishes for `feed` cut into random batches."""
    rng = random.Random(seed)
    tracker = SeriesTracker({})
    apply, flush, _ = series_hooks(tracker, coalesce)
    items = [item for rec in feed for item in route_observations(rec)]
    out: list[MetricUpdate] = []
    i = 0
    while i < len(items):
        size = rng.choice([1, 2, 5, 13, 40])
        for sid, report in items[i : i + size]:
            out.extend(u for _, u in apply(sid, report))
        if flush is not None:
            out.extend(u for _, u in flush())
        i += size
    return out


def _alerts(records: list[MetricUpdate]) -> list[tuple[str, str, str, str]]:
    """What the alerter publishes for `records`, in order: id, status, title, event time."""
    evaluator = Evaluator(RULES)
    gate = AlertGate(RULES, {}, {}, {}, 3600.0)
    out = []
    for u in records:
        for candidate in evaluator.on_metric(u):
            alert = gate.admit(candidate)
            if alert is not None:
                out.append((alert.id, alert.status, alert.title, alert.event_time.isoformat()))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_unchanged_records_give_the_alerts_of_a_record_per_report(seed: int) -> None:
    """The same alerts, in the same order and with the same titles and event times, from
    fewer records; the last record of each date tells the same point."""
    feed = _feed(seed)
    each = _records(feed, "none", seed)
    fewer = _records(feed, "unchanged", seed)
    assert len(fewer) < len(each)
    expected = _alerts(each)
    assert len(expected) >= 5  # the feed does exercise the rules
    assert _alerts(fewer) == expected

    def last(records: list[MetricUpdate]) -> dict[Any, Any]:
        return {(u.series_id, u.as_of): (u.value, u.corroboration, u.sources) for u in records}

    assert last(fewer) == last(each)


def test_the_comparison_sees_a_difference_when_there_is_one() -> None:
    """One record per date per batch ("all") skips values a date had inside a batch: on
    these feeds that changes the alerts, so the test above can fail."""
    differs = [
        _alerts(_records(_feed(seed), "all", seed)) != _alerts(_records(_feed(seed), "none", seed))
        for seed in range(12)
    ]
    assert any(differs)


def test_a_date_left_for_after_the_batch_is_read_in_its_own_records_partition() -> None:
    """After a batch the current record is its last one; a date of a series in another
    partition is built inside the context of the record that changed it (`scope`), so the
    series is found and its record published."""
    store = PartitionedStore(lambda key: 0 if key.startswith("aid_trucks_entered@gaza") else 1)
    tracker = SeriesTracker(store, {}, scope=in_partition)
    day = dt.date(2023, 11, 10)
    gaza = [article_observations(f"g{i}", observation(100, day), source=s) for i, s in
            enumerate(["guardian", "bbc"])]  # fmt: skip
    rafah = article_observations("r1", observation(50, day, location="rafah"))
    records = []
    for owner, rec in [(0, gaza[0]), (0, gaza[1]), (1, rafah)]:
        store.owner = owner
        with in_partition(owner):
            for sid, report in route_observations(rec):
                update = tracker.apply_moved(sid, report)
                records.extend([update] if update is not None else [])
    # The batch's last record is in partition 1; the gaza date (partition 0) is pending.
    with in_partition(1):
        flushed = [u for _, u in tracker.flush()]
    assert [(u.series_id, u.corroboration) for u in records] == [
        ("aid_trucks_entered@gaza/daily", 1),
        ("aid_trucks_entered@rafah/daily", 1),
    ]
    assert [(u.series_id, u.corroboration) for u in flushed] == [
        ("aid_trucks_entered@gaza/daily", 2)
    ]


def test_a_date_whose_record_cannot_be_built_gives_a_failure_and_the_others_go_on() -> None:
    """After a batch, a pending date whose series state cannot be read (here a header of an
    unknown shape) gives a `Failed` with its last report, for the agent to dead-letter; the
    other pending dates still get their records."""
    from newsmon.core.dlq import Failed

    tracker = SeriesTracker({})
    day = dt.date(2023, 11, 10)
    recs = [
        article_observations("a1", observation(100, day)),
        article_observations("a2", observation(50, day, location="rafah")),
        article_observations("a3", observation(100, day), source="bbc"),
        article_observations("a4", observation(50, day, location="rafah"), source="bbc"),
    ]
    for rec in recs:
        for sid, report in route_observations(rec):
            tracker.apply_moved(sid, report)
    tracker.store["aid_trucks_entered@gaza/daily"] = {"shape": "unknown"}
    out = tracker.flush()
    assert [sid for sid, _ in out] == [
        "aid_trucks_entered@gaza/daily",
        "aid_trucks_entered@rafah/daily",
    ]
    failed, record = out[0][1], out[1][1]
    assert isinstance(failed, Failed) and "KeyError" in failed.error
    assert failed.article_id == "a3" and failed.payload[0] == "aid_trucks_entered@gaza/daily"
    assert isinstance(record, MetricUpdate) and record.corroboration == 2
