"""Fault 2: tracker and alerter killed with SIGKILL mid-stream; their tables come back from the
changelogs and the results equal those of an uninterrupted run."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.ops.topics import ensure_topics
from tests.fault import facts
from tests.fault.support import (
    FaultStack,
    Publisher,
    actor_state,
    alert_ids,
    differences,
    duplicates,
    series_state,
    settle,
    table_state,
    topic_size,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.fault, pytest.mark.slow]

ARTICLES = 150
RATE = 60.0  # records per second: the stream lasts ~7.5 s, long enough to die in the middle


def _results(stack: FaultStack) -> dict[str, Any]:
    return {
        "series": series_state(stack.read(topics.METRICS)),
        "actors": actor_state(table_state(stack.settings, "tracker", "actors")),
        "alerts": alert_ids(stack.read(topics.ALERTS)),
    }


# Before the commit guard (core/faustapp.py) Faust could commit an offset before the changelog
# of its state was written, and about one run in three lost an article's state. One rerun is
# kept as a safety net and pytest reports it; a second failure fails the run.
@pytest.mark.flaky(reruns=1)
def test_tracker_and_alerter_kill_recovers_state_and_alerts_exactly_once(
    kafka_settings: Callable[..., Settings],
    topic_prefix: str,
    stacks: Callable[[Settings], FaultStack],
    tmp_path: Any,
    fast_group_timeouts: dict[str, str],
    figures: dict[str, Any],
) -> None:
    """kill -9 tracker+alerter mid-stream: series, actors and alert ids equal an unbroken run."""
    import asyncio

    stream = [(f.spec, f.key, f.value) for f in facts.stream(ARTICLES)]
    expected = facts.expected_alerts(ARTICLES)
    runs = {}
    for name in ("steady", "killed"):
        settings = kafka_settings(
            topic_prefix=f"{topic_prefix}{name}.",
            state_dir=tmp_path / name,
            rules_path=facts.RULES,
        )
        asyncio.run(ensure_topics(settings))
        runs[name] = stacks(settings)
    steady, killed = runs["steady"], runs["killed"]
    for stack in (steady, killed):
        stack.start("tracker", "alerter")

    Publisher(steady.settings, stream, rate=10_000).start()
    feed = Publisher(killed.settings, stream, rate=RATE)
    feed.start()
    # Die with state in the tables, alerts out, and more input on its way.
    wait_until(
        "a third of the stream and the first alert in the run to be killed",
        lambda: feed.sent >= len(stream) // 3 and topic_size(killed.settings, topics.ALERTS),
        timeout=60,
        interval=0.2,
    )
    sent_at_kill = feed.sent
    for svc in ("tracker", "alerter"):
        killed.kill(svc)
    assert sent_at_kill < len(stream), "the kill came after the whole stream was published"
    # The tracker comes back with no local tables: everything must come from the changelogs.
    # The alerter keeps its RocksDB files as a crash left them.
    tables = killed.settings.service_dir("tracker") / "tables"
    shutil.rmtree(tables, ignore_errors=True)
    tables.mkdir(parents=True)
    time.sleep(2)
    t_restart = time.monotonic()
    killed.start("tracker", "alerter")
    restart_s = time.monotonic() - t_restart
    feed.finish(120)

    settle_s = {
        name: settle(s.settings, ("tracker", "alerter"), 120, stack=s) for name, s in runs.items()
    }
    a, b = _results(steady), _results(killed)
    runs_ = {"uninterrupted": a, "killed": b}

    kinds = {name: Counter(k.split("-", 1)[0] for k in r["alerts"]) for name, r in runs_.items()}
    figures.update(
        input_records=len(stream),
        records_published_at_kill=sent_at_kill,
        session_timeout_s=float(fast_group_timeouts["BROKER_SESSION_TIMEOUT"]),
        restart_healthy_s=round(restart_s, 1),
        settle_s={k: round(v, 1) for k, v in settle_s.items()},
        series=len(b["series"]),
        actors=len(b["actors"]),
        expected_alerts=dict(expected),
        alerts_by_kind={k: dict(v) for k, v in kinds.items()},
        series_differences=differences(a["series"], b["series"]),
        actor_differences=differences(a["actors"], b["actors"]),
        lost_alerts=sorted(set(a["alerts"]) - set(b["alerts"]))[:10],
        extra_alerts=sorted(set(b["alerts"]) - set(a["alerts"]))[:10],
    )

    if figures["actor_differences"]:
        # Which table is ahead: the per-article markers, or the counts they guard?
        markers = table_state(killed.settings, "tracker", "actor-articles")
        figures["actor_article_markers"] = {
            actor: sum(1 for counted in markers.values() if actor in counted)
            for actor in figures["actor_differences"]
        }

    for name, res in runs_.items():
        twice = duplicates(res["alerts"])
        assert not twice, f"{name} run published alert ids twice: {twice}"
        assert kinds[name] == expected, f"{name} run: alerts {dict(kinds[name])} != {expected}"
    assert a["series"], "no series at all"
    assert b["series"] == a["series"], (
        f"series differ from the uninterrupted run: {figures['series_differences']}"
    )
    assert b["actors"] == a["actors"], (
        f"actor tables differ after recovery: {figures['actor_differences']}"
    )
    assert set(b["alerts"]) == set(a["alerts"]), (
        f"lost: {figures['lost_alerts']}, extra: {figures['extra_alerts']}"
    )
