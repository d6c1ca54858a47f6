"""Fault 6: a soak — N generated articles through the whole pipeline; peak memory of the
extractor and the tracker stays under a documented bound and every consumer group catches up.

CI runs a small N (`NEWSMON_SOAK_ARTICLES`, default 250); `make soak` runs 10,000.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench.generator import generate

from newsmon.core import topics
from newsmon.core.config import SERVICES, Settings
from tests.fault.articles import jsonl
from tests.fault.support import (
    FaultStack,
    MemorySampler,
    alert_ids,
    by_article,
    duplicates,
    pipeline_lag,
    settle,
)

ARTICLES = int(os.environ.get("NEWSMON_SOAK_ARTICLES", "250"))
#: Peak RSS bounds in MiB (documented in docs/guarantees.md). The extractor's figure is the
#: sum of the peaks of all its processes (the service and its spaCy worker); the tracker runs
#: in one process.
EXTRACTOR_BOUND_MIB = 1024
TRACKER_BOUND_MIB = 512
#: Seconds allowed per article for the pipeline to drain after the replay (2 cores, shared).
DRAIN_S_PER_ARTICLE = 0.5

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.fault,
    pytest.mark.slow,
    pytest.mark.timeout(600 + int(ARTICLES * (DRAIN_S_PER_ARTICLE + 0.1))),
]


def test_soak_memory_stays_bounded_and_lag_returns_to_zero(
    contract_topics: Settings,
    stacks: Callable[[Settings], FaultStack],
    tmp_path: Path,
    figures: dict[str, Any],
) -> None:
    """N articles through all four services: every one extracted, RSS under bound, lag 0."""
    articles = generate(ARTICLES, seed=6)
    path = jsonl(articles, tmp_path / "soak.jsonl")
    stack = stacks(contract_topics)
    stack.start(*SERVICES)
    words = sum(len(a.body.split()) for a in articles)

    with MemorySampler(stack, ("extractor", "tracker", "alerter", "ingester")) as memory:
        t0 = time.monotonic()
        res = stack.replay(str(path), "--as-fast-as-possible")
        replay_s = time.monotonic() - t0
        assert res.returncode == 0, res.stdout + res.stderr
        drained_s = settle(
            stack.settings,
            ("extractor", "tracker", "alerter"),
            60 + ARTICLES * DRAIN_S_PER_ARTICLE,
            stack=stack,
        )
        total_s = time.monotonic() - t0
        lag = stack.drain(timeout=60)  # the operators' view (`newsmon` drain) agrees
        memory.sample()

    entities = by_article(stack.read(topics.ENTITIES))
    missing = sorted({a.id for a in articles} - set(entities))
    alerts = alert_ids(stack.read(topics.ALERTS))
    mem = {
        svc: {
            "main_vmhwm_mib": memory.main_hwm_mib(svc),
            "all_processes_vmhwm_mib": memory.session_hwm_mib(svc),
            "alive_processes_vmhwm_mib": memory.alive_hwm_mib(svc),
            "sampled_peak_total_rss_mib": memory.peak_total_mib(svc),
            "processes": len(memory.hwm_kib.get(svc, {})),
        }
        for svc in ("extractor", "tracker", "alerter", "ingester")
    }
    figures.update(
        articles=ARTICLES,
        words=words,
        replay_s=round(replay_s, 1),
        pipeline_done_s=round(total_s, 1),
        articles_per_s=round(ARTICLES / total_s, 1),
        drained_after_replay_s=round(drained_s, 1),
        alerts=sum(alerts.values()),
        memory_mib=mem,
        rss_timeline_mib=memory.timeline,
        bounds_mib={"extractor": EXTRACTOR_BOUND_MIB, "tracker": TRACKER_BOUND_MIB},
    )
    print(f"\nsoak figures: {figures}")

    assert not missing, f"{len(missing)} article(s) never extracted: {missing[:10]}"
    assert all(v == 0 for v in lag.values()), lag
    assert all(v == 0 for v in pipeline_lag(stack.settings).values())
    assert not duplicates(alerts), duplicates(alerts)
    # Processes that never ran together are not added up (an in-place restart replaces the
    # spaCy worker: the old one has exited before the new one starts).
    ext = mem["extractor"]["alive_processes_vmhwm_mib"]
    trk = mem["tracker"]["alive_processes_vmhwm_mib"]
    assert ext <= EXTRACTOR_BOUND_MIB, f"extractor peak RSS {ext} MiB > {EXTRACTOR_BOUND_MIB} MiB"
    assert trk <= TRACKER_BOUND_MIB, f"tracker peak RSS {trk} MiB > {TRACKER_BOUND_MIB} MiB"
