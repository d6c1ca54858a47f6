"""Unit tests of the commit guard: an input's offset is committed only after the changelog
records of the state it changed were acknowledged by the broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.tables.base import Collection
from faust.transport.consumer import Consumer
from faust.types import TP as TopicPartition

from newsmon.core import faustapp
from newsmon.core.faustapp import ChangelogWatch, ChangelogWriteFailed


async def test_nothing_pending_is_settled() -> None:
    watch = ChangelogWatch()
    assert await watch.settled(0.01)


async def test_waits_for_records_acknowledged_within_the_limit() -> None:
    watch = ChangelogWatch()
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    watch.add(fut)
    asyncio.get_running_loop().call_later(0.05, fut.set_result, "metadata")
    assert await watch.settled(2.0)
    assert not watch.pending  # acknowledged records are forgotten


async def test_unacknowledged_record_defers_the_commit() -> None:
    watch = ChangelogWatch()
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    watch.add(fut)
    assert not await watch.settled(0.05)
    assert watch.deferred == 1
    assert fut in watch.pending


async def test_records_written_during_the_wait_are_not_waited_for() -> None:
    """The wait covers what was written before the commit began, so it always ends."""
    watch = ChangelogWatch()
    loop = asyncio.get_running_loop()
    first: asyncio.Future[Any] = loop.create_future()
    later: asyncio.Future[Any] = loop.create_future()
    watch.add(first)

    def ack_and_write_more() -> None:
        first.set_result("metadata")
        watch.add(later)

    loop.call_later(0.02, ack_and_write_more)
    assert await watch.settled(1.0)
    assert later in watch.pending


async def test_undelivered_record_is_an_error() -> None:
    watch = ChangelogWatch()
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    watch.add(fut)
    fut.set_exception(OSError("broker gone"))
    with pytest.raises(ChangelogWriteFailed, match="OSError: broker gone"):
        await watch.settled(1.0)


class FakeConsumer:
    """Just what the guard reads of Faust's consumer before calling the real commit."""

    def __init__(self, watch: ChangelogWatch) -> None:
        from collections import defaultdict

        self.app = SimpleNamespace(_newsmon_changelogs=watch)
        self.crashed: BaseException | None = None
        self._committed_offset: dict[Any, Any] = defaultdict(lambda: None)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)

    async def crash(self, exc: BaseException) -> None:
        self.crashed = exc


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real commit is replaced by a recorder *before* the guard wraps it; monkeypatch
    # restores Faust's classes after the test.
    monkeypatch.setattr(Consumer, "_commit_offsets", _recording_commit)
    monkeypatch.setattr(Collection, "send_changelog", _fake_send_changelog)
    monkeypatch.setattr(faustapp, "COMMIT_WAIT_S", 0.05)
    faustapp._install_commit_guard()


COMMITTED: list[Any] = []


async def _recording_commit(self: Any, offsets: Any, *args: Any, **kwargs: Any) -> bool:
    COMMITTED.append(offsets)
    return True


def _fake_send_changelog(self: Any, *args: Any, **kwargs: Any) -> Any:
    return self.next_future


@pytest.mark.usefixtures("guard")
async def test_guard_commits_once_the_changelog_is_acknowledged() -> None:
    COMMITTED.clear()
    watch = ChangelogWatch()
    consumer = FakeConsumer(watch)
    loop = asyncio.get_running_loop()
    table = SimpleNamespace(app=consumer.app, next_future=loop.create_future())
    Collection.send_changelog(table, 0, "key", "value")  # type: ignore[arg-type]
    assert len(watch.pending) == 1  # the table write was recorded

    assert await Consumer._commit_offsets(consumer, {"tp": 10}) is False  # type: ignore[arg-type]
    assert COMMITTED == []  # deferred: the offset is not committed
    assert consumer._acked["tp"] == [9]  # and Faust gets its acknowledged offset back

    table.next_future.set_result("metadata")
    assert await Consumer._commit_offsets(consumer, {"tp": 10}) is True  # type: ignore[arg-type]
    assert COMMITTED == [{"tp": 10}]
    assert consumer.crashed is None


@pytest.mark.usefixtures("guard")
async def test_guard_crashes_the_consumer_when_a_changelog_record_fails() -> None:
    COMMITTED.clear()
    watch = ChangelogWatch()
    consumer = FakeConsumer(watch)
    table = SimpleNamespace(
        app=consumer.app, next_future=asyncio.get_running_loop().create_future()
    )
    Collection.send_changelog(table, 0, "key", "value")  # type: ignore[arg-type]
    table.next_future.set_exception(OSError("not delivered"))
    assert await Consumer._commit_offsets(consumer, {"tp": 3}) is False  # type: ignore[arg-type]
    assert COMMITTED == []
    assert isinstance(consumer.crashed, ChangelogWriteFailed)


@pytest.mark.usefixtures("guard")
async def test_apps_without_a_watch_commit_as_before() -> None:
    COMMITTED.clear()
    consumer = SimpleNamespace(app=SimpleNamespace())
    assert await Consumer._commit_offsets(consumer, {"tp": 1}) is True  # type: ignore[arg-type]
    assert COMMITTED == [{"tp": 1}]


def _faust_bookkeeping(committed: int | None) -> Any:
    """The parts of Faust's consumer that `_new_offset` reads and writes."""
    from collections import defaultdict

    from intervaltree import IntervalTree

    c = SimpleNamespace(
        _committed_offset=defaultdict(lambda: None),
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _gap=defaultdict(IntervalTree),
    )
    c._committed_offset["tp"] = committed
    return c


