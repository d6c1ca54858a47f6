"""The tracker's Faust agents in-process (`test_context`, `memory://` tables, no broker)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import faust
import pytest
from structlog.testing import capture_logs

from newsmon.core import serde, topics
from newsmon.core.config import Settings
from newsmon.core.models import (
    ActorRecordAdapter,
    ActorRef,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    Entity,
    Event,
    Evidence,
    Mention,
    MetricUpdate,
    Observation,
)
from newsmon.tracker.main import TrackerService
from newsmon.tracker.series import route_observations

T0 = dt.datetime(2023, 11, 13, 9, tzinfo=dt.UTC)
EV = Evidence(
    text="declined from 100 on Friday to approximately 30 in subsequent days", start=5, end=70
)


def seed_observations(article_id: str = "seed-1") -> ArticleObservations:
    def obs(oid: str, value: float, day: int, approx: bool) -> Observation:
        return Observation(
            id=oid,
            metric="aid_trucks_entered",
            unit="truck",
            value=value,
            approximate=approx,
            as_of=dt.date(2023, 11, day),
            period="daily",
            location="gaza",
            raw=str(value),
            evidence=EV,
        )

    return ArticleObservations(
        article_id=article_id,
        source="guardian",
        published_at=T0,
        extracted_at=T0,
        ingested_at=T0,
        observations=[obs("o1", 100, 10, False), obs("o2", 30, 13, True)],
    )


def seed_entities(article_id: str = "seed-1") -> ArticleEntities:
    def ent(eid: str, name: str, type_: str, actor_type: str) -> Entity:
        return Entity(
            id=eid,
            name=name,
            type=type_,
            actor_type=actor_type,
            known=True,  # type: ignore[arg-type]
            mentions=[Mention(text=name, start=0, end=len(name))],
        )

    return ArticleEntities(
        article_id=article_id,
        source="guardian",
        published_at=T0,
        extracted_at=T0,
        entities=[
            ent("antony-blinken", "Antony Blinken", "PERSON", "person"),
            ent("turkey", "Turkey", "GPE", "state"),
        ],
    )


def seed_events(article_id: str = "seed-1") -> ArticleEvents:
    e = Event(
        id=f"{article_id}-e1",
        actor=ActorRef(id="turkey", name="Turkey"),
        target=ActorRef(id="israel", name="Israel"),
        action="withdrew its ambassador from",
        cameo="161",
        quad_class=4,
        goldstein=-4.0,
        date=dt.date(2023, 11, 11),
        evidence=Evidence(text="Turkey withdrew its ambassador from Israel", start=1, end=40),
    )
    return ArticleEvents(
        article_id=article_id, source="guardian", published_at=T0, extracted_at=T0, events=[e]
    )


class Harness:
    """Feeds records through the router agents and then the stateful agents, capturing output."""

    def __init__(self, state_commit_ms: float = 0) -> None:
        # No linger: a test context signals a record as handled before a lingering batch runs.
        # State written after every batch, unless a test holds it (`state_commit_ms`).
        self.svc = TrackerService(
            Settings(table_store="memory", batch_linger_ms=0, state_commit_ms=state_commit_ms),
            store="memory://",
        )
        self.out: list[tuple[str, str, bytes]] = []

        async def capture(topic: Any, key: str, value: bytes) -> None:
            self.out.append((topic.get_topic_name(), key, value))

        self.svc.emit = capture

    async def feed(
        self, router: Any, stage: Any, key: str, value: bytes
    ) -> list[tuple[str, str, bytes]]:
        start = len(self.out)
        async with router.test_context() as agent:
            await agent.put(key=key.encode(), value=value)
        routed = self.out[start:]
        internal = [r for r in routed if "newsmon-tracker-" in r[0]]
        mark = len(self.out)
        async with stage.test_context() as agent:
            for _, k, v in internal:
                await agent.put(key=k.encode(), value=v)
        return [r for r in routed if r not in internal] + self.out[mark:]


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_observations_become_metric_updates(harness: Harness) -> None:
    """The seed's two figures produce two news.metrics records keyed by series id."""
    svc = harness.svc
    out = await harness.feed(
        svc.route_observations_agent, svc.series_agent, "seed-1", serde.encode(seed_observations())
    )
    assert [(t, k) for t, k, _ in out] == [
        (topics.METRICS.name, "aid_trucks_entered@gaza/daily")
    ] * 2
    last = MetricUpdate.model_validate_json(out[-1][2])
    assert (last.value, last.previous_value, last.change_pct) == (30, 100, -70.0)
    # The table holds each value's JSON bytes (the changelog carries the same bytes).
    stored = dict(svc.series_table)
    headers = {k: json.loads(v) for k, v in stored.items() if "|" not in k}
    assert headers and all(v["series_id"] == k for k, v in headers.items())
    assert all("|" in k for k in stored.keys() - headers.keys())  # dates and figures


