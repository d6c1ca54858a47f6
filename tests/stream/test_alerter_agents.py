"""The alerter's Faust agents in-process (`test_context`, `memory://` tables, no broker)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from tests.stream.test_tracker_agents import seed_entities, seed_events, seed_observations

from newsmon.alerter.main import AlerterService
from newsmon.alerter.rules import RulesError
from newsmon.core import serde, topics
from newsmon.core.config import Settings
from newsmon.core.models import Alert
from newsmon.tracker.actors import ActorRegistry
from newsmon.tracker.series import SeriesTracker


class Harness:
    """Feeds input records to an evaluating agent, then its candidates to the gate."""

    def __init__(self, **settings: Any) -> None:
        # No linger: a test context signals a record as handled before a lingering batch runs.
        cfg = Settings(table_store="memory", batch_linger_ms=0, state_commit_ms=0, **settings)
        self.svc = AlerterService(cfg, store="memory://")
        self.out: list[tuple[str, str, bytes]] = []

        async def capture(topic: Any, key: str, value: bytes) -> None:
            self.out.append((topic.get_topic_name(), key, value))

        self.svc.emit = capture

    async def feed(self, agent_: Any, *records: tuple[str, bytes]) -> list[Alert]:
        start = len(self.out)
        async with agent_.test_context() as agent:
            for key, value in records:
                await agent.put(key=key.encode(), value=value)
        candidates = [r for r in self.out[start:] if r[0].endswith("newsmon-alerter-candidates")]
        mark = len(self.out)
        async with self.svc.gate_agent.test_context() as gate:
            for _, key, value in candidates:
                await gate.put(key=key.encode(), value=value)
        published = [r for r in self.out[mark:] if r[0] == topics.ALERTS.name]
        assert all(k == Alert.model_validate_json(v).id for _, k, v in published)  # keyed by id
        return [Alert.model_validate_json(v) for _, _, v in published]


def seed_metric_records() -> list[tuple[str, bytes]]:
    updates = SeriesTracker({}).process(seed_observations())
    return [(u.series_id, serde.encode(u)) for u in updates]


async def test_seed_metrics_give_change_and_threshold_alerts() -> None:
    """The seed's series gives the -70% change alert and the below-100 threshold alert."""
    h = Harness()
    alerts = await h.feed(h.svc.metrics_agent, *seed_metric_records())
    assert sorted((a.kind, a.rule) for a in alerts) == [
        ("change", "aid-fuel-drop"),
        ("threshold", "aid-trucks-low"),
    ]
    change = next(a for a in alerts if a.kind == "change")
    assert (
        change.title == "Aid trucks entering Gaza fell 70% (100 → ~30) between 10 and 13 Nov 2023"
    )


async def test_alert_metrics_and_latency_are_recorded() -> None:
    """Publishing counts newsmon_alerts_total and observes the end-to-end latency histogram."""
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    alerts_before = sample(
        "newsmon_alerts_total", kind="change", severity="critical", status="firing"
    )
    latency_before = sample("newsmon_pipeline_latency_seconds_count", stage="alerter")
    h = Harness()
    alerts = await h.feed(h.svc.metrics_agent, *seed_metric_records())
    assert (
        sample("newsmon_alerts_total", kind="change", severity="critical", status="firing")
        == alerts_before + 1
    )
    assert sample(
        "newsmon_pipeline_latency_seconds_count", stage="alerter"
    ) == latency_before + len(alerts)


async def test_replayed_inputs_add_no_alert() -> None:
    """Feeding the same tracker output and events again publishes nothing new."""
    h = Harness()
    events = [("seed-1", serde.encode(seed_events()))]
    first = await h.feed(h.svc.events_agent, *events)
    assert [(a.kind, a.cameo, a.subject) for a in first] == [
        ("diplomatic_action", "161", "turkey>israel")
    ]
    with capture_logs() as logs:
        assert await h.feed(h.svc.events_agent, *events) == []
    assert await h.feed(h.svc.metrics_agent, *seed_metric_records()) != []
    assert await h.feed(h.svc.metrics_agent, *seed_metric_records()) == []
    assert not any(e["event"] == "alert_published" for e in logs)


async def test_new_actor_alerts_once_per_actor() -> None:
    """First-seen records of a person and a state give one new-actor alert each."""
    h = Harness()
    recs = ActorRegistry({}, {}).process(seed_entities())
    records = [(r.actor.id, serde.encode(r)) for r in recs]
    alerts = await h.feed(h.svc.actors_agent, *records, *records)
    assert sorted((a.rule, a.subject) for a in alerts) == [
        ("new-person-or-organisation", "antony-blinken"),
        ("new-state", "turkey"),
    ]


async def test_invalid_input_goes_to_dlq() -> None:
    """A record that is not a MetricUpdate becomes a dead letter, not a crash."""
    h = Harness()
    assert await h.feed(h.svc.metrics_agent, ("x", b"{}")) == []
    assert [t for t, _, _ in h.out] == [topics.ARTICLES_DLQ.name]


def test_bad_rules_file_stops_the_start(tmp_path: Path) -> None:
    """The alerter does not start with a wrong rules file; the error names rule and field."""
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: drop, kind: change, direction: sideways, min_pct: 50}\n")
    with pytest.raises(RulesError, match="rule 'drop' \\(#1\\), field 'direction'"):
        AlerterService(Settings(table_store="memory", rules_path=bad), store="memory://")


async def test_one_batch_of_repeated_candidates_publishes_each_alert_once() -> None:
    """Candidates gated in one batch see each other's staged state: a repeat is dropped."""
    h = Harness()
    async with h.svc.events_agent.test_context() as agent:
        await agent.put(key=b"seed-1", value=serde.encode(seed_events()))
    candidates = [r for r in h.out if r[0].endswith("newsmon-alerter-candidates")]
    mark = len(h.out)
    async with h.svc.gate_agent.test_context() as gate:
        for _, key, value in candidates * 3:
            await gate.put(key=key.encode(), value=value, wait=False)
        await asyncio.sleep(0.1)
    published = [r for r in h.out[mark:] if r[0] == topics.ALERTS.name]
    assert len(candidates) == len(published) == 1
    assert published[0][1] in dict(h.svc.emitted)
