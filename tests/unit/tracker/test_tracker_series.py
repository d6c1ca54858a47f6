"""Series: ordering by as_of, dedup, corroboration, conflicts, approximate flags, periods."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.tracker.builders import PUBLISHED, article_observations, observation

from newsmon.tracker.series import SeriesTracker, series_id


def test_seed_change_statement_gives_two_ordered_updates(d: Any) -> None:
    """'from 100 on Friday to approximately 30' becomes two points with a -70% change."""
    rec = article_observations(
        "a1", observation(30, d(13), approximate=True), observation(100, d(10))
    )
    out = SeriesTracker({}).process(rec)
    assert [(u.as_of, u.value, u.previous_value, u.change_pct) for u in out] == [
        (d(10), 100, None, None),
        (d(13), 30, 100, -70.0),
    ]
    assert out[-1].approximate is True and out[-1].previous_approximate is False
    assert out[-1].series_id == "aid_trucks_entered@gaza/daily"


def test_series_id_is_deterministic_and_qualifier_order_free() -> None:
    """The id depends on metric, location, period and the set of qualifiers only."""
    assert series_id("fuel", "gaza", "daily", ["Via Rafah", "un"]) == series_id(
        "fuel", "gaza", "daily", ["un", "via rafah"]
    )
    assert series_id("fuel", None, "planned") == "fuel@anywhere/planned"


def test_hedges_do_not_split_a_series(d: Any) -> None:
    """'approximately 30' joins the series of '100'; 'children' makes its own series."""
    rec = article_observations(
        "a1",
        observation(100, d(10)),
        observation(30, d(13), approximate=True, qualifiers=["approximately"]),
        observation(40, d(13), qualifiers=["child"], start=60),
    )
    out = SeriesTracker({}).process(rec)
    assert [(u.series_id, len(u.points)) for u in out] == [
        ("aid_trucks_entered@gaza/daily", 1),
        ("aid_trucks_entered@gaza/daily", 2),
        ("aid_trucks_entered@gaza/daily+child", 1),
    ]


def test_late_article_is_inserted_at_its_date(d: Any) -> None:
    """Points are ordered by as_of, not arrival; a late figure gets its own previous point."""
    tracker = SeriesTracker({})
    tracker.process(article_observations("a1", observation(100, d(10)), observation(30, d(13))))
    (late,) = tracker.process(article_observations("a2", observation(60, d(11)), source="bbc"))
    assert [p.as_of for p in late.points] == [d(10), d(11), d(13)]
    assert (late.previous_as_of, late.previous_value, late.change_abs) == (d(10), 100, -40)


def test_same_figure_from_same_article_counts_once(d: Any) -> None:
    """A replayed article, or a figure repeated in one article, changes nothing."""
    tracker = SeriesTracker({})
    rec = article_observations("a1", observation(100, d(10)), observation(100, d(10), start=50))
    assert len(tracker.process(rec)) == 1
    assert tracker.process(rec) == []


def test_same_figure_from_other_sources_is_corroborated(d: Any) -> None:
    """Different sources raise corroboration and are listed; the same source counts once."""
    tracker = SeriesTracker({})
    tracker.process(article_observations("a1", observation(100, d(10)), source="guardian"))
    tracker.process(article_observations("a2", observation(100, d(10)), source="guardian"))
    (u,) = tracker.process(article_observations("a3", observation(100, d(10)), source="bbc"))
    assert (u.corroboration, u.sources, u.article_ids) == (
        2,
        ["bbc", "guardian"],
        ["a1", "a2", "a3"],
    )


def test_conflicting_figures_kept_side_by_side_most_corroborated_wins(d: Any) -> None:
    """Conflicts stay as alternatives; the value is the most corroborated figure."""
    tracker = SeriesTracker({})
    tracker.process(article_observations("a1", observation(100, d(10), claimant="UN"), source="s1"))
    tracker.process(article_observations("a2", observation(100, d(10)), source="s2"))
    later = PUBLISHED + dt.timedelta(hours=5)
    (u,) = tracker.process(
        article_observations(
            "a3", observation(80, d(10), claimant="COGAT"), source="s3", published=later
        )
    )
    assert (u.value, u.corroboration) == (100, 2)
    assert u.points[0].alternatives == [80]
    assert u.points[0].claimants == ["UN"]


def test_conflict_tie_goes_to_latest_report(d: Any) -> None:
    """With equal corroboration, the most recently published figure stands for the date."""
    tracker = SeriesTracker({})
    tracker.process(article_observations("a1", observation(100, d(10)), source="s1"))
    later = PUBLISHED + dt.timedelta(days=1)
    (u,) = tracker.process(
        article_observations("a2", observation(90, d(10)), source="s2", published=later)
    )
    assert (u.value, u.points[0].alternatives) == (90, [100])


def test_approximate_flag_kept_unless_an_exact_report_exists(d: Any) -> None:
    """'about 30' stays approximate; an exact 30 from another source makes it exact."""
    tracker = SeriesTracker({})
    (u,) = tracker.process(article_observations("a1", observation(30, d(13), approximate=True)))
    assert u.approximate is True
    (u,) = tracker.process(article_observations("a2", observation(30, d(13)), source="bbc"))
    assert u.approximate is False and u.corroboration == 2


def test_planned_and_baseline_never_mix_with_daily(d: Any) -> None:
    """Planned, baseline and daily figures of one metric are three separate series."""
    rec = article_observations(
        "a1",
        observation(100, d(10)),
        observation(500, d(10), period="baseline", start=20),
        observation(200, d(14), period="planned", start=40),
    )
    out = SeriesTracker({}).process(rec)
    assert sorted(u.series_id for u in out) == [
        "aid_trucks_entered@gaza/baseline",
        "aid_trucks_entered@gaza/daily",
        "aid_trucks_entered@gaza/planned",
    ]
    assert all(len(u.points) == 1 for u in out)


def test_state_is_json_serialisable(d: Any) -> None:
    """Table values are plain JSON (Faust tables never hold pydantic objects)."""
    import json

    store: dict[str, Any] = {}
    SeriesTracker(store).process(article_observations("a1", observation(100, d(10))))
    assert json.loads(json.dumps(store)) == store


def test_evidence_travels_with_each_point(d: Any) -> None:
    """Each point quotes the sentences that reported its value, with their article ids."""
    (u,) = SeriesTracker({}).process(article_observations("a1", observation(100, d(10))))
    assert [(e.article_id, e.text) for e in u.points[0].evidence] == [("a1", "100 trucks")]


def test_updates_rebuild_only_their_date_and_match_a_full_rebuild(d: Any) -> None:
    """Each update's points (reused except the changed date) equal the points built afresh."""
    import random

    from newsmon.core.tables import StagedStore
    from newsmon.tracker.series import points

    rng = random.Random(7)
    store = StagedStore({})
    tracker = SeriesTracker(store)
    for i in range(120):
        rec = article_observations(
            f"a{rng.randint(0, 30)}",
            observation(rng.choice([10, 20, 30]), d(rng.randint(1, 28)), approximate=i % 3 == 0),
            source=rng.choice(["guardian", "bbc", "reuters"]),
            published=PUBLISHED + dt.timedelta(hours=rng.randint(0, 100)),
        )
        for update in tracker.process(rec):
            assert update.points == points(store, "aid_trucks_entered@gaza/daily")
        if i % 10 == 9:
            store.rollback()  # a failed publish: the cached points must not be reused
        elif i % 4 == 0:
            store.commit()


