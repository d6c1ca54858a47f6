"""A batch's staged table writes applied in bulk: one changelog record batch per partition.

Assigning to a Faust table costs, per key: Faust's changelog send (a message wrapper, a future,
the producer's buffer, aiokafka's own future and partitioner), an acknowledgement callback that
writes the partition's persisted offset into RocksDB, sensors, and the RocksDB put. In the
fed tracker that was about an eighth of its samples, plus the producer's per-record work (about
1.6 table writes per observation). Here the writes of a stream batch that a `StagedStore` holds
are applied together:

1. each write's key is encoded as the table encodes it (its store's key serializer), the value
   is the JSON bytes `CachedTable` stores;
2. the changelog records (a None value for a deleted key) go to the table's changelog topic as
   one record batch per partition -- the partition of the record that made the write, as
   Faust's own write would -- and every batch's acknowledgement is awaited;
3. then each RocksDB partition gets one write batch: its values and its persisted offset (the
   offset of its last changelog record), written together as Faust's recovery writes a
   changelog batch.

What Faust's recovery reads back is the same: the changelog holds the same keys and values in
the same partitions, and a restarted worker reads it from the persisted offset on. As the
changelog is acknowledged before the store is written, the store is never ahead of the
changelog. The order of the steps around it is unchanged: outputs acknowledged first, state
written next, inputs acknowledged last (core/tables.py).

Only RocksDB-backed tables behind a `CachedTable` take this path; other tables (the in-memory
store of the stream tests, a table with windows or a partitioner) are written through Faust's
own assignment, one key at a time (`StagedStore.commit`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

from faust.stores.rocksdb import Store as RocksStore
from faust.types import TP

from newsmon.core.batchsend import send_groups
from newsmon.core.faustapp import event_context, lane_producer
from newsmon.core.tables import DELETED, CachedTable, StagedStore, encode_value


def bulk_capable(store: StagedStore) -> bool:
    """Whether `store`'s writes can be applied in bulk (see the module's docstring)."""
    cached = store.table
    if not isinstance(cached, CachedTable):
        return False
    table = cached.table
    data = getattr(table, "data", None)
    return isinstance(data, RocksStore) and _plain(table)


async def commit_staged(app: Any, stores: Sequence[StagedStore], lane: str | None = None) -> int:
    """Apply every store's staged writes (each in the partition of the record that made it);
    the number of writes applied in bulk is returned (0 when Faust's path was taken). The
    changelog batches go through the producer of `lane` (`faustapp.lane_producer`)."""
    if not stores or not all(
        bulk_capable(s) and all(owner is not None for _, _, owner in s.staged()) for s in stores
    ):
        for store in stores:
            store.commit(event_context)
        return 0
    groups: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
    # (table, its cache, its changelog, partition, key, key bytes, value bytes or None, value),
    # in the order staged; and each changelog's table.
    writes: list[tuple[Any, CachedTable, str, int, str, bytes, bytes | None, Any]] = []
    tables: dict[str, Any] = {}
    for store in stores:
        cached: Any = store.table
        table: Any = cached.table
        changelog = table.changelog_topic.get_topic_name()
        tables[changelog] = table
        encode_key = _key_encoder(cached, table.data)
        for key, value, owner in store.staged():
            message = owner.message
            table._verify_source_topic_partitions(message.topic)
            partition = message.partition
            key_bytes = encode_key(key)
            value_bytes = None if value is DELETED else encode_value(value)
            groups.setdefault((changelog, partition), []).append((key_bytes, value_bytes))
            writes.append((table, cached, changelog, partition, key, key_bytes, value_bytes, value))
    if not writes:
        for store in stores:
            store.applied()
        return 0
    producers = await lane_producer(app, lane)
    last_offsets = await send_groups(producers, groups)
    # One RocksDB write batch per table partition: its values and its persisted offset,
    # written together (as Faust's recovery writes a changelog batch).
    batches: dict[tuple[str, int], Any] = {}
    counts: dict[int, list[Any]] = {}  # id(table): [table, values set, keys deleted]
    for table, cached, changelog, partition, key, key_bytes, value_bytes, value in writes:
        data = table.data
        count = counts.setdefault(id(table), [table, 0, 0])
        if value_bytes is None:
            data._del(key_bytes)
            cached.forget(key)
            count[2] += 1
        else:
            batch = batches.get((changelog, partition))
            if batch is None:
                batch = batches[(changelog, partition)] = _write_batch(data)
            data._key_index[key_bytes] = partition
            batch.put(key_bytes, value_bytes)
            cached.written(key, value)
            count[1] += 1
    for (changelog, partition), offset in last_offsets.items():
        data = tables[changelog].data
        batch = batches.pop((changelog, partition), None)
        if batch is None:
            data.set_persisted_offset(TP(changelog, partition), offset)
            continue
        batch.put(data.offset_key, str(offset).encode())
        data._db_for_partition(partition).write(batch)
    monitor = _lean_monitor(app)
    if monitor is not None:
        for table, sets, deletes in counts.values():
            monitor.on_table_writes(table, sets, deletes)
    for store in stores:
        store.applied()
    return len(writes)


def direct_reader(cached: CachedTable) -> Callable[[str], bytes | None]:
    """A reader of `cached`'s stored bytes that goes straight to the table's RocksDB store
    when the table qualifies (`bulk_capable`), else the table's own `get`.

    Faust's `table.get(key)` on a RocksDB table encodes the key twice (a membership test, then
    the read) and reads RocksDB twice, through the table's and the store's mapping layers; in
    the tracker that was about a tenth of its time in the agents. This reader encodes the key
    once (cached, `_key_encoder`), tells the table's sensors of the read as Faust does, and
    reads once with the store's own `_get`: the same partition choice (the current event's
    partition while a record is processed), the same bytes.
    """
    table: Any = cached.table
    # The store last seen, whether it takes the direct path and what counts a read (see
    # `_read_counter`): decided once per store, not at every read.
    held: list[Any] = [None, False, None]

    def read(key: str) -> bytes | None:
        data: Any = getattr(table, "data", None)
        if data is not held[0]:
            held[0], held[1] = data, isinstance(data, RocksStore) and _plain(table)
            held[2] = _read_counter(table) if held[1] else None
        if not held[1]:
            value: bytes | None = table.get(key)
            return value
        if held[2] is None:
            table.on_key_get(key)
        else:
            held[2]()
        raw: bytes | None = data._get(_key_encoder(cached, data)(key))
        return raw

    return read


def _read_counter(table: Any) -> Callable[[], None] | None:
    """The counter a read of `table` increments when the services' Prometheus sensor is the
    app's only sensor and the table tells it of reads the stock way; else None, and each read
    goes through `table.on_key_get`. Faust's path (the table's sensor hook, the app's sensor
    set, the label lookup) takes about 1.2 µs a read against 0.37 µs for the counter alone,
    and the tracker's reads are many: mostly misses, dedup entries and figures new with every
    article."""
    from newsmon.core.faustapp import LeanPrometheusMonitor

    sensors = getattr(getattr(table, "app", None), "sensors", None)
    if sensors is None or getattr(table, "_sensor_on_get", None) != sensors.on_table_get:
        return None
    found = list(sensors)
    if len(found) != 1 or not isinstance(found[0], LeanPrometheusMonitor):
        return None
    return found[0].table_reads(table)


def _plain(table: Any) -> bool:
    """A table whose keys live in their record's partition: not global, no partitioner, no
    windows (the tables `bulk_capable` and `direct_reader` handle)."""
    return (
        not getattr(table, "is_global", False)
        and not getattr(table, "use_partitioner", False)
        and getattr(table, "_window", None) is None
    )


#: Encoded keys remembered per table: series, date and actor keys come back batch after batch,
#: and the store's own encoder (Faust's serializer registry, then its JSON codec) costs about
#: as much per key as encoding the value.
KEYS_CACHED = 16_384


def _key_encoder(cached: CachedTable, data: RocksStore) -> Callable[[str], bytes]:
    """The bytes Faust itself stores a key under (`data._encode_key`), with a cache of the
    most recently used keys, kept on `cached` for as long as its store is `data`."""
    held = getattr(cached, "_newsmon_key_encoder", None)
    if held is not None and held[0] is data:
        encoder: Callable[[str], bytes] = held[1]
        return encoder
    encoder = functools.lru_cache(maxsize=KEYS_CACHED)(_plain_key_encoder(data))
    cached._newsmon_key_encoder = (data, encoder)  # type: ignore[attr-defined]
    return encoder


#: Keys on which a plain JSON encoder must give Faust's own bytes before it stands in for it:
#: quotes, backslashes, control and non-ASCII characters, separators, the empty key.
_PROBE_KEYS = ("aid_trucks@gaza/daily|2023-11-10|30.0", 'a "q" \\ \t', "café→ü\u2028", "a#p3", "")


def _ascii_json(key: str) -> bytes:
    return json.dumps(key).encode()


def _utf8_json(key: str) -> bytes:
    return json.dumps(key, ensure_ascii=False).encode()


def _plain_key_encoder(data: RocksStore) -> Callable[[Any], bytes]:
    """A str key's JSON, as the standard library writes it, when that is what `data`'s own
    encoder gives for every probe key (Faust's serializer registry, codec and JSON layers cost
    about 10 µs per key, and the dedup keys are new with every article); else the store's own
    encoder. Keys of other types always go through the store's encoder."""
    own = data._encode_key
    for plain in (_ascii_json, _utf8_json):
        try:
            same = all(plain(key) == own(key) for key in _PROBE_KEYS)
        except Exception:  # an encoder that refuses a probe is not Faust's JSON one
            same = False
        if same:

            def encode(key: Any, plain: Callable[[str], bytes] = plain) -> bytes:
                return plain(key) if type(key) is str else own(key)

            return encode
    return own


def _write_batch(data: RocksStore) -> Any:
    """An empty write batch for one of `data`'s partitions (its driver's kind)."""
    if data.use_rocksdict:
        import rocksdict

        return rocksdict.WriteBatch(raw_mode=True)
    import rocksdb

    return rocksdb.WriteBatch()


def _lean_monitor(app: Any) -> Any:
    """The app's table-operation counter (the services' Prometheus sensor), if any; once
    found, kept on the app."""
    from newsmon.core.faustapp import LeanPrometheusMonitor

    held = getattr(app, "_newsmon_lean_monitor", None)
    if held is not None:
        return held
    found = next(
        (s for s in getattr(app, "sensors", ()) if isinstance(s, LeanPrometheusMonitor)), None
    )
    if found is not None:
        app._newsmon_lean_monitor = found
    return found
