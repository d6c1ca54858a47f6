"""The extractor as a real `newsmon run extractor` process (with its spaCy process pool) on the
real broker: articles in, three records per article out, bad input to the DLQ, no duplicates."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import StackUnderTest, publish, read_topic

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.models import Article, DeadLetter
from newsmon.extractor.sources import parse_seed_text

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_0928fa2d644cd3ef.txt"
T0 = dt.datetime(2023, 11, 20, tzinfo=dt.UTC)


@pytest.fixture
def extractor_stack(contract_topics: Settings) -> Iterator[StackUnderTest]:
    """The extractor service running against this test's prefixed topics."""
    settings = contract_topics.model_copy(update={"extractor_processes": 1})
    stack = StackUnderTest(settings)
    try:
        stack.start("extractor")
        yield stack
    finally:
        stack.stop("extractor")


def _wait_for(settings: Settings, spec: topics.TopicSpec, n: int, timeout: float = 180) -> list:
    deadline = time.monotonic() + timeout
    while True:
        values = read_topic(settings, spec)
        if len(values) >= n or time.monotonic() > deadline:
            return values
        time.sleep(1.0)


def test_articles_flow_through_extractor(extractor_stack: StackUnderTest) -> None:
    """Two articles (one sent twice) and one bad record give 2 records per output topic and 1
    dead letter; the seed's Turkey → Israel 161 event arrives on news.events."""
    settings = extractor_stack.settings
    seed = parse_seed_text(SEED.read_text(encoding="utf-8"), SEED.name)
    other = Article(
        id="kafka-2",
        source="test",
        title="t",
        published_at=T0,
        body="About 40 aid trucks entered Gaza on Sunday, the UN said.",
        ingested_at=T0,
    )
    publish(settings, topics.ARTICLES_RAW, seed, key=seed.id)
    publish(settings, topics.ARTICLES_RAW, b"this is not an article", key="junk")
    publish(settings, topics.ARTICLES_RAW, other, key=other.id)
    publish(settings, topics.ARTICLES_RAW, seed, key=seed.id)  # a replay: skipped

    events = _wait_for(settings, topics.EVENTS, 2)
    entities = _wait_for(settings, topics.ENTITIES, 2)
    observations = _wait_for(settings, topics.OBSERVATIONS, 2)
    dlq = _wait_for(settings, topics.ARTICLES_DLQ, 1)
    time.sleep(3)  # give a wrongly re-processed duplicate the time to show up

    assert sorted(r.article_id for r in read_topic(settings, topics.EVENTS)) == sorted(
        [seed.id, "kafka-2"]
    )
    assert len(entities) == len(observations) == 2
    by_article = {r.article_id: r for r in events}
    assert any(
        e.actor.id == "turkey" and e.target and e.target.id == "israel" and e.cameo == "161"
        for e in by_article[seed.id].events
    )
    obs = {r.article_id: r for r in observations}["kafka-2"].observations
    assert [(o.metric, o.value, o.as_of) for o in obs] == [
        ("aid_trucks_entered", 40, dt.date(2023, 11, 19))
    ]
    letter: DeadLetter = dlq[0]
    assert (letter.stage, letter.reason) == ("extractor", "invalid_article")


def test_batched_table_writes_land_in_each_articles_partition(
    extractor_stack: StackUnderTest,
) -> None:
    """A batch mixing partitions writes each processed-article marker to its own changelog
    partition (the one its source record came from), so state survives a rebalance."""
    import asyncio
    import json

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from newsmon.core.kafka import client_kwargs, producer_kwargs

    settings = extractor_stack.settings
    raw = topics.topic_name(topics.ARTICLES_RAW, settings.topic_prefix)
    articles = [
        Article(
            id=f"part-{i}",
            source="test",
            title="t",
            published_at=T0,
            body=f"About {10 + i} aid trucks entered Gaza on Sunday, the UN said.",
            ingested_at=T0,
        )
        for i in range(24)
    ]

    async def produce() -> dict[str, int]:
        producer = AIOKafkaProducer(**producer_kwargs(settings))
        await producer.start()
        try:
            sent = [
                await producer.send(raw, a.model_dump_json().encode(), key=a.id.encode())
                for a in articles
            ]
            return {a.id: (await f).partition for a, f in zip(articles, sent, strict=True)}
        finally:
            await producer.stop()

    source_partition = asyncio.run(produce())
    assert len(set(source_partition.values())) > 1, "the articles should span partitions"
    _wait_for(settings, topics.ENTITIES, len(articles))
    changelog = f"{settings.topic_prefix}newsmon-extractor-processed-articles-changelog"

    async def markers() -> dict[str, int]:
        consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(changelog, p) for p in range(topics.PARTITIONS)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            found: dict[str, int] = {}

            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in tps])

            while await behind():
                for tp, recs in (await consumer.getmany(timeout_ms=2000)).items():
                    for r in recs:
                        found[json.loads(r.key)] = tp.partition  # changelog keys are JSON
            return found
        finally:
            await consumer.stop()

    deadline = time.monotonic() + 60
    found = asyncio.run(markers())
    while not set(source_partition) <= set(found) and time.monotonic() < deadline:
        time.sleep(1.0)
        found = asyncio.run(markers())
    assert {k: found.get(k) for k in source_partition} == source_partition
