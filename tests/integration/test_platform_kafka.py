"""Platform integration tests through the real broker: topics, produce/consume, broker CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from tests.helpers import free_port

from newsmon.core import models, serde, topics
from newsmon.core.config import Settings
from newsmon.core.kafka import admin_client, client_kwargs, producer_kwargs
from newsmon.ops.topics import ensure_topics

pytestmark = pytest.mark.kafka


async def test_topics_are_created_idempotently(kafka_settings: Callable[..., Settings]) -> None:
    """`topics create` makes every contract topic with its partitions, and again is a no-op."""
    settings = kafka_settings()
    first = await ensure_topics(settings)
    assert all(s.created for s in first)
    second = await ensure_topics(settings)
    assert not any(s.created for s in second)
    assert {s.name: s.partitions for s in second} == {
        topics.topic_name(t, settings.topic_prefix): t.partitions for t in topics.TOPICS.values()
    }
    async with admin_client(settings) as admin:
        name = topics.topic_name(topics.METRICS, settings.topic_prefix)
        res = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        entries = {c[0]: c[1] for c in res[0].resources[0][4]}
        assert entries["cleanup.policy"] == "compact"


async def test_article_round_trips_through_the_broker(contract_topics: Settings) -> None:
    """An article produced with the idempotent producer is consumed back, keyed by its id."""
    settings = contract_topics
    name = topics.topic_name(topics.ARTICLES_RAW, settings.topic_prefix)
    now = dt.datetime.now(dt.UTC)
    art = models.Article(
        id=uuid.uuid4().hex,
        source="test",
        title="t",
        published_at=now,
        body="Six ambulances left Gaza.",
        ingested_at=now,
    )
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await producer.start()
    try:
        await producer.send_and_wait(name, serde.encode(art), key=art.id.encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(name, **client_kwargs(settings), auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
        records = [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    assert len(records) == 1
    assert records[0].key == art.id.encode()
    assert serde.decode(topics.ARTICLES_RAW, records[0].value) == art


async def test_batched_outputs_land_where_per_record_sends_put_them(
    contract_topics: Settings,
) -> None:
    """`batchsend.send_batched` puts each key in the partition aiokafka's default partitioner
    chooses for a plain send, keeps the order within a partition, and is acknowledged."""
    from types import SimpleNamespace

    from newsmon.core.batchsend import send_batched

    settings = contract_topics
    name = topics.topic_name(topics.METRICS, settings.topic_prefix)
    keys = [f"series-{i % 37}" for i in range(300)]
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await producer.start()
    try:
        for i, k in enumerate(keys):  # the reference: one plain send per record
            await producer.send(name, f"plain-{i}".encode(), key=k.encode())
        await producer.flush()
        app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
        topic = SimpleNamespace(get_topic_name=lambda: name)
        await send_batched(app, [(topic, k, f"batched-{i}".encode()) for i, k in enumerate(keys)])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(name, **client_kwargs(settings), auto_offset_reset="earliest")
    await consumer.start()
    records = []
    try:
        while len(records) < 2 * len(keys):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"only {len(records)} of {2 * len(keys)} records came back"
            records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    plain = {r.key: r.partition for r in records if r.value.startswith(b"plain-")}
    batched = {r.key: r.partition for r in records if r.value.startswith(b"batched-")}
    assert batched == plain and len(set(plain.values())) > 1
    for partition in set(plain.values()):
        seq = [
            int(r.value.split(b"-")[1])
            for r in records
            if r.partition == partition and r.value.startswith(b"batched-")
        ]
        assert seq == sorted(seq)


def test_broker_cli_status_prints_the_bootstrap_address(tmp_path: Path) -> None:
    """`newsmon broker start|status|stop` on a private state folder and ports."""
    env = {
        **os.environ,
        "NEWSMON_STATE_DIR": str(tmp_path),
        "NEWSMON_BROKER_PORT": str(free_port()),
        "NEWSMON_CONTROLLER_PORT": str(free_port()),
    }
    env.pop("NEWSMON_KAFKA_BOOTSTRAP", None)
    cli = [sys.executable, "-m", "newsmon.cli.main", "broker"]

    def run(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, action], env=env, capture_output=True, text=True, timeout=120)

    try:
        assert run("status").returncode == 1
        started = run("start")
        assert started.returncode == 0, started.stderr
        status = run("status")
        assert status.stdout.strip() == f"127.0.0.1:{env['NEWSMON_BROKER_PORT']}"
        assert (tmp_path / "kafka" / "data" / "meta.properties").exists()
        assert run("start").returncode == 0  # already running: no second broker
    finally:
        stopped = run("stop")
    assert stopped.stdout.strip() == "stopped"
    assert run("status").returncode == 1
