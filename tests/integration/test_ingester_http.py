"""The ingester service through the real broker: HTTP door auth, DLQ, metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from newsmon.core import models, topics
from newsmon.core.config import Settings, to_env
from newsmon.core.kafka import client_kwargs
from newsmon.ingester.main import serve
from newsmon.ops.topics import ensure_topics

pytestmark = pytest.mark.kafka

ARTICLE = {
    "source": "Scraper",
    "url": "https://example.com/story-1",
    "published_at": "2023-11-13T08:00:00Z",
    "body": "Talks resumed in Doha on Monday.",
}


async def read_values(settings: Settings, spec: topics.TopicSpec) -> list[bytes]:
    """Every value currently on a prefixed topic (plain aiokafka consumer)."""
    name = topics.topic_name(spec, settings.topic_prefix)
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in range(spec.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[bytes] = []
        deadline = time.monotonic() + 30
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(r.value for r in records)
        return out
    finally:
        await consumer.stop()


async def wait_ready(base: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/health") as resp:
                    data: dict[str, Any] = await resp.json()
                    if data["status"] == "ok":
                        return data
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the ingester did not become healthy")


async def test_http_door_auth_publish_and_dlq(kafka_settings: Callable[..., Settings]) -> None:
    """No/wrong token 401; right token 202 and the record on Kafka; a bad article 422 + DLQ."""
    settings = kafka_settings(ingest_token=SecretStr("t0ken"))
    await ensure_topics(settings)
    stop = asyncio.Event()
    service = asyncio.create_task(serve(settings, stop))
    base = f"http://127.0.0.1:{settings.ingester_port}"
    try:
        health = await wait_ready(base)
        assert health["service"] == "ingester" and health["ingest_endpoint"] == "on"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/articles", json=ARTICLE) as resp:
                assert resp.status == 401
            bad_auth = {"Authorization": "Bearer t0ken-wrong"}
            async with http.post(f"{base}/articles", json=ARTICLE, headers=bad_auth) as resp:
                assert resp.status == 401
            auth = {"Authorization": "Bearer t0ken"}
            async with http.post(f"{base}/articles", json=ARTICLE, headers=auth) as resp:
                assert resp.status == 202
                [article_id] = (await resp.json())["accepted"]
            bad = {**ARTICLE, "published_at": "someday"}
            async with http.post(f"{base}/articles", json=[bad], headers=auth) as resp:
                assert resp.status == 422
                assert (await resp.json())["rejected"][0]["reason"] == "unparseable_date"
            async with http.get(f"{base}/metrics") as resp:
                text = await resp.text()
        assert (
            'newsmon_ingester_articles_rejected_total{channel="http",reason="unparseable_date"}'
            in text
        )
        assert "newsmon_ingester_publish_latency_seconds_bucket" in text
        assert "newsmon_service_ready 1.0" in text
    finally:
        stop.set()
        await service
    raw = [
        models.Article.model_validate_json(v)
        for v in await read_values(settings, topics.ARTICLES_RAW)
    ]
    assert [a.id for a in raw] == [article_id]
    dlq = [
        models.DeadLetter.model_validate_json(v)
        for v in await read_values(settings, topics.ARTICLES_DLQ)
    ]
    assert [(d.reason, d.source) for d in dlq] == [("unparseable_date", "Scraper")]
    assert dlq[0].position is not None and dlq[0].position.file == "POST /articles"
    assert json.loads(dlq[0].payload)["published_at"] == "someday"


def test_run_ingester_process_stops_cleanly_on_sigterm(
    kafka_settings: Callable[..., Settings],
) -> None:
    """`newsmon run ingester` becomes healthy, publishes, and exits 0 on SIGTERM."""
    settings = kafka_settings(ingest_token=SecretStr("t0ken"))
    asyncio.run(ensure_topics(settings))
    env = {**os.environ, **to_env(settings), "NEWSMON_LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsmon.cli.main", "run", "ingester"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{settings.ingester_port}"

    async def exercise() -> int:
        await wait_ready(base, timeout=60)
        async with aiohttp.ClientSession() as http:
            auth = {"Authorization": "Bearer t0ken"}
            async with http.post(f"{base}/articles", json=[ARTICLE], headers=auth) as resp:
                return resp.status

    try:
        assert asyncio.run(exercise()) == 202
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "ingester_stopped" in err
    assert len(asyncio.run(read_values(settings, topics.ARTICLES_RAW))) == 1
