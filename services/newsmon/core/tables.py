"""A write-staging view of a Faust table: state changes are applied only after the outputs they
cause have been acknowledged by the broker.

Order per batch of records: compute (writes staged, each tagged with the record that made it)
→ publish every output and wait for all the acks → apply the staged writes to the table, each
while its record is the current event (Faust puts a write in the changelog partition, and the
RocksDB partition, of the current event) → ack the inputs; Faust flushes the changelog before it
commits their offsets. A crash therefore never loses an output (the batch is processed again;
every step is idempotent), and at worst republishes some with the same key and content.
A stateful tracker agent may hold the staged writes of several batches and apply them together
(core/faustapp.py `HeldState`); their inputs are acked only after that.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

import pydantic_core

from newsmon.core.serde import decode_json

#: A key staged for deletion (the value `StagedStore.staged()` gives for it).
DELETED = _DELETED = object()
_ABSENT = object()

#: Enters the context in which a record's writes are applied (its Faust event, in the services).
Scope = Callable[[Any], AbstractContextManager[Any]]


def within(scope: Scope | None, owner: Any) -> AbstractContextManager[Any]:
    """`scope(owner)`, or no context at all without a scope (a store outside Faust)."""
    return contextlib.nullcontext() if scope is None else scope(owner)


@contextlib.contextmanager
def batch_of(
    stores: list[StagedStore], on_failure: Callable[[], None] | None = None
) -> Iterator[None]:
    """A batch's writes to `stores`: if the block raises, the writes staged in it are taken
    back (those staged before it, by batches held for a later write, stay), `on_failure` is
    called, and the error goes on."""
    marks = [store.savepoint() for store in stores]
    try:
        yield
    except BaseException:
        for store, mark in zip(stores, marks, strict=True):
            store.rollback_to(mark)
        if on_failure is not None:
            on_failure()
        raise


class StagedStore(MutableMapping[str, Any]):
    """Staged writes over a table: reads see them first; `commit()` applies, `rollback()` drops.

    `owner` is the record being processed (the service sets it); each staged write remembers
    it so that `commit(scope)` applies the write inside `scope(owner)`. `savepoint()` and
    `rollback_to()` drop the writes of one failed record of a batch and keep the others.

    `generation` changes whenever a value read from this store may have been taken back: a
    staged write dropped (`rollback`, `rollback_to`), or the table's cache cleared (a
    rebalance). A reader that remembers values across records can trust them while it is
    unchanged (tracker/series.py).
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self.pending: dict[str, Any] = {}
        self.owner: Any = None
        self._owners: dict[str, Any] = {}
        # (key, previous pending value or _ABSENT, previous owner), for rollback_to().
        self._undo: list[tuple[str, Any, Any]] = []
        self._discards = 0

    def __getitem__(self, key: str) -> Any:
        if key in self.pending:
            value = self.pending[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self.table[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value

    def _stage(self, key: str, value: Any) -> None:
        self._undo.append((key, self.pending.get(key, _ABSENT), self._owners.get(key)))
        self.pending[key] = value
        self._owners[key] = self.owner

    def __setitem__(self, key: str, value: Any) -> None:
        self._stage(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self and key not in self.pending:
            raise KeyError(key)
        self._stage(key, _DELETED)

    def __contains__(self, key: object) -> bool:
        if key in self.pending:
            return self.pending[key] is not _DELETED
        return self.table.get(key) is not None  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[str]:
        keys = {*self.table, *self.pending}
        return iter(sorted(k for k in keys if k in self))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def savepoint(self) -> int:
        """A mark to which `rollback_to` returns (before one record of a batch)."""
        return len(self._undo)

    @property
    def generation(self) -> tuple[int, int]:
        return self._discards, getattr(self.table, "generation", 0)

    def rollback_to(self, mark: int) -> None:
        """Drop the writes staged since `mark`, keep the earlier ones."""
        if len(self._undo) > mark:
            self._discards += 1
        while len(self._undo) > mark:
            key, value, owner = self._undo.pop()
            if value is _ABSENT:
                self.pending.pop(key, None)
                self._owners.pop(key, None)
            else:
                self.pending[key] = value
                self._owners[key] = owner

    def staged(self) -> Iterator[tuple[str, Any, Any]]:
        """(key, value or DELETED, owner) of every staged write, in the order first staged."""
        for key, value in self.pending.items():
            yield key, value, self._owners.get(key)

    def commit(self, scope: Scope | None = None) -> None:
        """Apply the staged writes; with `scope`, each inside `scope(owner)` of its record."""
        by_owner: dict[int, tuple[Any, list[str]]] = {}
        for key in self.pending:
            owner = self._owners.get(key)
            by_owner.setdefault(id(owner), (owner, []))[1].append(key)
        for owner, keys in by_owner.values():
            with within(scope, owner):
                for key in keys:
                    value = self.pending[key]
                    if value is _DELETED:
                        self.table.pop(key, None)
                    else:
                        self.table[key] = value
        self.applied()

    def rollback(self) -> None:
        """Drop every staged write."""
        if self.pending:
            self._discards += 1
        self.applied()

    def applied(self) -> None:
        """Forget the staged writes once they are in the table."""
        self.pending.clear()
        self._owners.clear()
        self._undo.clear()


def encode_value(value: Any) -> bytes:
    """A table value as JSON bytes (pydantic-core's encoder: about 3x the standard library's)."""
    return pydantic_core.to_json(value)


def decode_value(data: bytes | None) -> Any:
    """A table value from its JSON bytes (`serde.decode_json`: short strings shared)."""
    return None if data is None else decode_json(data)


class CachedTable(MutableMapping[str, Any]):
    """JSON values over a table of raw bytes, with a read cache of recently used keys.

    The table holds each value's JSON bytes, encoded here once per write: a Faust table with a
    JSON serializer encodes a value twice (its changelog record, its RocksDB entry) with the
    standard library, which took most of the tracker's time. Reads decode once and keep the
    decoded value: the values written are kept as the objects written (the services' logic
    never mutates a stored value in place; it builds a new one and assigns it), misses are
    kept as None, and at most `max_entries` keys are held (least recently used first out).
    `clear_cache()` must be called when the worker's partitions change: a table is only
    written by its own agent, but a new assignment fills partitions from their changelogs.
    """

    def __init__(self, table: MutableMapping[str, Any], max_entries: int = 10_000) -> None:
        self.table = table
        self.max_entries = max_entries
        #: Reads a key's stored bytes (None when absent): the table's `get`, or a faster path
        #: to the same bytes (core/tablewrite.py `direct_reader`).
        self.read_raw: Callable[[str], bytes | None] = table.get
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0
        #: Changes when the cache is cleared (values read before may be stale).
        self.generation = 0

    def _remember(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def _read(self, key: str) -> Any:
        if key in self._cache:
            self.hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        self.misses += 1
        value = decode_value(self.read_raw(key))
        self._remember(key, value)
        return value

    def __getitem__(self, key: str) -> Any:
        value = self._read(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._read(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._read(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        self.table[key] = encode_value(value)
        self._remember(key, value)

    def __delitem__(self, key: str) -> None:
        self._cache.pop(key, None)
        del self.table[key]

    def written(self, key: str, value: Any) -> None:
        """`value` was written to the table under `key` by another path (core/tablewrite.py)."""
        self._remember(key, value)

    def forget(self, key: str) -> None:
        """`key` was deleted from the table by another path (core/tablewrite.py)."""
        self._remember(key, None)

    def pop(self, key: str, default: Any = None) -> Any:
        self._cache.pop(key, None)
        data = self.table.pop(key, None)
        return default if data is None else decode_value(data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def clear_cache(self) -> None:
        self._cache.clear()
        self.generation += 1
