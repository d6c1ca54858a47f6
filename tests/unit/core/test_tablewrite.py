"""Staged table writes applied in bulk (core/tablewrite.py), against stand-ins for Faust's
RocksDB store and aiokafka's producer; the real broker and store are in
tests/integration/test_tracker_alerter_kafka.py (`test_tracker_changelogs_match_its_stores`)."""

from __future__ import annotations

import asyncio
import tempfile
from types import SimpleNamespace
from typing import Any

import pytest
import rocksdict
from faust.stores.rocksdb import Store as RocksStore

from newsmon.core.tables import CachedTable, StagedStore, decode_value
from newsmon.core.tablewrite import _PROBE_KEYS, bulk_capable, commit_staged


class FakeStore(RocksStore):
    """A RocksDB store without an app: real RocksDB partitions (rocksdict, raw keys and
    values, as Faust opens them) in a temporary folder."""

    def __init__(self) -> None:  # Faust's constructor needs an app and a table
        self.folder = tempfile.TemporaryDirectory(prefix="tablewrite-")
        self.dbs: dict[int, Any] = {}
        self._key_index: dict[bytes, int] = {}
        self.use_rocksdict = True

    def _encode_key(self, key: Any) -> bytes:
        return f'"{key}"'.encode()

    def _db_for_partition(self, partition: int) -> Any:
        if partition not in self.dbs:
            path = f"{self.folder.name}/{partition}"
            self.dbs[partition] = rocksdict.Rdict(path, rocksdict.Options(raw_mode=True))
        return self.dbs[partition]

    def _del(self, key: bytes) -> None:
        for db in self.dbs.values():
            db.delete(key)


def rows(store: FakeStore, partition: int) -> dict[bytes, bytes]:
    """A partition's keys and values, without its persisted offset."""
    db = store.dbs[partition]
    return {k: v for k, v in db.items() if k != store.offset_key}


def offsets(store: FakeStore) -> dict[int, int]:
    """Each opened partition's persisted offset (Faust's recovery starts after it)."""
    found = {p: db.get(store.offset_key) for p, db in store.dbs.items()}
    return {p: int(v) for p, v in found.items() if v is not None}


class FakeTable(dict[str, bytes]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.data = FakeStore()
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: f"{name}-changelog")
        self.verified: set[str] = set()

    def _verify_source_topic_partitions(self, topic: str) -> None:
        self.verified.add(topic)


