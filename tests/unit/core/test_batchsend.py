"""Outputs sent as one record batch per topic partition (core/batchsend.py), with fakes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from newsmon.core import batchsend
from newsmon.core.bundles import PartitionTarget, partition_of
from newsmon.core.faustapp import send_started


class _Batch:
    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes, bytes | None]] = []

    def append(self, *, key: bytes, value: bytes | None, timestamp: Any) -> Any:
        size = 1 if value is None else len(value)  # a tombstone still takes room
        if size > self.room:
            return None
        self.room -= size
        self.records.append((key, value))
        return object()


class _Producer:
    """aiokafka's producer as send_batched uses it: batches, send_batch, metadata."""

    def __init__(self, room: int = 100, partitions: int = 6, fail: bool = False) -> None:
        self.room = room
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []
        self.fail = fail
        cluster = SimpleNamespace(partitions_for_topic=lambda name: set(range(partitions)))

        async def wait_on_metadata(name: str) -> None:
            return None

        self.client = SimpleNamespace(cluster=cluster, _wait_on_metadata=wait_on_metadata)

    def create_batch(self) -> _Batch:
        return _Batch(self.room)

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.sent.append((topic, partition, batch.records))
        fut = asyncio.get_running_loop().create_future()
        if self.fail:
            fut.set_exception(RuntimeError("broker said no"))
        else:  # the batch's metadata: the offset of its first record in its partition
            before = self.sent[:-1]
            base = sum(len(r) for t, p, r in before if (t, p) == (topic, partition))
            fut.set_result(SimpleNamespace(offset=base))
        return fut


class _Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


def _app(producer: _Producer) -> Any:
    return SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))


async def test_records_are_grouped_by_the_partition_kafka_would_choose_in_order() -> None:
    producer = _Producer()
    metrics, actors = _Topic("news.metrics"), _Topic("news.actors")
    keys = [f"series-{i}" for i in range(20)]
    outgoing = [(metrics, k, f"v{i}".encode()) for i, k in enumerate(keys)]
    outgoing.append((actors, "actor-1", b"a"))
    await batchsend.send_batched(_app(producer), outgoing)

    got = {(t, p): recs for t, p, recs in producer.sent}
    assert sum(len(r) for r in got.values()) == 21
    for i, k in enumerate(keys):
        assert (k.encode(), f"v{i}".encode()) in got[("news.metrics", partition_of(k, 6))]
    for (_t, _p), recs in got.items():  # order kept within a partition
        values = [v for _, v in recs]
        assert values == sorted(values, key=lambda v: [o[2] for o in outgoing].index(v))
    assert got[("news.actors", partition_of("actor-1", 6))] == [(b"actor-1", b"a")]


async def test_a_named_partition_is_kept_and_a_full_batch_starts_another() -> None:
    producer = _Producer(room=10)
    target = PartitionTarget(_Topic("internal"), 4)
    await batchsend.send_batched(_app(producer), [(target, "p4", b"x" * 6)] * 3)
    assert [(t, p, len(r)) for t, p, r in producer.sent] == [("internal", 4, 1)] * 3

    with pytest.raises(batchsend.RecordTooLarge, match="11 bytes for internal"):
        await batchsend.send_batched(_app(producer), [(target, "p4", b"y" * 11)])


async def test_a_failed_batch_fails_the_send_and_nothing_is_sent_for_no_records() -> None:
    producer = _Producer(fail=True)
    with pytest.raises(RuntimeError, match="broker said no"):
        await batchsend.send_batched(_app(producer), [(_Topic("t"), "k", b"v")])
    quiet = _Producer()
    await batchsend.send_batched(_app(quiet), [])
    assert quiet.sent == []


async def test_a_replaced_emit_or_an_unbatched_service_sends_per_record() -> None:
    producer = _Producer()
    seen: list[tuple[str, bytes]] = []

    async def capture(topic: Any, key: str, value: bytes) -> None:
        seen.append((key, value))
        return None

    out = [(_Topic("t"), "k1", b"1"), (_Topic("t"), "k2", b"2")]
    await batchsend.send_all(_app(producer), capture, out)
    assert seen == [("k1", b"1"), ("k2", b"2")] and producer.sent == []

    await batchsend.send_all(_app(producer), send_started, out)
    assert sum(len(r) for _, _, r in producer.sent) == 2


async def test_send_groups_gives_each_partitions_last_offset_across_split_batches() -> None:
    """Tombstones (None) are sent as such; a partition split over batches counts them all."""
    producer = _Producer(room=2)
    last = await batchsend.send_groups(
        [producer],
        {
            ("log", 0): [(b"a", b"1"), (b"b", None), (b"c", b"3"), (b"d", b"4"), (b"e", b"5")],
            ("log", 1): [(b"x", b"1")],
        },
    )
    assert last == {("log", 0): 4, ("log", 1): 0}
    assert [(p, len(r)) for _, p, r in producer.sent] == [(0, 2), (0, 2), (0, 1), (1, 1)]
    assert producer.sent[0][2][1] == (b"b", None)


class _LaneApp:
    """An app as `lane_producer` uses it: Faust's own producer, new producers on request,
    runtime dependencies started with it."""

    def __init__(self, lanes: int) -> None:
        self._newsmon_producer_lanes = lanes
        self.made: list[_Producer] = []
        self.started: list[Any] = []
        own = _Producer()
        self.producer = SimpleNamespace(_ensure_producer=lambda: own)

    def _new_producer(self) -> Any:
        made = _Producer(room=1 << 30)
        self.made.append(made)
        return SimpleNamespace(_ensure_producer=lambda: made)

    async def add_runtime_dependency(self, service: Any) -> Any:
        self.started.append(service)
        return service


async def test_each_lane_has_its_own_producers_and_a_partition_always_the_same_one() -> None:
    app = _LaneApp(lanes=3)
    metrics = _Topic("news.metrics")
    # Large enough to be spread over the lane's producers (SPREAD_BYTES).
    big = b"x" * (batchsend.SPREAD_BYTES // 40 + 1)
    outgoing = [(metrics, f"series-{i}", big) for i in range(40)]
    await batchsend.send_all(app, send_started, outgoing, lane="series")
    await batchsend.send_all(app, send_started, outgoing[:30] + outgoing[:10], lane="series")
    assert len(app.made) == 3 and len(app.started) == 3  # made and started once per lane
    for i, producer in enumerate(app.made):
        partitions = {p for _, p, _ in producer.sent}
        assert partitions and all(p % 3 == i for p in partitions)
    sent = [r for producer in app.made for _, _, records in producer.sent for r in records]
    assert len(sent) == 80
    for producer in app.made:
        producer.sent.clear()
    # A small send takes one request: all its partitions through the lane's first producer.
    small = [(metrics, f"series-{i}", f"v{i}".encode()) for i in range(40)]
    await batchsend.send_all(app, send_started, small, lane="series")
    assert len({p for _, p, _ in app.made[0].sent}) > 3
    assert sum(len(r) for _, _, r in app.made[0].sent) == 40
    assert app.made[1].sent == [] and app.made[2].sent == []
    # Another agent's lane gets producers of its own; no lane: the app's producer.
    await batchsend.send_all(app, send_started, small[:5], lane="actors")
    assert len(app.made) == 6 and sum(len(r) for p in app.made[3:] for _, _, r in p.sent) == 5
    await batchsend.send_all(app, send_started, small[:5])
    assert (
        len(app.made) == 6 and sum(len(r) for _, _, r in app.producer._ensure_producer().sent) == 5
    )
