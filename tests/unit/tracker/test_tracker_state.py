"""StagedStore: state changes reach the table only on commit (after outputs are acked)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.tracker.builders import article_observations, observation

from newsmon.core.tables import StagedStore
from newsmon.tracker.series import SeriesTracker, date_figures


def test_writes_are_staged_until_commit() -> None:
    """Reads see staged writes; the table changes only on commit; rollback drops them."""
    table: dict[str, Any] = {"a": 1}
    store = StagedStore(table)
    store["b"] = 2
    del store["a"]
    assert (store.get("b"), "a" in store, table) == (2, False, {"a": 1})
    store.rollback()
    assert store.get("a") == 1 and "b" not in store
    store["b"] = 2
    del store["a"]
    store.commit()
    assert table == {"b": 2} and store.pending == {}
    with pytest.raises(KeyError):
        del store["zzz"]


def test_generation_moves_when_read_values_may_be_taken_back() -> None:
    """Dropping staged writes or clearing the table's cache moves the generation; applying
    writes, or a rollback with nothing staged, does not."""
    from newsmon.core.tables import CachedTable

    cache = CachedTable({})
    store = StagedStore(cache)
    start = store.generation
    store["a"] = 1
    store.commit()
    store.rollback()
    mark = store.savepoint()
    store.rollback_to(mark)
    assert store.generation == start
    store["b"] = 2
    store.rollback_to(mark)
    after_undo = store.generation
    assert after_undo != start
    store["b"] = 2
    store.rollback()
    assert store.generation not in (start, after_undo)
    before = store.generation
    cache.clear_cache()
    assert store.generation != before


def test_uncommitted_update_is_redone_after_a_crash(d: Any) -> None:
    """If publishing fails, the rolled-back state makes the redelivered record publish again."""
    table: dict[str, Any] = {}
    seen_table: dict[str, Any] = {}
    store, seen = StagedStore(table), StagedStore(seen_table)
    tracker = SeriesTracker(store, seen)
    rec = article_observations("a1", observation(100, d(10)))
    assert len(tracker.process(rec)) == 1
    store.rollback()  # the publish failed: nothing was applied
    seen.rollback()
    assert table == {} and seen_table == {} and len(tracker.process(rec)) == 1
    store.commit()
    seen.commit()
    assert tracker.process(rec) == []


def test_savepoint_drops_one_records_writes_and_keeps_the_batchs() -> None:
    """rollback_to(savepoint) undoes only the writes staged after it, in any order of keys."""
    table: dict[str, Any] = {"a": 1}
    store = StagedStore(table)
    store["b"] = 2
    mark = store.savepoint()
    store["b"] = 3
    store["c"] = 4
    del store["a"]
    store.rollback_to(mark)
    assert (store.get("a"), store.get("b"), "c" in store) == (1, 2, False)
    store.commit()
    assert table == {"a": 1, "b": 2}


def test_commit_applies_each_write_in_the_scope_of_its_record() -> None:
    """Each staged write is applied inside scope(owner) of the record that staged it last."""
    import contextlib
    from collections.abc import Iterator

    applied: list[tuple[str, str]] = []
    current: list[str] = []

    class Table(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            applied.append((key, current[-1]))
            super().__setitem__(key, value)

    @contextlib.contextmanager
    def scope(owner: str) -> Iterator[None]:
        current.append(owner)
        try:
            yield
        finally:
            current.pop()

    store = StagedStore(Table())
    for owner, key in (("r1", "x"), ("r2", "y"), ("r3", "x")):
        store.owner = owner
        store[key] = owner
    store.commit(scope)
    assert sorted(applied) == [("x", "r3"), ("y", "r2")] and store.pending == {}


def test_series_points_stay_ordered_with_out_of_order_reports(d: Any) -> None:
    """Reports inserted in order (not re-sorted) give the same series as a full sort."""
    tracker = SeriesTracker({})
    for i, day in enumerate((13, 10, 12, 10, 11, 13)):
        tracker.process(article_observations(f"a{i}", observation(100 + i, d(day))))
    (update,) = tracker.process(article_observations("a9", observation(99, d(9))))
    assert [p.as_of for p in update.points] == [d(9), d(10), d(11), d(12), d(13)]
    sid = "aid_trucks_entered@gaza/daily"
    figures = [
        f
        for as_of in tracker.store[sid]["point_dates"]
        for f in date_figures(tracker.store, sid, as_of).values()
    ]
    assert sum(f["reports"] for f in figures) == 7
    assert tracker.process(article_observations("a1", observation(101, d(10)))) == []