async def test_replay_publishes_nothing(harness: Harness) -> None:
    """The same article a second time changes no table and publishes no record."""
    svc = harness.svc
    for _ in range(2):
        out = await harness.feed(
            svc.route_observations_agent,
            svc.series_agent,
            "seed-1",
            serde.encode(seed_observations()),
        )
    assert out == []


async def test_held_state_is_read_by_later_batches_and_written_when_the_app_stops() -> None:
    """With `state_commit_ms`, a batch's outputs are published at once and its state held:
    the next batch reads it (a replay publishes nothing), the table gets it when the held
    state is written (here by the app's stop), and the inputs are acked only then."""
    from newsmon.core.faustapp import settlers

    harness = Harness(state_commit_ms=60_000)
    svc = harness.svc
    start = len(harness.out)
    async with svc.route_observations_agent.test_context() as router:
        await router.put(key=b"seed-1", value=serde.encode(seed_observations()))
    internal = [r for r in harness.out[start:] if "newsmon-tracker-" in r[0]]
    async with svc.series_agent.test_context() as agent:
        mark = len(harness.out)
        for _, k, v in internal:
            await agent.put(key=k.encode(), value=v)
        assert [t for t, _, _ in harness.out[mark:]] == [topics.METRICS.name] * 2
        assert dict(svc.series_table) == {} and dict(svc.series_seen) == {}  # held
        mark = len(harness.out)
        for _, k, v in internal:  # the same reports again: seen in the held state
            await agent.put(key=k.encode(), value=v)
        assert harness.out[mark:] == []
        (settle,) = settlers(svc.app)
        await settle()
        headers = [k for k in svc.series_table if "|" not in k]
        assert headers == ["aid_trucks_entered@gaza/daily"] and dict(svc.series_seen)
        assert svc.staged["series"].pending == {}


async def test_entities_and_events_become_actor_records(harness: Harness) -> None:
    """Entities give first_seen records; events give a tone record keyed by the actor."""
    svc = harness.svc
    out = await harness.feed(
        svc.route_entities_agent, svc.actors_agent, "seed-1", serde.encode(seed_entities())
    )
    recs = [ActorRecordAdapter.validate_json(v) for _, _, v in out]
    assert {(r.actor.id, r.update) for r in recs} == {
        ("antony-blinken", "first_seen"),
        ("turkey", "first_seen"),
    }
    out = await harness.feed(
        svc.route_events_agent, svc.tone_agent, "seed-1", serde.encode(seed_events())
    )
    ((topic, key, value),) = out
    tone = ActorRecordAdapter.validate_json(value)
    assert (topic, key, tone.record, tone.goldstein_sum) == (
        topics.ACTORS.name,
        "turkey",
        "tone",
        -4.0,
    )


