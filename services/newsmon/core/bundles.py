"""Bundles: many re-keyed items in one record of an internal topic.

A stateful stage reads an internal topic whose records are keyed by the state they change
(series, actor, pair, rule|subject). One Kafka record per item made the stage's cost the
broker round trip, Faust's per-record machinery and the commit bookkeeping of tens of
thousands of tiny records; the state logic itself was a small part. So a router groups a
batch's items by the partition their key maps to -- the partition Kafka's default
partitioner (murmur2, as the Java client) gives that key, so state written by earlier versions
keyed one item per record is found where it was -- and sends one record per partition (split
when large). The record's value is `{"bundle": [[key, item], ...]}`; its partition is set
explicitly, so every item of a bundle belongs to the partition the record is in, and a table
write made while that record is the current event lands in the right changelog partition.

`unbundle` also reads the former one-item records (the value is the item, the key its key).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Iterable
from typing import Any

import pydantic_core
from aiokafka.partitioner import murmur2

from newsmon.core import topics
from newsmon.core.serde import decode_json

#: Most items, and most bytes of JSON, in one bundle record (the broker takes up to 1 MiB).
BUNDLE_MAX_ITEMS = 500
BUNDLE_MAX_BYTES = 256 * 1024
#: Most bundle records a stateful stage takes in one batch: a batch's outputs and staged
#: writes are held until its outputs are acknowledged, so this bounds that memory (at most
#: 2,000 items) while keeping a batch large enough to amortise the round trip.
BUNDLES_PER_BATCH = 4


@functools.lru_cache(maxsize=65_536)
def partition_of(key: str, partitions: int = topics.PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives `key` (murmur2 of its UTF-8 bytes).

    Cached: aiokafka's murmur2 is pure Python (about 6 us a key) and the same series and
    actor ids come back with every article.
    """
    hashed: int = murmur2(key.encode("utf-8"))
    return (hashed & 0x7FFFFFFF) % partitions


class PartitionTarget:
    """A topic with one partition chosen: `send` goes to that partition."""

    def __init__(self, topic: Any, partition: int) -> None:
        self.topic = topic
        self.partition = partition

    def get_topic_name(self) -> str:
        name: str = self.topic.get_topic_name()
        return name

    async def send(self, *, key: bytes, value: bytes, force: bool = False) -> Awaitable[Any]:
        delivery: Awaitable[Any] = await self.topic.send(
            key=key, value=value, partition=self.partition, force=force
        )
        return delivery

    def __repr__(self) -> str:
        return f"<{self.get_topic_name()}:{self.partition}>"


def bundles(
    topic: Any,
    items: Iterable[tuple[str, Any]],
    partitions: int = topics.PARTITIONS,
    max_items: int = BUNDLE_MAX_ITEMS,
    max_bytes: int = BUNDLE_MAX_BYTES,
) -> list[tuple[PartitionTarget, str, bytes]]:
    """The records (target, key, value) that carry `items` (key, JSON-able item) to `topic`.

    Items keep their order within a partition, which is all the stateful stages rely on (one
    key always maps to one partition).
    """
    by_partition: dict[int, list[bytes]] = {}
    for key, item in items:
        by_partition.setdefault(partition_of(key, partitions), []).append(
            pydantic_core.to_json([key, item])
        )
    out: list[tuple[PartitionTarget, str, bytes]] = []
    for partition, encoded in sorted(by_partition.items()):
        target = PartitionTarget(topic, partition)
        chunk: list[bytes] = []
        size = 0
        for data in encoded:
            if chunk and (len(chunk) >= max_items or size + len(data) > max_bytes):
                out.append((target, f"p{partition}", _join(chunk)))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data) + 1
        out.append((target, f"p{partition}", _join(chunk)))
    return out


def _join(chunk: list[bytes]) -> bytes:
    return b'{"bundle":[' + b",".join(chunk) + b"]}"


def unbundle(key: Any, value: bytes) -> list[tuple[str, Any]]:
    """The (key, item) pairs of an internal record: a bundle's items, or a one-item record.

    Raises ValueError when the value is not JSON or a bundle is malformed.
    """
    parsed = decode_json(value)
    if isinstance(parsed, dict) and set(parsed) == {"bundle"}:
        items = parsed["bundle"]
        if not isinstance(items, list) or not all(
            isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) for i in items
        ):
            raise ValueError("a bundle holds [key, item] pairs")
        return [(k, item) for k, item in items]
    k = key.decode("utf-8") if isinstance(key, bytes) else str(key)
    return [(k, parsed)]


def item_bytes(key: str, item: Any) -> bytes:
    """One item as JSON (what a dead letter of it carries)."""
    return pydantic_core.to_json([key, item])
