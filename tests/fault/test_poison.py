"""Fault 5: poison written straight to `news.articles.raw` (not through the ingester) ends in the
DLQ with a reason within a bounded time, and the next valid article is processed."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.models import Article, DeadLetter
from tests.fault.articles import short_articles
from tests.fault.support import FaultStack, by_article, wait_until
from tests.helpers import publish

pytestmark = [pytest.mark.kafka, pytest.mark.fault, pytest.mark.slow]

#: The per-article time limit the extractor runs with in this test.
TIME_LIMIT_S = 5.0
#: What "a bounded time" means here: the time limit plus room for a worker restart on 2 cores.
BOUND_S = TIME_LIMIT_S + 40.0

NOW = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


def _article(aid: str, body: str) -> bytes:
    """A record that passes the Article schema, with `body` as its text."""
    art = Article(
        id=aid, source="fault-test", title="Poison", published_at=NOW, body=body, ingested_at=NOW
    )
    return art.model_dump_json().encode()


def poisons() -> list[tuple[str, bytes]]:
    """(name, raw record value) of every kind of bad input tried."""
    wrong_types = {
        "id": 42,
        "source": ["x"],
        "title": None,
        "published_at": "yesterday",
        "body": {"text": "nested"},
        "ingested_at": "now",
    }
    return [
        ("invalid_json", b'{"id": "poison-1", "title": "unterminated'),
        ("json_not_an_object", b"[1, 2, 3]"),
        ("wrong_schema_unknown_fields", json.dumps({"hello": "world", "n": 1}).encode()),
        ("wrong_schema_types", json.dumps(wrong_types).encode()),
        ("binary_bytes", bytes(range(256)) * 64),
        ("deeply_nested_json", b"[" * 100_000 + b"]" * 100_000),
        ("body_5mb", _article("poison-body_5mb", "Aid trucks entered Gaza. " * 210_000)),
        ("very_long_token", _article("poison-very_long_token", "A" * 900_000)),
        (
            "nested_brackets_text",
            _article("poison-nested_brackets_text", "(" * 450_000 + ")" * 450_000),
        ),
        ("sentence_x100k", _article("poison-sentence_x100k", "We wait. " * 100_000)),
    ]


def test_poison_ends_in_the_dlq_with_a_reason_and_the_next_article_is_processed(
    kafka_settings: Callable[..., Settings],
    stacks: Callable[[Settings], FaultStack],
    figures: dict[str, Any],
) -> None:
    """Each poison → DLQ (stage extractor, a reason) within the bound; the next valid article
    gets its results; the extractor never restarts."""
    import asyncio

    from newsmon.ops.topics import ensure_topics

    settings = kafka_settings(extractor_timeout_s=TIME_LIMIT_S)
    asyncio.run(ensure_topics(settings))
    stack = stacks(settings)
    stack.start("extractor")
    pid = stack.pid("extractor")
    valid = short_articles(len(poisons()), seed=5)
    outcomes: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    stuck = False

    for (name, value), good in zip(poisons(), valid, strict=True):
        if stack.pid("extractor") != pid or stuck:
            # Keep a broken extractor from costing the bound for every remaining input.
            failures.append(f"{name}: not tried, the extractor had died or stopped processing")
            outcomes[name] = {"outcome": "not tried"}
            continue
        dlq_before = len(stack.read(topics.ARTICLES_DLQ))
        t0 = time.monotonic()
        publish(settings, topics.ARTICLES_RAW, value, key=f"poison-{name}")
        publish(settings, topics.ARTICLES_RAW, good, key=good.id)

        def dead_letters(before: int = dlq_before) -> list[DeadLetter]:
            return stack.read(topics.ARTICLES_DLQ)[before:]

        try:
            letters = wait_until(f"a dead letter for {name}", dead_letters, timeout=BOUND_S)
            dlq_s = time.monotonic() - t0
            wait_until(
                f"the valid article after {name}",
                lambda g=good: g.id in by_article(stack.read(topics.ENTITIES)),
                timeout=BOUND_S,
            )
            next_s = time.monotonic() - t0
        except AssertionError as exc:
            extracted = by_article(stack.read(topics.ENTITIES))
            fate = "extracted, not dead-lettered" if f"poison-{name}" in extracted else "lost"
            if good.id not in extracted:
                fate += "; the next valid article was not processed"
                stuck = True
            failures.append(f"{name}: {fate}: {exc}")
            outcomes[name] = {"outcome": fate, "error": str(exc)[:200]}
            continue
        letter = letters[0]
        outcomes[name] = {
            "bytes": len(value),
            "reason": letter.reason,
            "stage": letter.stage,
            "dlq_s": round(dlq_s, 1),
            "next_article_s": round(next_s, 1),
            "payload_truncated": letter.payload_truncated,
        }
        if letter.stage != "extractor" or not letter.reason or not letter.detail:
            failures.append(f"{name}: dead letter without stage/reason/detail: {letter!r}"[:300])
        if len(letters) != 1:
            failures.append(f"{name}: {len(letters)} dead letters for one poison record")

    figures.update(time_limit_s=TIME_LIMIT_S, bound_s=BOUND_S, outcomes=outcomes)
    assert stack.pid("extractor") == pid, (
        f"the extractor restarted or died on poison:\n{stack.log_tail('extractor')}"
    )
    assert stack.health("extractor").get("status") == "ok"
    assert not failures, (
        "\n".join(failures) + f"\n--- extractor log ---\n{stack.log_tail('extractor')}"
    )