def _ack(c: Any, *offsets: int) -> None:
    for o in offsets:
        c._acked["tp"].append(o)
        c._acked_index["tp"].add(o)


@pytest.mark.parametrize("committed", [40, None])
def test_a_deferred_commit_gives_its_offsets_back_to_faust(committed: int | None) -> None:
    """Faust drops the offsets it is about to commit from its bookkeeping; a deferred commit
    must put them back, or the partition's commit is stuck behind a gap for good."""
    from faust.transport.consumer import Consumer as FaustConsumer

    new_offset = FaustConsumer._new_offset
    c = _faust_bookkeeping(committed)
    _ack(c, *range(40, 80))
    assert new_offset(c, "tp") == 80  # the commit Faust prepares (and the guard defers)
    assert c._acked["tp"] == []
    faustapp._restore_acked(c, {"tp": 80})
    _ack(c, *range(80, 86))
    assert new_offset(c, "tp") == 86  # the next commit covers everything

    # Without the restore the next commit never comes (what the broker-restart test showed).
    stuck = _faust_bookkeeping(40)
    _ack(stuck, *range(40, 80))
    new_offset(stuck, "tp")
    _ack(stuck, *range(80, 86))
    assert new_offset(stuck, "tp") is None


TP = TopicPartition("p.newsmon-tracker-by-series", 2)


class LedgerConsumer(FakeConsumer):
    def __init__(self, ledger: faustapp.ProcessedLedger, committed: int | None) -> None:
        super().__init__(ChangelogWatch())
        self.app._newsmon_ledger = ledger
        self._committed_offset[TP] = committed


@pytest.mark.usefixtures("guard")
async def test_a_commit_stops_at_the_first_record_no_agent_processed() -> None:
    """Faust acknowledged 6..8 without delivering them (skipped, then dropped on re-fetch):
    the commit holds at 6, so a restart reads them again."""
    COMMITTED.clear()
    ledger = faustapp.ProcessedLedger()
    for offset in range(9, 13):
        ledger.finished(TP, offset)
    consumer = LedgerConsumer(ledger, committed=6)
    assert await Consumer._commit_offsets(consumer, {TP: 13}) is False  # type: ignore[arg-type]
    assert COMMITTED == []
    # the offsets the agents processed go back to Faust's bookkeeping, the others do not
    assert consumer._acked[TP] == [9, 10, 11, 12]
    for offset in (6, 7, 8):  # processed after all (re-read): the commit goes through
        ledger.finished(TP, offset)
    assert await Consumer._commit_offsets(consumer, {TP: 13}) is True  # type: ignore[arg-type]
    assert COMMITTED == [{TP: 13}]
    assert ledger.done[TP] == set()  # forgotten once committed


@pytest.mark.usefixtures("guard")
async def test_a_commit_goes_as_far_as_the_records_processed_in_a_row() -> None:
    COMMITTED.clear()
    ledger = faustapp.ProcessedLedger()
    for offset in (6, 7, 9):
        ledger.finished(TP, offset)
    consumer = LedgerConsumer(ledger, committed=6)
    assert await Consumer._commit_offsets(consumer, {TP: 10}) is True  # type: ignore[arg-type]
    assert COMMITTED == [{TP: 8}]
    assert consumer._acked[TP] == [9]


@pytest.mark.usefixtures("guard")
async def test_compacted_topics_and_changelogs_commit_as_faust_says() -> None:
    """Compaction leaves gaps in a topic's offsets: no agent ever sees the missing ones."""
    COMMITTED.clear()
    metrics = TopicPartition("p.news.metrics", 0)
    changelog = TopicPartition("p.newsmon-tracker-series-changelog", 0)
    ledger = faustapp.ProcessedLedger(["p.news.metrics"])
    consumer = LedgerConsumer(ledger, committed=0)
    offsets = {metrics: 50, changelog: 7}
    assert await Consumer._commit_offsets(consumer, offsets) is True  # type: ignore[arg-type]
    assert [offsets] == COMMITTED


def test_the_ledger_forgets_on_assignment_and_below_commits() -> None:
    ledger = faustapp.ProcessedLedger()
    for offset in (3, 4, 5, 8):
        ledger.finished(TP, offset)
    assert ledger.frontier(TP, 3) == 6
    assert ledger.frontier(TP, 2) == 2
    ledger.committed(TP, 5)
    assert ledger.done[TP] == {5, 8}
    ledger.clear()
    assert ledger.frontier(TP, 5) == 5


@pytest.mark.usefixtures("guard")
async def test_a_partition_held_back_too_long_is_reported_once_for_a_restart() -> None:
    COMMITTED.clear()
    ledger = faustapp.ProcessedLedger()
    ledger.finished(TP, 9)
    consumer = LedgerConsumer(ledger, committed=6)
    assert await Consumer._commit_offsets(consumer, {TP: 10}) is False  # type: ignore[arg-type]
    since = ledger.held[TP][0]
    assert ledger.held_longer_than(10.0, since + 5) == {}
    found = ledger.held_longer_than(10.0, since + 11)
    assert found[TP]["kind"] == "skipped" and found[TP]["processed_to"] == 6
    assert ledger.held_longer_than(10.0, since + 20) == {}  # reported once
    for offset in (6, 7, 8):
        ledger.finished(TP, offset)
    assert await Consumer._commit_offsets(consumer, {TP: 10}) is True  # type: ignore[arg-type]
    assert TP not in ledger.held and TP not in ledger.reported
