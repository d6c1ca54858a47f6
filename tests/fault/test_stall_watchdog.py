"""The stall watchdog: an agent that stops reading while records wait on its partitions is
found within the limit, reported on /health, and the service restarts itself in place (same
pid) and finishes the work."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.procinfo import process_stats
from newsmon.core.watchdog import STALL_INJECT_ENV
from tests.fault.articles import jsonl, short_articles
from tests.fault.support import FaultStack, by_article, settle, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.fault, pytest.mark.slow]

ARTICLES = 40
STALL_AFTER = 10
TIMEOUT_S = 6.0


def test_stalled_extractor_is_found_reported_and_restarted_in_place(
    kafka_settings: Callable[..., Settings],
    stacks: Callable[[Settings], FaultStack],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    figures: dict[str, Any],
) -> None:
    from newsmon.ops.topics import ensure_topics

    settings = kafka_settings(stall_timeout_s=TIMEOUT_S)
    asyncio.run(ensure_topics(settings))
    # The extractor's agent hangs after STALL_AFTER records, in its first life only.
    monkeypatch.setenv(STALL_INJECT_ENV, str(STALL_AFTER))
    stack = stacks(settings)
    stack.start("extractor")
    pid = stack.pid("extractor")
    articles = short_articles(ARTICLES, seed=11)
    out = stack.replay(str(jsonl(articles, tmp_path / "a.jsonl")), "--as-fast-as-possible")
    assert out.returncode == 0, out.stdout + out.stderr
    t0 = time.monotonic()
    # The first life's children (its spaCy worker pool), to check none outlives the exec.
    first_life = wait_until(
        "the first life's spaCy worker", lambda: _live_children(pid), timeout=60
    )

    def stalled_seen() -> dict[str, Any] | None:
        try:
            h = stack.health("extractor")
        except Exception:  # restarting: the page is briefly down
            return None
        return h if h.get("status") == "stalled" or h.get("restarts", 0) >= 1 else None

    seen = wait_until("the watchdog to report the stall or restart", stalled_seen, timeout=90)
    settle_s = settle(settings, ("extractor",), 180, stack=stack)
    health = stack.health("extractor")
    log = stack.log("extractor")
    events = [json.loads(line).get("event") for line in log.splitlines() if line.startswith("{")]
    entities = by_article(stack.read(topics.ENTITIES))
    missing = sorted({a.id for a in articles} - set(entities))
    figures.update(
        articles=ARTICLES,
        stall_after_records=STALL_AFTER,
        stall_timeout_s=TIMEOUT_S,
        first_report_after_s=round(time.monotonic() - t0, 1),
        done_after_s=round(settle_s, 1),
        restarts=health.get("restarts"),
        missing=len(missing),
    )
    assert "fault_injected" in events
    assert "stream_stalled" in events, "the stall was not reported in the log"
    assert "restarting_in_place" in events
    assert seen["status"] == "stalled" or seen["restarts"] >= 1
    assert stack.pid("extractor") == pid, "the restart must keep the pid"
    assert health["restarts"] == 1
    assert health["status"] == "ok"
    assert not missing, f"{len(missing)} article(s) never extracted after the restart"
    # The first life's spaCy worker did not survive the exec (it would never be told to stop).
    left = set(first_life) & set(_live_children(pid))
    figures.update(children_first_life=len(first_life), children_left=len(left))
    assert not left, f"children of the first life still running after the restart: {left}"


def _live_children(pid: int | None) -> list[int]:
    return [p for p, f in process_stats() if int(f[1]) == pid and f[0] != "Z"]
