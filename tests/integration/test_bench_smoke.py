"""The benchmark's machinery through the real broker: transport run, topic reads, a fed service."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench import run as bench
from bench.generator import generate

from newsmon.core import serde, topics
from newsmon.core.config import Settings
from newsmon.core.kafka import admin_client
from newsmon.core.models import (
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    Evidence,
    Observation,
)


@pytest.mark.kafka
def test_transport_stage_counts_every_message(contract_topics: Settings) -> None:
    """Produce→consume of generated articles reports every message and a positive rate."""
    articles = generate(40, seed=5)
    payloads = [(a.id.encode(), serde.encode(a)) for a in articles]
    figures = asyncio.run(bench.measure_transport(contract_topics, payloads))
    assert figures["messages"] == 40
    assert figures["bytes"] == sum(len(v) for _, v in payloads)
    assert figures["messages_per_s"] > 0


@pytest.mark.kafka
def test_read_since_returns_only_records_after_the_snapshot(contract_topics: Settings) -> None:
    """Records published after an end-offset snapshot are read back, earlier ones are not."""
    first, second = generate(6, seed=6)[:3], generate(6, seed=6)[3:]

    def as_records(batch: list) -> list[tuple[bytes | None, bytes]]:
        return [(a.id.encode(), serde.encode(a)) for a in batch]

    asyncio.run(bench.publish_records(contract_topics, topics.ARTICLES_RAW, as_records(first)))
    start = asyncio.run(bench.end_offsets(contract_topics, [topics.ARTICLES_RAW]))
    asyncio.run(bench.publish_records(contract_topics, topics.ARTICLES_RAW, as_records(second)))
    got = asyncio.run(bench.read_since(contract_topics, start, topics.ARTICLES_RAW))
    assert sorted(json.loads(v)["id"] for _, v in got) == sorted(a.id for a in second)


def _extractor_records(n: int) -> dict[str, list[dict]]:
    """Hand-made extractor output for `n` articles (one aid-truck figure each)."""
    out: dict[str, list[dict]] = {"entities": [], "observations": [], "events": []}
    now = dt.datetime.now(dt.UTC)
    for i, a in enumerate(generate(n, seed=9)):
        common = {
            "article_id": a.id,
            "source": a.source,
            "published_at": a.published_at,
            "extracted_at": now,
            "ingested_at": now,
        }
        text = f"{40 + i} aid trucks entered Gaza."
        obs = Observation(
            id=f"{a.id}-o",
            metric="aid_trucks_entered",
            unit="truck",
            value=40 + i,
            as_of=a.published_at.date(),
            period="daily",
            location="gaza",
            raw=str(40 + i),
            evidence=Evidence(text=text, start=0, end=len(text)),
        )
        for kind, model in (
            ("entities", ArticleEntities(**common, entities=[])),
            ("observations", ArticleObservations(**common, observations=[obs])),
            ("events", ArticleEvents(**common, events=[])),
        ):
            out[kind].append(json.loads(model.model_dump_json()))
    return out


def _feed_tracker(
    settings: Settings, tmp_path: Path, collect: tuple[str, ...] = (), workers: int = 1
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """A fed tracker run of 5 articles' records copied 60 times (900 records, 300
    observations: enough that consumption cannot finish between two polls of the service);
    its figures, collected outputs and memory report."""
    memory = bench.MemorySampler(interval=0.2).start()
    stack = bench.Stack(settings, tmp_path, memory)
    recs = _extractor_records(5)
    data = bench.replicate(recs, dict.fromkeys(recs, "article_id"), copies=60)
    inputs = {k: bench.OUTPUTS[k][0] for k in recs}
    try:
        stats, outputs = bench.feed_service(
            stack, "tracker", inputs, data, 300, collect, workers=workers
        )
    finally:
        stack.stop_all()
        memory.stop()
    return stats, outputs, memory.report()


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_tracker_fed_directly_reports_throughput_and_memory(
    contract_topics: Settings, tmp_path: Path
) -> None:
    """The tracker alone on fresh topics consumes every fed record; rate and RSS are reported."""
    stats, outputs, report = _feed_tracker(contract_topics, tmp_path, ("metrics",))
    assert stats["input_records"] == 900
    assert stats["observations_per_s"] > 0
    # The end is the service's own stamp of its last output, and where the time went is told.
    assert 0 < stats["seconds_to_consume"] <= stats["seconds_to_last_output"]
    # A process on 2 cores uses at most twice the wall time; its CPU is part of the machine's.
    assert 0 <= stats["service_cpu_s"] <= 2 * stats["cpu_window_s"] + 0.05
    assert stats["machine_cpu_s"] >= stats["service_cpu_s"] - 0.05
    assert stats["machine_steal_s"] >= 0
    assert outputs["metrics"], "the tracker published no series update"
    assert report["tracker (fed)"]["peak_rss_mib"] > 0


@pytest.fixture
def bench_broker(tmp_path: Path) -> Iterator[str]:
    """A broker of its own, configured as the benchmark starts its broker: a new group's
    first assignment waits until no member joined for a while (the session broker assigns
    at once, for fast tests)."""
    from tests.helpers import free_port

    from newsmon.ops import broker

    own = Settings(
        state_dir=tmp_path / "bench-broker",
        broker_port=free_port(),
        controller_port=free_port(),
        broker_heap="512m",
    )
    addr = broker.start(own, quiet=True, properties=bench.BROKER_PROPERTIES)
    try:
        yield addr
    finally:
        broker.stop(own)


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_two_tracker_workers_share_the_feed_and_both_are_measured(
    contract_topics: Settings, bench_broker: str, tmp_path: Path
) -> None:
    """Two tracker processes started together on a filled feed join their group before its
    first assignment and consume the feed between them without a rebalance (a run with one
    is run again); the figures sum both workers' records and CPU."""
    from newsmon.ops.topics import ensure_topics

    settings = contract_topics.model_copy(update={"kafka_bootstrap": bench_broker})
    asyncio.run(ensure_topics(settings))
    stats, _, report = _feed_tracker(settings, tmp_path, workers=2)
    assert stats["workers"] == 2
    assert stats["assignments"] == [1, 1] and stats["rebalanced"] is False
    assert 0 <= stats["rebalanced_runs_discarded"] < bench.REBALANCE_ATTEMPTS
    assert stats["input_records"] == 900
    assert stats["observations_per_s"] > 0
    # Each worker held partitions and consumed part of the feed; together, all of it.
    consumed = stats["worker_consumed"]
    assert len(consumed) == 2 and all(c > 0 for c in consumed)
    assert sum(consumed) >= 900
    assert len(stats["worker_cpu_s"]) == 2
    assert abs(sum(stats["worker_cpu_s"]) - stats["service_cpu_s"]) <= 0.02
    assert report["tracker (fed #1)"]["peak_rss_mib"] > 0
    assert report["tracker (fed #2)"]["peak_rss_mib"] > 0
    # The run's topics (inputs, outputs, internal, changelogs) are gone from the broker.
    left = [t for t in _topics(settings) if ".feed-tracker-2workers" in t]
    for _ in range(20):  # a deletion reaches the broker's metadata within moments
        if not left:
            break
        time.sleep(0.5)
        left = [t for t in _topics(settings) if ".feed-tracker-2workers" in t]
    assert not left


