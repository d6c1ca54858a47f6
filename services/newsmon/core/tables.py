"""A write-staging view of a Faust table: state changes are applied only after the outputs they
cause have been acknowledged by the broker.

Order per record: compute (writes staged) → publish and wait for the ack → apply the staged
writes to the table → Faust flushes the changelog before it commits the input offset. A crash
therefore never loses an output (the input is processed again; every step is idempotent), and
at worst republishes one with the same key and content.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

_DELETED = object()


class StagedStore(MutableMapping[str, Any]):
    """Staged writes over a table: reads see them first; `commit()` applies, `rollback()` drops."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self.pending: dict[str, Any] = {}

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

    def __setitem__(self, key: str, value: Any) -> None:
        self.pending[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self and key not in self.pending:
            raise KeyError(key)
        self.pending[key] = _DELETED

    def __contains__(self, key: object) -> bool:
        if key in self.pending:
            return self.pending[key] is not _DELETED
        return self.table.get(key) is not None  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[str]:
        keys = {*self.table, *self.pending}
        return iter(sorted(k for k in keys if k in self))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def commit(self) -> None:
        for key, value in self.pending.items():
            if value is _DELETED:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        self.pending.clear()

    def rollback(self) -> None:
        self.pending.clear()
