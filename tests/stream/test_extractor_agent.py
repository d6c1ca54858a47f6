"""The extractor's Faust agent in-process (`test_context`, `memory://` table, no broker)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.models import (
    Article,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    DeadLetter,
)
from newsmon.extractor import metrics as m
from newsmon.extractor.main import ExtractorService
from newsmon.extractor.pipeline import Extractor

T0 = dt.datetime(2023, 11, 13, tzinfo=dt.UTC)
BODY = (
    "On Saturday morning, Turkey withdrew its ambassador from Israel. "
    "About 30 aid trucks entered Gaza on Friday, the UN said."
)


def raw_article(article_id: str = "art-1", body: str = BODY) -> bytes:
    art = Article(
        id=article_id, source="test", title="t", published_at=T0, body=body, ingested_at=T0
    )
    return art.model_dump_json().encode()


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor.from_settings(Settings())


class Harness:
    """The service with `emit` captured into a list of (topic, key, value)."""

    def __init__(self, extractor: Extractor, **settings: Any) -> None:
        cfg = Settings(table_store="memory", extractor_processes=0, **settings)
        self.svc = ExtractorService(cfg, extractor=extractor, store="memory://")
        self.out: list[tuple[str, str, bytes]] = []

        async def capture(topic: Any, key: str, value: bytes) -> None:
            self.out.append((topic.get_topic_name(), key, value))

        self.svc.emit = capture
        # the agent takes batches: count the records it has finished with
        self.done = 0
        process = self.svc.process

        async def counted(records: list[tuple[Any, bytes]], events: Any = None) -> None:
            await process(records, events)
            self.done += len(records)

        self.svc.process = counted  # type: ignore[method-assign]

    async def feed(self, *records: tuple[bytes, bytes]) -> list[tuple[str, str, bytes]]:
        start, target = len(self.out), self.done + len(records)
        async with self.svc.agent.test_context() as agent:
            for key, value in records:
                await agent.put(key=key, value=value, wait=False)
            for _ in range(600):
                if self.done >= target:
                    break
                await asyncio.sleep(0.05)
        return self.out[start:]


@pytest.fixture
def harness(extractor: Extractor) -> Harness:
    return Harness(extractor)


async def test_one_article_gives_three_records(harness: Harness) -> None:
    """An article becomes one record on each of news.entities/observations/events, keyed by id."""
    out = await harness.feed((b"art-1", raw_article()))
    assert [(t, k) for t, k, _ in out] == [
        (topics.ENTITIES.name, "art-1"),
        (topics.OBSERVATIONS.name, "art-1"),
        (topics.EVENTS.name, "art-1"),
    ]
    ents = ArticleEntities.model_validate_json(out[0][2])
    obs = ArticleObservations.model_validate_json(out[1][2])
    evs = ArticleEvents.model_validate_json(out[2][2])
    assert {"turkey", "israel", "gaza"} <= {e.id for e in ents.entities}
    assert [(o.metric, o.value) for o in obs.observations] == [("aid_trucks_entered", 30)]
    assert [(e.actor.id, e.target.id if e.target else None, e.cameo) for e in evs.events] == [
        ("turkey", "israel", "161")
    ]


async def test_empty_extraction_still_publishes_all_three(harness: Harness) -> None:
    """An article with nothing in it still gets its three (empty) records."""
    out = await harness.feed((b"empty", raw_article("empty", "It rained all day.")))
    assert [t for t, _, _ in out] == [
        topics.ENTITIES.name,
        topics.OBSERVATIONS.name,
        topics.EVENTS.name,
    ]
    assert ArticleEvents.model_validate_json(out[2][2]).events == []


async def test_already_processed_article_is_skipped(harness: Harness) -> None:
    """The same article id a second time produces nothing (the processed table remembers it)."""
    before = m.ARTICLES_SKIPPED._value.get()
    first = await harness.feed((b"dup", raw_article("dup")))
    second = await harness.feed((b"dup", raw_article("dup")))
    assert len(first) == 3 and second == []
    assert m.ARTICLES_SKIPPED._value.get() == before + 1


async def test_invalid_article_goes_to_dlq_and_agent_keeps_running(harness: Harness) -> None:
    """A record that is not an Article becomes a dead letter; the next article is processed."""
    with capture_logs() as logs:
        out = await harness.feed((b"bad", b'{"id": "bad"}'), (b"ok", raw_article("ok")))
    topics_out = [t for t, _, _ in out]
    assert topics_out[0] == topics.ARTICLES_DLQ.name
    letter = DeadLetter.model_validate_json(out[0][2])
    assert (letter.stage, letter.reason) == ("extractor", "invalid_article")
    assert topics_out[1:] == [topics.ENTITIES.name, topics.OBSERVATIONS.name, topics.EVENTS.name]
    assert any(e["event"] == "article_rejected" and e["reason"] == "invalid_article" for e in logs)


async def test_extraction_failure_goes_to_dlq(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An article that makes the extractor raise is dead-lettered with the error; others pass."""
    real = harness.svc.runner._in_thread

    def flaky(articles: list[Article]) -> Any:
        if any(a.id == "boom" for a in articles):
            raise RuntimeError("spaCy exploded")
        return real(articles)

    monkeypatch.setattr(harness.svc.runner, "_in_thread", flaky)
    out = await harness.feed((b"boom", raw_article("boom")), (b"fine", raw_article("fine")))
    letters = [
        DeadLetter.model_validate_json(v) for t, _, v in out if t == topics.ARTICLES_DLQ.name
    ]
    assert [(d.reason, d.article_id) for d in letters] == [("extraction_failed", "boom")]
    assert "spaCy exploded" in letters[0].detail
    assert [k for t, k, _ in out if t == topics.EVENTS.name] == ["fine"]


async def test_logs_bind_article_id(harness: Harness) -> None:
    """Log lines written while an article is processed carry its id."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await harness.feed((b"logged", raw_article("logged")))
    done = [e for e in logs if e["event"] == "article_extracted"]
    assert done and done[0]["article_id"] == "logged"
