"""Faust's Prometheus sensor with cached label children: the same metrics, counted right."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP
from prometheus_client import REGISTRY

from newsmon.core.faustapp import LeanPrometheusMonitor, _faust_metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_table_and_send_counters_count_every_call_with_their_labels() -> None:
    monitor = LeanPrometheusMonitor(metrics=_faust_metrics())
    table = SimpleNamespace(name="lean-test")
    name = "newsmon_faust_table_operations_total"
    labels = {"table": "table.lean-test"}
    before = {
        op: _value(name, **labels, operation=op)
        for op in ("keys_retrieved", "keys_updated", "keys_deleted")
    }
    for _ in range(3):
        monitor.on_table_set(table, "k", b"v")
    monitor.on_table_get(table, "k")
    monitor.on_table_del(table, "k")
    assert _value(name, **labels, operation="keys_updated") == before["keys_updated"] + 3
    assert _value(name, **labels, operation="keys_retrieved") == before["keys_retrieved"] + 1
    assert _value(name, **labels, operation="keys_deleted") == before["keys_deleted"] + 1
    # A bulk write (core/tablewrite.py) counts its keys at once.
    monitor.on_table_writes(table, 40, 2)
    monitor.on_table_writes(table, 0, 0)
    assert _value(name, **labels, operation="keys_updated") == before["keys_updated"] + 43
    assert _value(name, **labels, operation="keys_deleted") == before["keys_deleted"] + 3

    sent = "newsmon_faust_topic_messages_sent_total"
    start = _value(sent, topic="topic.lean-topic")
    state = monitor.on_send_initiated(None, "lean-topic", None, 1, 1)
    monitor.on_send_initiated(None, "lean-topic", None, 1, 1)
    assert _value(sent, topic="topic.lean-topic") == start + 2
    assert isinstance(state, float) and monitor.messages_sent >= 2


def test_records_received_are_counted_per_topic_and_partition_offsets_kept() -> None:
    monitor = LeanPrometheusMonitor(metrics=_faust_metrics())
    tp = TP(topic="lean-in", partition=2)
    per_topic = "newsmon_faust_messages_received_per_topic_total"
    total = "newsmon_faust_messages_received_total"
    start, start_total = _value(per_topic, topic="lean-in"), _value(total)
    for offset in (7, 8, 9):
        monitor.on_message_in(tp, offset, SimpleNamespace())
    assert _value(per_topic, topic="lean-in") == start + 3
    assert _value(total) == start_total + 3
    offset_gauge = "newsmon_faust_messages_received_per_topics_partition"
    assert _value(offset_gauge, topic="lean-in", partition="2") == 9