async def test_bad_record_goes_to_dlq_and_agent_keeps_running(harness: Harness) -> None:
    """An invalid record becomes a dead letter (logged) and the next record is still processed."""
    svc = harness.svc
    with capture_logs() as logs:
        out = await harness.feed(
            svc.route_observations_agent, svc.series_agent, "bad", b'{"not": "an observation"}'
        )
    assert [t for t, _, _ in out] == [topics.ARTICLES_DLQ.name]
    assert any(e["event"] == "record_rejected" and e["log_level"] == "warning" for e in logs)
    out = await harness.feed(
        svc.route_observations_agent, svc.series_agent, "seed-1", serde.encode(seed_observations())
    )
    assert len(out) == 2


async def test_state_size_is_sampled(harness: Harness) -> None:
    """The periodic sampler exports the number of series and actors held."""
    from prometheus_client import REGISTRY

    svc = harness.svc
    await harness.feed(
        svc.route_observations_agent, svc.series_agent, "seed-1", serde.encode(seed_observations())
    )
    await svc.sample_state_size(svc.app)
    assert REGISTRY.get_sample_value("newsmon_series_tracked") == 1
    # One series, two dates, one figure each: a header, two date indexes, two figures.
    assert REGISTRY.get_sample_value("newsmon_tracker_state_entries", {"table": "series"}) == 5


def test_tables_are_partitioned_like_their_topics(harness: Harness) -> None:
    """Every table's changelog has topics.PARTITIONS partitions, as its source topic."""
    svc = harness.svc
    for table in (svc.series_table, svc.actors_table, svc.actor_articles, svc.tone_table):
        assert table.partitions == topics.PARTITIONS
        # Values are the JSON bytes CachedTable encoded: stored and logged as they are (a
        # "json" serializer would encode them again, and decode dicts on reads).
        assert (table.key_serializer, table.value_serializer) == ("json", "raw")
    assert svc.by_series.partitions == topics.PARTITIONS


async def test_batched_records_write_their_own_table_partitions(harness: Harness) -> None:
    """Records processed in one batch each write to their own event's partition, after publish."""
    svc = harness.svc
    routed = [
        r
        for n in range(3)
        for r in route_observations(
            seed_observations(f"seed-{n}").model_copy(
                update={
                    "observations": [
                        o.model_copy(update={"location": f"place-{n}"})
                        for o in seed_observations().observations
                    ]
                }
            )
        )
    ]
    written: list[tuple[str, int]] = []
    on_key_set = svc.series_table.on_key_set

    def record(key: str, value: Any) -> None:
        event = faust.current_event()
        assert event is not None
        if "|" not in key:  # the series' header (its dates and figures are written with it)
            written.append((key, event.message.partition))
        else:
            assert event.message.partition == partition_of[key.split("|")[0]]
        on_key_set(key, value)

    svc.series_table.on_key_set = record  # type: ignore[method-assign]
    partition_of = {f"aid_trucks_entered@place-{n}/daily": n + 1 for n in range(3)}
    async with svc.series_agent.test_context() as agent:
        for key, report in routed:
            await agent.put(
                key=key.encode(),
                value=json.dumps(report).encode(),
                partition=partition_of[key],
                wait=False,
            )
        for _ in range(50):
            if len(written) == len(partition_of):
                break
            await asyncio.sleep(0.02)
    assert sorted(written) == sorted(partition_of.items())
    assert len([o for o in harness.out if o[0] == topics.METRICS.name]) == len(routed) == 6


async def test_failed_publish_applies_no_state_and_acks_no_input(harness: Harness) -> None:
    """When a batch's send fails, its staged writes are dropped and its inputs stay unacked."""
    svc = harness.svc
    capture = svc.emit
    tried: list[str] = []

    async def broker_down(topic: Any, key: str, value: bytes) -> None:
        tried.append(topic.get_topic_name())
        raise RuntimeError("broker down")

    key, report = route_observations(seed_observations())[0]
    value = json.dumps(report).encode()
    svc.emit = broker_down
    async with svc.series_agent.test_context() as agent:
        failed = await agent.put(key=key.encode(), value=value, wait=False)
        await asyncio.sleep(0.1)
    assert tried == [topics.METRICS.name]
    assert dict(svc.series_table) == {} and not failed.message.acked
    svc.emit = capture  # the broker is back: the redelivered record is processed in full
    async with svc.series_agent.test_context() as agent:
        done = await agent.put(key=key.encode(), value=value, wait=False)
        await asyncio.sleep(0.1)
    assert key in svc.series_table and done.message.acked
    assert [t for t, _, _ in harness.out] == [topics.METRICS.name]


