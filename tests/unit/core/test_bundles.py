"""Unit tests of bundles: many re-keyed items in one internal record (core/bundles.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from newsmon.core.bundles import bundles, item_bytes, partition_of, unbundle


class Topic:
    def get_topic_name(self) -> str:
        return "t"


def test_a_key_maps_to_the_partition_kafkas_default_partitioner_gives_it() -> None:
    """State written when each item was its own record is found in the same partition."""
    for i in range(300):
        key = f"actor-{i}|article-{i * 7}"
        expected = DefaultPartitioner()(key.encode(), [0, 1, 2, 3], [0, 1, 2, 3])
        assert partition_of(key, 4) == expected


def test_items_are_grouped_by_partition_in_their_order() -> None:
    items = [(f"k{i % 13}", {"n": i}) for i in range(200)]
    records = bundles(Topic(), items)
    assert len(records) == len({partition_of(k) for k, _ in items})
    seen: list[tuple[str, Any]] = []
    for target, key, value in records:
        assert key == f"p{target.partition}" and target.get_topic_name() == "t"
        got = unbundle(key.encode(), value)
        assert all(partition_of(k) == target.partition for k, _ in got)
        seen.extend(got)
    for partition in {partition_of(k) for k, _ in items}:
        assert [x for x in seen if partition_of(x[0]) == partition] == [
            x for x in items if partition_of(x[0]) == partition
        ]


def test_large_batches_are_split_by_count_and_by_size() -> None:
    items = [("same-key", {"text": "x" * 100, "n": i}) for i in range(50)]
    by_count = bundles(Topic(), items, max_items=20)
    assert [len(unbundle(b"", v)) for _, _, v in by_count] == [20, 20, 10]
    by_size = bundles(Topic(), items, max_bytes=1000)
    assert all(len(v) <= 1000 + 200 for _, _, v in by_size) and len(by_size) > 5
    assert [i for _, _, v in by_size for _, i in unbundle(b"", v)] == [i for _, i in items]


def test_a_one_item_record_of_earlier_versions_is_read_as_one_item() -> None:
    assert unbundle(b"series-1", json.dumps({"value": 3}).encode()) == [("series-1", {"value": 3})]


@pytest.mark.parametrize(
    "value", [b"not json", b'{"bundle": 3}', b'{"bundle": [["k"]]}', b'{"bundle": [[1, 2]]}']
)
def test_malformed_records_raise_value_error(value: bytes) -> None:
    with pytest.raises(ValueError):
        unbundle(b"k", value)


def test_an_item_alone_is_json_of_key_and_item() -> None:
    assert json.loads(item_bytes("k", {"a": [1, None]})) == ["k", {"a": [1, None]}]