def test_an_updates_json_with_cached_points_is_the_models_own_json(d: Any) -> None:
    """`encode` (points' JSON cached) gives exactly `serde.encode`'s bytes, also for points
    rebuilt after a rollback, and for evidence that quotes `"points":[]`."""
    import random

    from newsmon.core import serde
    from newsmon.core.tables import StagedStore

    rng = random.Random(11)
    store = StagedStore({})
    tracker = SeriesTracker(store)
    checked = 0
    for i in range(150):
        obs = observation(rng.choice([10, 20, 30, 45]), d(rng.randint(1, 28)))
        if i % 7 == 0:
            obs = obs.model_copy(
                update={"evidence": obs.evidence.model_copy(update={"text": 'a "points":[] quote'})}
            )
        rec = article_observations(
            f"a{rng.randint(0, 40)}",
            obs,
            source=rng.choice(["guardian", "bbc", "reuters"]),
            published=PUBLISHED + dt.timedelta(hours=rng.randint(0, 100)),
        )
        for update in tracker.process(rec):
            assert tracker.encode(update) == serde.encode(update)
            checked += 1
        if i % 10 == 9:
            store.rollback()
        elif i % 4 == 0:
            store.commit()
    assert checked > 100
    assert len(tracker._point_json) > 0


def test_state_grows_with_dates_and_figures_not_with_reports(d: Any) -> None:
    """A figure reported by many articles keeps exact counts and a few ids and sentences."""
    import json

    from newsmon.tracker.series import MAX_ARTICLE_IDS, MAX_EVIDENCE

    store: dict[str, Any] = {}
    tracker = SeriesTracker(store)
    sizes = []
    for i in range(300):
        hour = dt.timedelta(hours=i)
        (u,) = tracker.process(
            article_observations(
                f"a{i:03d}",
                observation(100, d(10)),
                source=f"s{i % 7}",
                published=PUBLISHED + hour,
            )
        )
        sizes.append(len(json.dumps(store)))
    point = u.points[0]
    assert (point.reports, point.corroboration) == (300, 7)
    assert len(point.article_ids) == MAX_ARTICLE_IDS
    assert point.article_ids == [f"a{i:03d}" for i in range(MAX_ARTICLE_IDS)]  # first counted
    # the earliest published sentences are the evidence
    assert [e.article_id for e in point.evidence] == [f"a{i:03d}" for i in range(MAX_EVIDENCE)]
    assert sizes[-1] - sizes[MAX_ARTICLE_IDS + 10] < 10  # flat once the lists are full (digits)


