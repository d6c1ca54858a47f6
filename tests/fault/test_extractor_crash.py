"""Fault 1: the extractor is killed with SIGKILL in the middle of a replay and restarted."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from newsmon.core import topics
from newsmon.core.config import Settings
from tests.fault.articles import jsonl, short_articles
from tests.fault.support import (
    FaultStack,
    alert_ids,
    by_article,
    duplicates,
    processed_markers,
    settle,
    topic_size,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.fault, pytest.mark.slow]

ARTICLES = 300


def test_extractor_kill_mid_replay_loses_no_article_and_doubles_no_alert(
    contract_topics: Settings,
    stacks: Callable[[Settings], FaultStack],
    tmp_path: Path,
    fast_group_timeouts: dict[str, str],
    figures: dict[str, Any],
) -> None:
    """kill -9 of the extractor mid-replay: every article's results appear, no alert id twice."""
    articles = short_articles(ARTICLES, seed=1)
    path = jsonl(articles, tmp_path / "articles.jsonl")
    stack = stacks(contract_topics)
    stack.start("extractor", "tracker", "alerter")

    # Paced so that the replay is still publishing while the extractor dies.
    t0 = time.monotonic()
    replay = stack.replay_in_background(str(path), "--rate", "25")
    try:
        wait_until(
            f"the extractor to be {ARTICLES // 5} articles into the replay",
            lambda: topic_size(stack.settings, topics.ENTITIES) >= ARTICLES // 5,
            timeout=120,
            interval=0.2,
        )
        done_at_kill = topic_size(stack.settings, topics.ENTITIES)
        replay_running = replay.poll() is None
        old = stack.kill("extractor")
        killed_at = time.monotonic() - t0
        assert done_at_kill < ARTICLES, "the kill came after the extractor had finished"
        stack.start("extractor")
        assert stack.pid("extractor") != old
        restarted_in = time.monotonic() - t0 - killed_at
        out, _ = replay.communicate(timeout=120)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait()
    assert replay.returncode == 0, out
    settle_s = settle(stack.settings, ("extractor", "tracker", "alerter"), 180, stack=stack)

    entities = by_article(stack.read(topics.ENTITIES))
    observations = by_article(stack.read(topics.OBSERVATIONS))
    events = by_article(stack.read(topics.EVENTS))
    alerts = alert_ids(stack.read(topics.ALERTS))
    dlq = [d for d in stack.read(topics.ARTICLES_DLQ) if d.stage == "extractor"]
    ids = {a.id for a in articles}
    missing = {
        name: sorted(ids - set(got))
        for name, got in (
            ("entities", entities),
            ("observations", observations),
            ("events", events),
        )
    }
    figures.update(
        articles=ARTICLES,
        entities_records_at_kill=done_at_kill,
        replay_still_running_at_kill=replay_running,
        killed_after_s=round(killed_at, 1),
        session_timeout_s=float(fast_group_timeouts["BROKER_SESSION_TIMEOUT"]),
        restart_healthy_s=round(restarted_in, 1),
        settle_after_replay_s=round(settle_s, 1),
        articles_extracted_twice=sum(1 for r in entities.values() if len(r) > 1),
        missing={k: len(v) for k, v in missing.items()},
        missing_but_marked_processed=sorted(
            set(missing["entities"]) & set(processed_markers(stack.settings))
        ),
        alerts=sum(alerts.values()),
        duplicate_alerts=duplicates(alerts),
        dead_letters=len(dlq),
    )

    for name, lost in missing.items():
        assert not lost, f"{len(lost)} article(s) have no record on news.{name}: {lost[:10]}"
    # At-least-once: a redelivered article may be extracted again, but always to the same result.
    for aid, recs in entities.items():
        assert len({tuple(e.id for e in r.entities) for r in recs}) == 1, aid
    assert alerts, "no alert at all: the pipeline did not reach the alerter"
    assert not duplicates(alerts), f"alert ids published more than once: {duplicates(alerts)}"
    assert not dlq, f"valid articles went to the DLQ: {[(d.article_id, d.reason) for d in dlq]}"
