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