def test_a_late_earlier_report_becomes_evidence(d: Any) -> None:
    """Evidence is the earliest *published* reports, whatever order they arrive in."""
    tracker = SeriesTracker({})
    for i in range(5):
        tracker.process(
            article_observations(
                f"late{i}", observation(50, d(10)), published=PUBLISHED + dt.timedelta(days=1)
            )
        )
    (u,) = tracker.process(article_observations("early", observation(50, d(10))))
    assert u.points[0].evidence[0].article_id == "early"
    assert u.points[0].reports == 6


class _WriteLog(dict[str, Any]):
    """A dict that records the JSON size of every value written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[str, int]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        import json

        self.written.append((key, len(json.dumps(value))))
        super().__setitem__(key, value)


def test_an_update_writes_small_values_however_many_figures_a_date_has(d: Any) -> None:
    """A date reported with 150 conflicting figures: an update rewrites the header (a new
    date), the date's entry and its own figure, not every figure of the date; an update of a
    known date leaves the header alone."""
    store = _WriteLog()
    tracker = SeriesTracker(store)
    for i in range(150):
        tracker.process(
            article_observations(f"a{i:03d}", observation(1000 + i, d(10)), source=f"s{i % 9}")
        )
    figures_bytes = sum(n for k, n in store.written if k.count("|") == 2 and k.endswith(".0"))
    store.written.clear()
    (u,) = tracker.process(article_observations("last", observation(5, d(11))))
    assert u.points[0].alternatives[:2] == [1000, 1001] and len(u.points[0].alternatives) == 149
    written = dict(store.written)
    assert set(written) == {
        "aid_trucks_entered@gaza/daily",
        "aid_trucks_entered@gaza/daily|2023-11-11",
        "aid_trucks_entered@gaza/daily|2023-11-11|5.0",
    }
    assert sum(written.values()) < figures_bytes / 10
    store.written.clear()
    tracker.process(article_observations("again", observation(6, d(11)), source="bbc"))
    assert {k for k, _ in store.written} == {
        "aid_trucks_entered@gaza/daily|2023-11-11",
        "aid_trucks_entered@gaza/daily|2023-11-11|6.0",
    }


def test_a_series_stored_by_an_earlier_version_is_split_on_its_next_update(d: Any) -> None:
    """Both former layouts -- every date's figures in the series' value, and the points in
    the header with a bare index per date -- are upgraded in place."""
    from newsmon.tracker.series import date_figures, date_key, points

    fresh: dict[str, Any] = {}
    SeriesTracker(fresh).process(
        article_observations("a1", observation(100, d(10)), observation(90, d(11), start=5))
    )
    sid = "aid_trucks_entered@gaza/daily"
    dates = fresh[sid]["point_dates"]
    meta = {k: v for k, v in fresh[sid].items() if k != "point_dates"}
    figures = {k: v for k, v in fresh.items() if k.count("|") == 2}
    v1 = {sid: {**meta, "dates": {as_of: date_figures(fresh, sid, as_of) for as_of in dates}}}
    v2 = {
        sid: {
            **meta,
            "points": {p.as_of.isoformat(): p.model_dump(mode="json") for p in points(fresh, sid)},
        },
        **{date_key(sid, a): fresh[date_key(sid, a)]["figures"] for a in dates},
        **figures,
    }
    for old in (v1, v2):
        (u,) = SeriesTracker(old).process(
            article_observations("a2", observation(30, d(13)), source="bbc")
        )
        assert [(p.as_of, p.value) for p in u.points] == [(d(10), 100), (d(11), 90), (d(13), 30)]
        assert old[sid]["point_dates"] == ["2023-11-10", "2023-11-11", "2023-11-13"]
        assert "dates" not in old[sid] and "points" not in old[sid]
        for as_of in dates:
            assert date_figures(old, sid, as_of) == date_figures(fresh, sid, as_of)
            assert old[date_key(sid, as_of)] == fresh[date_key(sid, as_of)]


def test_the_oldest_dates_leave_with_their_figures_beyond_the_cap(d: Any, monkeypatch: Any) -> None:
    """Past MAX_DATES the oldest date goes: its point, its index and its figures."""
    from newsmon.tracker import series

    monkeypatch.setattr(series, "MAX_DATES", 3)
    store: dict[str, Any] = {}
    tracker = SeriesTracker(store)
    for day in (10, 11, 12, 13):
        (u,) = tracker.process(article_observations(f"a{day}", observation(day, d(day))))
    sid = "aid_trucks_entered@gaza/daily"
    assert [p.as_of for p in u.points] == [d(11), d(12), d(13)]
    assert not [k for k in store if "2023-11-10" in k]
    assert len(store) == 1 + 3 * 2  # the header, and per date its entry and one figure
    assert sid in store


def test_an_articles_reports_share_one_dedup_entry_per_partition(d: Any) -> None:
    """One dedup entry per article and partition lists the reports counted from it."""
    from newsmon.core.bundles import partition_of

    seen: dict[str, Any] = {}
    tr = SeriesTracker({}, seen)
    metrics = [f"metric_{i}" for i in range(10)]
    rec = article_observations(
        "a1", *(observation(10 + i, d(10), metric=m, start=i) for i, m in enumerate(metrics))
    )
    assert len(tr.process(rec)) == 10
    sids = [series_id(m, "gaza", "daily") for m in metrics]
    assert set(seen) == {f"a1#p{partition_of(s)}" for s in sids}
    assert sum(len(v) for v in seen.values()) == 10
    assert tr.process(rec) == []


def test_an_update_carries_its_window_the_neighbours_and_the_latest_point(d: Any) -> None:
    """A record holds the points within the window of its date, at least the points just
    before and after it, and the series' latest point -- not the whole series."""
    tracker = SeriesTracker({}, window_days=3)
    days = [1, 2, 3, 10, 11, 12, 13, 14, 25]
    for i, n in enumerate(days):
        tracker.process(article_observations(f"a{i}", observation(10 * n, d(n))))
    (u,) = tracker.process(article_observations("late", observation(5, d(11), start=9)))
    assert (u.points_total, u.window_days) == (len(days), 3)
    assert [p.as_of for p in u.points] == [d(10), d(11), d(12), d(13), d(14), d(25)]
    (u,) = tracker.process(article_observations("lone", observation(7, d(20), start=9)))
    assert [p.as_of for p in u.points] == [d(14), d(20), d(25)]  # the neighbours, outside
    (u,) = tracker.process(article_observations("first", observation(7, d(2), start=9)))
    assert [p.as_of for p in u.points] == [d(1), d(2), d(3), d(25)]