class FakeProducer:
    """Record batches whose acknowledgements the test releases."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.offsets: dict[tuple[str, int], int] = {}

    def create_batch(self) -> Any:
        records: list[tuple[bytes, bytes | None]] = []

        def append(*, key: bytes, value: bytes | None, timestamp: Any) -> Any:
            records.append((key, value))
            return object()

        return SimpleNamespace(append=append, records=records)

    async def send_batch(self, batch: Any, name: str, partition: int) -> Any:
        base = self.offsets.get((name, partition), 0)
        self.offsets[(name, partition)] = base + len(batch.records)
        self.sent.append((name, partition, batch.records))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        ack.set_result(SimpleNamespace(offset=base)) if self.auto else None
        return ack

    auto = True


def owner(topic: str, partition: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition))


def staged(name: str) -> tuple[StagedStore, FakeTable]:
    table = FakeTable(name)
    return StagedStore(CachedTable(table)), table


def app_with(producer: FakeProducer) -> Any:
    return SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer), sensors=[])


async def test_writes_go_to_the_changelog_partition_of_their_record_then_the_store() -> None:
    store, table = staged("series")
    other, _ = staged("seen")
    producer = FakeProducer()
    store.owner = owner("by-series", 2)
    store["a"] = {"v": 1}
    store["b"] = {"v": 2}
    other.owner = owner("by-series", 2)
    other["a#p2"] = True
    store.owner = owner("by-series", 0)
    store["c"] = {"v": 3}
    store["a"] = {"v": 4}  # a key's last value is written, where its last record puts it
    assert await commit_staged(app_with(producer), [store, other]) == 4
    sent = {(name, p): records for name, p, records in producer.sent}
    assert sent == {
        ("series-changelog", 2): [(b'"b"', b'{"v":2}')],
        ("series-changelog", 0): [(b'"a"', b'{"v":4}'), (b'"c"', b'{"v":3}')],
        ("seen-changelog", 2): [(b'"a#p2"', b"true")],
    }
    assert rows(table.data, 2) == {b'"b"': b'{"v":2}'}
    assert rows(table.data, 0) == {b'"a"': b'{"v":4}', b'"c"': b'{"v":3}'}
    assert table.data._key_index == {b'"a"': 0, b'"b"': 2, b'"c"': 0}
    # One persisted offset per partition: its last changelog record's.
    assert offsets(table.data) == {2: 0, 0: 1}
    assert table.verified == {"by-series"}
    assert store.pending == {} and other.pending == {}
    # Reads see the written values without decoding them again.
    assert store["a"] == {"v": 4} and store.table.misses == 0


async def commit_held() -> tuple[StagedStore, FakeTable, FakeProducer, asyncio.Future[int]]:
    """A one-write commit started, its changelog batch sent and not yet acknowledged."""
    store, table = staged("series")
    producer = FakeProducer()
    producer.auto = False
    store.owner = owner("by-series", 1)
    store["k"] = [1]
    task = asyncio.ensure_future(commit_staged(app_with(producer), [store]))
    await asyncio.sleep(0.01)
    return store, table, producer, task


async def test_the_store_is_written_only_after_the_changelog_is_acknowledged() -> None:
    _, table, producer, task = await commit_held()
    assert producer.sent and not task.done()
    assert not table.data.dbs
    producer.acks[0].set_result(SimpleNamespace(offset=41))
    assert await task == 1
    assert rows(table.data, 1) == {b'"k"': b"[1]"}
    assert offsets(table.data) == {1: 41}


async def test_a_failed_changelog_send_writes_nothing() -> None:
    store, table, producer, task = await commit_held()
    producer.acks[0].set_exception(RuntimeError("broker gone"))
    with pytest.raises(RuntimeError, match="broker gone"):
        await task
    assert not table.data.dbs
    assert store.pending == {"k": [1]}  # the batch is retried or the agent restarts


async def test_a_deletion_is_a_tombstone_and_leaves_the_store() -> None:
    store, table = staged("series")
    table.data._db_for_partition(3).put(b'"old"', b"1")
    table["old"] = b"1"
    producer = FakeProducer()
    store.owner = owner("by-series", 3)
    del store["old"]
    assert await commit_staged(app_with(producer), [store]) == 1
    assert producer.sent == [("series-changelog", 3, [(b'"old"', None)])]
    assert rows(table.data, 3) == {} and offsets(table.data) == {3: 0}
    assert "old" not in store


async def test_stores_that_cannot_take_the_bulk_path_are_written_key_by_key() -> None:
    """A plain mapping (the stream tests' memory tables), or a write with no record."""
    plain = StagedStore(CachedTable({}))
    plain["k"] = {"v": 1}
    assert not bulk_capable(plain)
    assert await commit_staged(app_with(FakeProducer()), [plain]) == 0
    assert decode_value(plain.table.table["k"]) == {"v": 1}

    store, table = staged("series")
    assert bulk_capable(store)
    store["k"] = {"v": 2}  # no owner: Faust's own assignment, in its current event
    assert await commit_staged(app_with(FakeProducer()), [store]) == 0
    assert decode_value(table["k"]) == {"v": 2}


async def test_keys_are_encoded_by_the_store_once_each_while_it_stays() -> None:
    """A key written in several batches is encoded by its store once (the encoding is
    remembered), and a table whose store changed encodes with the new one."""
    store, table = staged("series")
    calls: list[str] = []
    encode = table.data._encode_key

    def counted(key: Any) -> bytes:
        calls.append(key)
        return encode(key)

    table.data._encode_key = counted  # type: ignore[method-assign]
    producer = FakeProducer()
    for n in range(3):
        store.owner = owner("by-series", 1)
        store["a"] = {"v": n}
        store[f"b{n}"] = {"v": n}
        await commit_staged(app_with(producer), [store])
    # The store's encoder is also asked for a few probe keys, once (`_plain_key_encoder`).
    assert [c for c in calls if c not in _PROBE_KEYS] == ["a", "b0", "b1", "b2"]
    assert rows(table.data, 1)[b'"a"'] == b'{"v":2}'
    table.data = FakeStore()  # e.g. the table's store opened again
    store.owner = owner("by-series", 1)
    store["a"] = {"v": 3}
    await commit_staged(app_with(producer), [store])
    assert rows(table.data, 1) == {b'"a"': b'{"v":3}'}


class _Event:
    """A stand-in for a Faust event from `partition` (Faust keeps a weak reference)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(topic="by-series", partition=partition)


def test_direct_reads_give_what_the_table_gives_in_every_partition(tmp_path: Any) -> None:
    """A real Faust table on RocksDB (no broker needed): the direct reader returns the bytes
    `table.get` returns, in the current event's partition or, with no event, wherever the key
    lives; and the table's sensors are told of each read."""
    import faust

    from newsmon.core.faustapp import event_context, json_table
    from newsmon.core.tablewrite import direct_reader

    app = faust.App("tablewrite-reads", store="rocksdb://", datadir=str(tmp_path))
    table = json_table(app, "series", "test")
    data = table.data
    assert isinstance(data, RocksStore)
    with event_context(_Event(3)):
        data._set(data._encode_key("a|2023-11-10"), b'{"v":1}')
    with event_context(_Event(1)):
        data._set(data._encode_key("b"), b"[2]")
    gets: list[str] = []
    table._sensor_on_get = lambda t, key: gets.append(key)
    read = direct_reader(CachedTable(table))
    for partition in (3, 1, 0, None):
        with event_context(_Event(partition) if partition is not None else None):
            for key in ("a|2023-11-10", "b", "missing"):
                assert read(key) == table.get(key), (partition, key)
    assert read("a|2023-11-10") == b'{"v":1}' and read("b") == b"[2]"
    # 4 direct reads, 4 through table.get, 1 more direct: both paths tell the sensors.
    assert gets.count("b") == 9
    cached = CachedTable(table)
    cached.read_raw = read
    with event_context(_Event(3)):
        assert cached["a|2023-11-10"] == {"v": 1} and "b" not in cached


def test_direct_reads_count_on_the_services_sensor_as_faust_would(tmp_path: Any) -> None:
    """With the services' Prometheus sensor as the app's only sensor, a direct read counts
    one key retrieved on it, without Faust's per-read sensor calls; another sensor added, the
    reads go through the table's own hook again, and are still counted."""
    import faust
    from prometheus_client import REGISTRY

    from newsmon.core.faustapp import LeanPrometheusMonitor, _faust_metrics, json_table
    from newsmon.core.tablewrite import direct_reader

    app = faust.App("tablewrite-counted", store="rocksdb://", datadir=str(tmp_path))
    monitor = LeanPrometheusMonitor(metrics=_faust_metrics())
    app.sensors.add(monitor)
    table = json_table(app, "counted", "test")
    labels = {"table": "table.counted", "operation": "keys_retrieved"}

    def retrieved() -> float:
        value = REGISTRY.get_sample_value("newsmon_faust_table_operations_total", labels)
        return value or 0.0

    hooked: list[str] = []
    original = monitor.on_table_get
    monitor.on_table_get = lambda t, key: (hooked.append(key), original(t, key))  # type: ignore[method-assign]
    before = retrieved()
    read = direct_reader(CachedTable(table))
    for key in ("a", "b", "a"):
        assert read(key) is None
    assert retrieved() == before + 3 and hooked == []
    # Another sensor: decided again when the store changes (here: a new reader).
    other: list[str] = []

    class Other:
        beacon: Any = None

        def on_table_get(self, t: Any, key: str) -> None:
            other.append(key)

    app.sensors.add(Other())  # type: ignore[arg-type]
    read = direct_reader(CachedTable(table))
    assert read("c") is None
    assert retrieved() == before + 4 and hooked == ["c"] and other == ["c"]


def test_direct_reads_fall_back_to_the_table_when_it_is_not_on_rocksdb() -> None:
    from newsmon.core.tablewrite import direct_reader

    plain = {"k": b"[1]"}
    read = direct_reader(CachedTable(plain))
    assert read("k") == b"[1]" and read("other") is None


def test_keys_of_a_faust_json_table_are_encoded_as_faust_does(tmp_path: Any) -> None:
    """On a real Faust table (JSON keys) the key encoder is the plain JSON one, and gives the
    store's own bytes for keys with quotes, escapes and non-ASCII letters; a store whose own
    encoder differs keeps its own (the stand-in above)."""
    import faust

    from newsmon.core.faustapp import json_table
    from newsmon.core.tablewrite import _key_encoder

    app = faust.App("tablewrite-keys", store="rocksdb://", datadir=str(tmp_path))
    table = json_table(app, "series", "test")
    data = table.data
    encode = _key_encoder(CachedTable(table), data)
    assert encode.__wrapped__ is not data._encode_key  # type: ignore[attr-defined]
    for key in ["s@gaza/daily|2023-11-10|30.0", 'x "y" \\ z', "Türkiye→İsrail", "é\u2028\n", ""]:
        assert encode(key) == data._encode_key(key)

    fake = FakeStore()
    own = _key_encoder(CachedTable(FakeTable("x")), fake)
    assert own.__wrapped__ == fake._encode_key  # type: ignore[attr-defined]