def _topics(settings: Settings) -> list[str]:
    async def names() -> list[str]:
        async with admin_client(settings) as admin:
            return list(await admin.list_topics())

    return asyncio.run(names())


def test_replicated_copies_get_new_ids_and_later_dates() -> None:
    """Copies of fed records carry suffixed ids and dates moved past the sample's span."""
    recs = _extractor_records(2)
    data = bench.replicate(recs, dict.fromkeys(recs, "article_id"), copies=2)
    obs = [json.loads(v) for _, v in data["observations"]]
    assert len(obs) == 4
    assert obs[2]["article_id"] == obs[0]["article_id"] + "-x1"
    assert obs[2]["observations"][0]["as_of"] > obs[0]["observations"][0]["as_of"]
    assert [k for k, _ in data["observations"]][2] == obs[2]["article_id"].encode()


def test_replicated_tracker_records_keep_their_shape() -> None:
    """Copies of the tracker's records (the alerter's feed) get new series, actor and event
    ids; a relation-tone record's `events` is a count and stays one."""
    from tests.unit.tracker.builders import article_events, event

    from newsmon.core import serde
    from newsmon.core.models import ActorRecordAdapter, RelationTone
    from newsmon.tracker.tone import ToneTracker

    day = dt.date(2023, 11, 10)
    tone = ToneTracker({}, 7)
    (rec,) = tone.process(article_events("a1", event("e1", day, -4.0)))
    recs = {"actors": [json.loads(serde.encode(rec))]}
    data = bench.replicate(recs, {"actors": "actor.id"}, copies=2)
    first, second = (ActorRecordAdapter.validate_json(v) for _, v in data["actors"])
    assert isinstance(second, RelationTone) and isinstance(first, RelationTone)
    assert second.events == first.events == 1
    assert second.actor.id == "turkey-x1" and second.last_event.id == "e1-x1"
    assert second.window_end > first.window_end