def test_the_records_of_a_series_merged_in_order_give_the_whole_series(d: Any) -> None:
    """merge_series rebuilds every point from windowed records, each at its latest."""
    from newsmon.core.models import merge_series
    from newsmon.tracker.series import points

    store: dict[str, Any] = {}
    tracker = SeriesTracker(store, window_days=2)
    published = []
    for i, n in enumerate([1, 5, 9, 13, 3, 5, 17, 1]):
        published += tracker.process(
            article_observations(f"a{i}", observation(100 + i, d(n)), source=f"s{i}")
        )
    (merged,) = merge_series(published).values()
    assert merged.points == points(store, "aid_trucks_entered@gaza/daily")
    assert len(merged.points) == 6 and all(len(u.points) < 6 for u in published[-3:])


def test_a_dates_figure_is_chosen_as_if_every_figure_were_compared(d: Any) -> None:
    """The choice made from the figure chosen before and the changed one is the choice made
    over every figure of the date, report after report (random sources, hedges, values and
    publication times)."""
    import random

    from newsmon.tracker.series import _choose, date_key

    rng = random.Random(7)
    for trial in range(30):
        store: dict[str, Any] = {}
        tracker = SeriesTracker(store)
        for i in range(40):
            value = rng.choice([30, 31, 35, 40, 100])
            rec = article_observations(
                f"t{trial}-a{i}",
                observation(value, d(10), approximate=rng.random() < 0.5),
                source=rng.choice(["guardian", "reuters", "ap", "bbc"]),
                published=PUBLISHED + dt.timedelta(hours=rng.randint(-48, 48)),
            )
            tracker.process(rec)
            entry = store[date_key("aid_trucks_entered@gaza/daily", d(10).isoformat())]
            assert repr(float(entry["point"]["value"])) == _choose(entry["figures"])


