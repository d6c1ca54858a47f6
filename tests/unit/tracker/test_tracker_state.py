"""StagedStore: state changes reach the table only on commit (after outputs are acked)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.tracker.builders import article_observations, observation

from newsmon.core.tables import StagedStore
from newsmon.tracker.series import SeriesTracker


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


def test_uncommitted_update_is_redone_after_a_crash(d: Any) -> None:
    """If publishing fails, the rolled-back state makes the redelivered record publish again."""
    table: dict[str, Any] = {}
    store = StagedStore(table)
    tracker = SeriesTracker(store)
    rec = article_observations("a1", observation(100, d(10)))
    assert len(tracker.process(rec)) == 1
    store.rollback()  # the publish failed: nothing was applied
    assert table == {} and len(tracker.process(rec)) == 1
    store.commit()
    assert tracker.process(rec) == []
