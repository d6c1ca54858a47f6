"""Fault 3: the broker stops cleanly, and later dies with SIGKILL, in the middle of the stream;
it comes back on the same log dir and the services carry on by themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.watchdog import PACE_INJECT_ENV
from newsmon.ops import broker
from tests.fault.articles import jsonl, pinned, short_articles
from tests.fault.support import (
    FaultStack,
    actor_state,
    alert_ids,
    by_article,
    differences,
    duplicates,
    series_state,
    settle,
    table_state,
    topic_size,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.fault, pytest.mark.slow]

ARTICLES = 80
SERVICES = ("extractor", "tracker", "alerter")
DOWN_S = 8.0  # how long the broker stays away each time
PACE_S = 0.3  # the faulty extractor's wait after each article


def _results(stack: FaultStack) -> dict[str, Any]:
    def per_article(
        spec: topics.TopicSpec, ids: Callable[[Any], tuple[Any, ...]]
    ) -> dict[str, Any]:
        return {aid: {ids(r) for r in recs} for aid, recs in by_article(stack.read(spec)).items()}

    return {
        "entities": per_article(
            topics.ENTITIES,
            lambda r: tuple(
                (e.id, tuple((m.start, m.end) for m in e.mentions)) for e in r.entities
            ),
        ),
        "observations": per_article(
            topics.OBSERVATIONS, lambda r: tuple((o.id, o.value) for o in r.observations)
        ),
        "events": per_article(topics.EVENTS, lambda r: tuple((e.id, e.cameo) for e in r.events)),
        "series": series_state(stack.read(topics.METRICS)),
        "actors": actor_state(table_state(stack.settings, "tracker", "actors")),
        "alerts": alert_ids(stack.read(topics.ALERTS)),
    }


def test_broker_stop_and_kill_mid_stream_services_recover_with_same_results(
    kafka_settings: Callable[..., Settings],
    private_broker: Callable[..., Settings],
    topic_prefix: str,
    stacks: Callable[[Settings], FaultStack],
    tmp_path: Path,
    figures: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Broker stop and kill -9 mid-stream: services reconnect alone; results equal a steady run."""
    # One raw partition: every key downstream sees one fixed order, so the two runs must agree
    # alert for alert (see articles.pinned).
    articles = pinned(short_articles(ARTICLES, seed=3), partition=0, partitions=topics.PARTITIONS)
    first = jsonl(articles[: ARTICLES // 2], tmp_path / "first.jsonl")
    second = jsonl(articles[ARTICLES // 2 :], tmp_path / "second.jsonl")
    broker_settings: Settings = private_broker.broker_settings  # type: ignore[attr-defined]

    steady = stacks(kafka_settings(topic_prefix=f"{topic_prefix}steady.", state_dir=tmp_path / "a"))
    faulty = stacks(private_broker(state_dir=tmp_path / "b"))
    from newsmon.ops.topics import ensure_topics_sync

    ensure_topics_sync(steady.settings)
    steady.start(*SERVICES)
    # The faulty stack's extractor takes one article at a time, PACE_S apart: a fast machine
    # would otherwise extract a whole half in one batch before the broker goes, and the fault
    # would hit an idle pipeline.
    with monkeypatch.context() as env:
        env.setenv(PACE_INJECT_ENV, str(PACE_S))
        faulty.start("extractor")
    faulty.start("tracker", "alerter")
    pids = {svc: faulty.pid(svc) for svc in SERVICES}
    for path in (first, second):
        res = steady.replay(str(path), "--as-fast-as-possible")
        assert res.returncode == 0, res.stdout + res.stderr

    def bounce(kill: bool, after_records: int, until: int) -> dict[str, float]:
        """Stop (or kill) the broker once the extractor is past `after_records`; restart it.

        `until` is the entities count once the replayed half is all extracted: the broker
        must go before it is reached, and the extractor must reach it after the restart.
        """
        wait_until(
            f"{after_records} extracted articles before the broker goes",
            lambda: topic_size(faulty.settings, topics.ENTITIES) >= after_records,
            timeout=180,
        )
        at = topic_size(faulty.settings, topics.ENTITIES)
        assert at < until, f"the extractor was done ({at} of {until}) before the broker went"
        t0 = time.monotonic()
        assert broker.stop(broker_settings, timeout=60, kill=kill), "the private broker was down"
        stopped = time.monotonic() - t0
        time.sleep(DOWN_S)
        t1 = time.monotonic()
        broker.start(broker_settings, quiet=True)
        started = time.monotonic() - t1
        t2 = time.monotonic()
        wait_until(
            f"the extractor to finish the {until} articles after the broker came back",
            lambda: topic_size(faulty.settings, topics.ENTITIES) >= until,
            timeout=180,
        )
        return {
            "entities_at_stop": at,
            "stop_s": round(stopped, 1),
            "broker_start_s": round(started, 1),
            "half_done_after_restart_s": round(time.monotonic() - t2, 1),
        }

    res = faulty.replay(str(first), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    figures.update(articles=ARTICLES, broker_down_s=DOWN_S, extractor_pace_s=PACE_S)
    figures["clean_stop"] = bounce(kill=False, after_records=5, until=ARTICLES // 2)
    res = faulty.replay(str(second), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    figures["kill_9"] = bounce(kill=True, after_records=ARTICLES // 2 + 5, until=ARTICLES)

    settle_s = settle(faulty.settings, SERVICES, 180, stack=faulty)
    settle(steady.settings, SERVICES, 180, stack=steady)
    survived = {svc: faulty.pid(svc) == pids[svc] for svc in SERVICES}
    a, b = _results(steady), _results(faulty)
    ids = {x.id for x in articles}
    figures.update(
        settle_after_last_restart_s=round(settle_s, 1),
        services_survived=survived,
        alerts=sum(b["alerts"].values()),
        series=len(b["series"]),
        actors=len(b["actors"]),
        differences={
            key: differences(a[key], b[key])
            for key in ("entities", "observations", "events", "series", "actors")
        },
        lost_alerts=sorted(set(a["alerts"]) - set(b["alerts"]))[:10],
        extra_alerts=sorted(set(b["alerts"]) - set(a["alerts"]))[:10],
    )

    for svc, ok in survived.items():
        assert ok, f"{svc} did not survive the broker restarts:\n{faulty.log_tail(svc)}"
    for key in ("entities", "observations", "events"):
        assert set(a[key]) == ids, f"uninterrupted run: articles missing on news.{key}"
        assert set(b[key]) == ids, (
            f"articles missing on news.{key} after the broker restarts: {sorted(ids - set(b[key]))}"
        )
    for key in ("entities", "observations", "events", "series", "actors"):
        assert b[key] == a[key], (
            f"{key} differ from the uninterrupted run: {figures['differences'][key]}"
        )
    for name, res_ in (("uninterrupted", a), ("broker-restarted", b)):
        twice = duplicates(res_["alerts"])
        assert not twice, f"{name}: alert ids published twice: {twice}"
    assert set(b["alerts"]) == set(a["alerts"]), (
        f"lost: {figures['lost_alerts']}, extra: {figures['extra_alerts']}"
    )