def test_a_dates_alternatives_kept_up_report_by_report_are_every_other_figure(d: Any) -> None:
    """The alternatives carried from the point before (the chosen figure kept or taken over
    by the changed one, a new or a known value) are the date's other figures, sorted, as a
    full recomputation gives them; also when a report's value is an alternative already."""
    import random

    from newsmon.tracker.series import _figure_key, date_key

    rng = random.Random(11)
    for trial in range(30):
        store: dict[str, Any] = {}
        tracker = SeriesTracker(store)
        for i in range(40):
            value = rng.choice([30, 31, 35, 40, 100, 12.5, 7, 2000, rng.randint(1, 500)])
            rec = article_observations(
                f"t{trial}-a{i}",
                observation(value, d(10), approximate=rng.random() < 0.3),
                source=rng.choice(["guardian", "reuters", "ap", "bbc", f"s{i}"]),
                published=PUBLISHED + dt.timedelta(hours=rng.randint(-48, 48)),
            )
            tracker.process(rec)
            entry = store[date_key("aid_trucks_entered@gaza/daily", d(10).isoformat())]
            chosen = _figure_key(entry["point"]["value"])
            others = sorted(float(f[3]) for v, f in entry["figures"].items() if v != chosen)
            assert entry["point"]["alternatives"] == others
            assert all(type(v) is float for v in entry["point"]["alternatives"])


def test_remembered_points_are_dropped_with_a_rolled_back_write(d: Any) -> None:
    """A point remembered from a write that was then rolled back is not published again:
    the window of the next update carries the stored point."""
    from newsmon.core.tables import CachedTable, StagedStore

    table: dict[str, Any] = {}
    store = StagedStore(CachedTable(table))
    seen = StagedStore(CachedTable({}))
    tracker = SeriesTracker(store, seen)
    tracker.process(article_observations("a1", observation(100, d(10))))
    store.commit()
    seen.commit()
    # A second, more corroborated figure for the same date, then its writes taken back.
    (changed,) = tracker.process(
        article_observations("a2", observation(60, d(10)), source="reuters")
    )
    assert changed.value == 100 and changed.points[0].alternatives == [60]
    mark = 0
    store.rollback_to(mark)
    seen.rollback_to(mark)
    (update,) = tracker.process(article_observations("a3", observation(50, d(11))))
    assert [(p.as_of, p.value, p.alternatives) for p in update.points] == [
        (d(10), 100, []),
        (d(11), 50, []),
    ]
    assert update.previous_value == 100


def _route(*recs: Any) -> list[tuple[str, Any]]:
    from newsmon.tracker.series import route_observations

    return [item for rec in recs for item in route_observations(rec)]


def test_a_batch_publishes_one_record_per_changed_date_built_after_it(d: Any) -> None:
    """Reports staged together give one record per (series, date), in the order the dates
    first changed, each from the state after every report: the date's final point and a
    window that holds the other dates the batch added."""
    early = PUBLISHED - dt.timedelta(hours=5)
    recs = [
        article_observations("a1", observation(100, d(10)), source="guardian", published=early),
        article_observations("a2", observation(30, d(13)), source="bbc"),
        article_observations("a3", observation(100, d(10)), source="reuters"),
        article_observations("a4", observation(100, d(10)), source="ap"),
    ]
    recs[0] = recs[0].model_copy(update={"ingested_at": early})
    tracker = SeriesTracker({})
    assert [tracker.stage(sid, report) for sid, report in _route(*recs)] == [True] * 4
    out = tracker.flush()
    assert [(u.as_of, u.value, u.corroboration) for _, u in out] == [
        (d(10), 100, 3),
        (d(13), 30, 1),
    ]
    first, second = (u for _, u in out)
    # The first date's record already holds the later date, and its last report's time.
    assert [p.as_of for p in first.points] == [d(10), d(13)]
    assert first.event_time == PUBLISHED  # a4, the last report of 10 November
    assert first.ingested_at == early  # a1's: the article that waited longest
    assert (second.previous_value, second.change_pct) == (100, -70.0)
    assert tracker.flush() == []  # nothing pending any more


