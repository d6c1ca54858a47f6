"""Unit tests of the read cache in front of a table (core/tables.py: CachedTable)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from newsmon.core.tables import CachedTable, StagedStore, decode_value, encode_value
from newsmon.tracker.series import SeriesTracker


class CountingTable(dict[str, Any]):
    """A dict that counts reads, as a stand-in for a Faust table (missing keys read None)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.reads += 1
        return super().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return super().__iter__()


def test_reads_come_from_the_cache_after_the_first() -> None:
    table = CountingTable()
    table["a"] = encode_value({"v": 1})
    cache = CachedTable(table)
    assert cache["a"] == {"v": 1}
    assert cache.get("a") == {"v": 1}
    assert "a" in cache
    assert table.reads == 1
    assert (cache.hits, cache.misses) == (2, 1)


def test_misses_are_remembered_and_writes_go_through() -> None:
    table = CountingTable()
    cache = CachedTable(table)
    assert cache.get("new") is None
    assert "new" not in cache
    assert table.reads == 1
    cache["new"] = [1, 2]
    assert table["new"] == b"[1,2]"  # written to the table, as JSON bytes
    assert cache["new"] == [1, 2]
    assert table.reads == 1
    del cache["new"]
    assert "new" not in table
    assert cache.get("new") is None


def test_least_recently_used_entries_leave_first() -> None:
    table = CountingTable()
    for k in "abc":
        table[k] = encode_value(k)
    cache = CachedTable(table, max_entries=2)
    cache.get("a")
    cache.get("b")
    cache.get("a")  # b is now the least recently used
    cache.get("c")
    reads = table.reads
    cache.get("a")
    assert table.reads == reads
    cache.get("b")
    assert table.reads == reads + 1


def test_clear_cache_reads_the_table_again() -> None:
    """After a rebalance the table may hold other values (restored from the changelog)."""
    table = CountingTable()
    table["a"] = b"1"
    cache = CachedTable(table)
    assert cache["a"] == 1
    table["a"] = b"2"  # e.g. recovered from the changelog of a partition taken over
    assert cache["a"] == 1
    cache.clear_cache()
    assert cache["a"] == 2


def test_a_rolled_back_write_never_reaches_the_cache() -> None:
    """The staged store in front keeps uncommitted writes out of the table and its cache."""
    table = CountingTable()
    cache = CachedTable(table)
    seen = StagedStore({})
    tracker = SeriesTracker(StagedStore(cache), seen)
    staged = tracker.store
    assert isinstance(staged, StagedStore)
    report = {
        "series": {
            "metric": "aid_trucks_entered",
            "unit": "trucks",
            "location": "Gaza",
            "period": "daily",
            "qualifiers": [],
        },
        "observation_id": "o1",
        "as_of": "2026-11-20",
        "value": 40.0,
        "approximate": False,
        "claimant": None,
        "article_id": "a1",
        "source": "wire",
        "published_at": "2026-11-20T10:00:00+00:00",
        "ingested_at": "2026-11-20T10:00:01+00:00",
        "evidence": {"text": "40 trucks entered Gaza", "start": 0, "end": 22},
    }
    assert tracker.apply("s1", report) is not None
    staged.rollback()
    seen.rollback()
    assert cache.get("s1") is None
    assert tracker.apply("s1", report) is not None  # applied again: nothing was kept
    staged.commit()
    assert cache.get("s1") is not None
    assert decode_value(table["s1|2026-11-20|40.0"])["value"] == 40.0
    assert decode_value(table["s1|2026-11-20"])["point"]["value"] == 40.0
    assert decode_value(table["s1"])["point_dates"] == ["2026-11-20"]


def test_values_are_encoded_once_and_read_back_equal() -> None:
    """The table gets JSON bytes (one encoding serves the changelog and the store)."""
    table = CountingTable()
    cache = CachedTable(table)
    value = {"s": "é\u2028", "n": [1, 2.5, None, True], "nested": {"k": {"x": -1}}}
    cache["k"] = value
    assert isinstance(table["k"], bytes)
    assert decode_value(table["k"]) == value
    cache.clear_cache()
    assert cache["k"] == value
    assert cache.pop("k") == value and "k" not in table


def test_a_failed_batch_takes_back_only_its_own_staged_writes() -> None:
    """`batch_of`: the writes staged before the block (batches held for a later write) stay;
    the block's are taken back, `on_failure` runs, the error goes on."""
    import pytest

    from newsmon.core.tables import batch_of

    a, b = StagedStore({}), StagedStore({"k": 1})
    a["held"] = 1
    failures: list[str] = []
    with (
        pytest.raises(RuntimeError, match="broker away"),
        batch_of([a, b], lambda: failures.append("x")),
    ):
        a["held"] = 2
        a["new"] = 3
        del b["k"]
        raise RuntimeError("broker away")
    assert dict(a.pending) == {"held": 1} and b.get("k") == 1 and failures == ["x"]
    with batch_of([a, b]):
        a["new"] = 3
    assert a.get("new") == 3 and a.get("held") == 1