@pytest.mark.parametrize("coalesce", ["all", "none", "unchanged"])
async def test_a_batch_publishes_one_record_per_changed_series_date(coalesce: str) -> None:
    """Three sources' reports of the seed's two figures in one bundle (`metrics_coalesce`):
    "all", one news.metrics record per date with the corroboration of all three; "none", one
    record per report; "unchanged", the first report of each date at once (it adds the date)
    and one record per date after the bundle for the two that only corroborate it. The tables
    end the same either way."""
    from newsmon.core.bundles import bundles

    harness = Harness()
    svc = harness.svc
    svc.settings = svc.settings.model_copy(update={"metrics_coalesce": coalesce})
    svc.series_agent = svc.app.agent(svc.by_series, name="series-under-test")(svc._series_agent())
    recs = [
        seed_observations(f"seed-{n}").model_copy(update={"source": source})
        for n, source in enumerate(["guardian", "bbc", "reuters"])
    ]
    items = [item for rec in recs for item in route_observations(rec)]
    ((target, key, value),) = bundles(svc.by_series, items)
    async with svc.series_agent.test_context() as agent:
        await agent.put(key=key.encode(), value=value, partition=target.partition)
    out = [
        MetricUpdate.model_validate_json(v) for t, _, v in harness.out if t == topics.METRICS.name
    ]
    got = [(u.as_of.day, u.value, u.corroboration) for u in out]
    if coalesce == "all":
        assert got == [(10, 100, 3), (13, 30, 3)]
        assert (out[1].previous_value, out[1].change_pct) == (100, -70.0)
    elif coalesce == "unchanged":
        assert got == [(10, 100, 1), (13, 30, 1), (10, 100, 3), (13, 30, 3)]
        assert (out[1].previous_value, out[1].change_pct) == (100, -70.0)
    else:
        assert [(u.as_of.day, u.corroboration) for u in out] == [
            (10, 1), (13, 1), (10, 2), (13, 2), (10, 3), (13, 3)
        ]  # fmt: skip
    headers = {k: json.loads(v) for k, v in dict(svc.series_table).items() if "|" not in k}
    assert [h["point_dates"] for h in headers.values()] == [["2023-11-10", "2023-11-13"]]


async def test_an_actor_whose_state_cannot_be_updated_is_dead_lettered_alone(
    harness: Harness,
) -> None:
    """A batch's actor tallies are applied after it; one that fails on its stored state (here
    a state of an unknown shape) becomes a dead letter with the reason and the tally, and the
    other actors of the batch are still counted and published."""
    from newsmon.core.models import DeadLetter

    svc = harness.svc
    svc.staged["actors"].table.written("turkey", {"id": "turkey", "shape": "unknown"})
    with capture_logs() as logs:
        out = await harness.feed(
            svc.route_entities_agent, svc.actors_agent, "seed-1", serde.encode(seed_entities())
        )
    dlq = [DeadLetter.model_validate_json(v) for t, _, v in out if t == topics.ARTICLES_DLQ.name]
    assert [(d.stage, d.source, d.reason) for d in dlq] == [
        ("tracker", "actors", "tracking_failed")
    ]
    assert "KeyError" in dlq[0].detail and '"turkey"' in dlq[0].payload
    published = [ActorRecordAdapter.validate_json(v) for t, _, v in out if t == topics.ACTORS.name]
    assert [(r.actor.id, r.update) for r in published] == [("antony-blinken", "first_seen")]
    assert any(e["event"] == "tracking_failed" and e["log_level"] == "error" for e in logs)