def test_a_batchs_records_tell_the_state_per_report_records_end_in(d: Any) -> None:
    """Staged together or applied one by one, the same reports leave the same series; the
    batch's record of each date has that date's final point and the final point before it
    as its previous one (random sources, values, dates and publication times)."""
    import random

    from newsmon.tracker.series import points

    rng = random.Random(11)
    recs = [
        article_observations(
            f"a{i}",
            observation(rng.choice([30, 40, 100]), d(rng.randint(8, 14))),
            source=rng.choice(["guardian", "reuters", "ap", "bbc"]),
            published=PUBLISHED + dt.timedelta(hours=rng.randint(-48, 48)),
        )
        for i in range(60)
    ]
    each, batch = SeriesTracker({}), SeriesTracker({})
    changed = set()
    for sid, report in _route(*recs):
        if each.apply(sid, report) is not None:
            changed.add(report["as_of"])
        batch.stage(sid, report)
    out = [u for _, u in batch.flush()]
    final = points(each.store, "aid_trucks_entered@gaza/daily")
    assert points(batch.store, "aid_trucks_entered@gaza/daily") == final
    assert sorted(u.as_of.isoformat() for u in out) == sorted(changed)
    by_date = {p.as_of: (i, p) for i, p in enumerate(final)}
    for u in out:
        i, point = by_date[u.as_of]
        assert (u.value, u.corroboration, u.sources, u.evidence) == (
            point.value,
            point.corroboration,
            point.sources,
            point.evidence,
        )
        assert u.previous_value == (final[i - 1].value if i else None)


def test_discarded_dates_are_not_published_and_apply_needs_none_pending(d: Any) -> None:
    """`discard` forgets the pending dates (their writes were dropped); `apply` refuses to
    run while dates are pending, as it would publish them as its own."""
    import pytest

    tracker = SeriesTracker({})
    ((sid, report),) = _route(article_observations("a1", observation(100, d(10))))
    assert tracker.stage(sid, report)
    with pytest.raises(RuntimeError, match="pending"):
        tracker.apply(sid, report)
    tracker.discard()
    assert tracker.flush() == []
    assert not tracker.stage(sid, report)  # already counted: nothing pending
    assert tracker.flush() == []


def test_a_points_stored_form_is_its_models_json() -> None:
    """The store keeps the JSON form `_point` builds next to the point: it must be what the
    point's own `model_dump(mode="json")` gives, for figures with and without evidence,
    claimants, alternatives and integral values."""
    from newsmon.core.models import SeriesPoint
    from newsmon.tracker.series import _point_json

    figures = [
        {
            "value": 30.0,
            "sources": ["A", "B"],
            "latest": "2023-11-12T10:00:00+00:00",
            "approximate": True,
            "reports": 3,
            "article_ids": ["a1", "a2"],
            "claimants": ["UN"],
            "evidence": [
                {"article_id": "a1", "published_at": "2023-11-12T10:00:00+00:00",
                 "text": "About 30 trucks «entered».", "start": 5, "end": 31},
                {"article_id": "a2", "published_at": "2023-11-12T11:00:00+00:00",
                 "text": "Some 30 trucks.", "start": 0, "end": 15},
            ],
        },
        {"value": 7, "sources": ["C"], "latest": "x", "approximate": False, "reports": 1,
         "article_ids": ["c"], "claimants": [], "evidence": []},
    ]  # fmt: skip
    for figure, alternatives in zip(figures, [[100.0, 12.5], [3]], strict=True):
        stored = _point_json("2023-11-12", figure, alternatives)
        point = SeriesPoint.model_validate(stored)
        assert stored == point.model_dump(mode="json")
        assert point.as_of == dt.date(2023, 11, 12) and point.corroboration == len(
            figure["sources"]
        )
