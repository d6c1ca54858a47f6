"""Tracker and alerter as real processes on the real broker: alerts once, restarts, rebalance.

Extractor output is published straight to `news.observations`, `news.entities` and
`news.events`, so these tests depend on neither the ingester nor spaCy.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from tests.helpers import ROOT, StackUnderTest, free_port, read_topic

from newsmon.core import serde, topics
from newsmon.core.config import Settings, to_env
from newsmon.core.kafka import producer_kwargs
from newsmon.core.models import (
    ActorRef,
    ActorSalience,
    Alert,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    Entity,
    Event,
    Evidence,
    Mention,
    MetricUpdate,
    Observation,
    merge_series,
)
from newsmon.ops.stack import group_lag

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

T0 = dt.datetime(2023, 11, 13, 9, tzinfo=dt.UTC)
SID = "aid_trucks_entered@gaza/daily"
BURST = 100


def _obs(oid: str, value: float, day: int, approx: bool = False) -> Observation:
    return Observation(
        id=oid,
        metric="aid_trucks_entered",
        unit="truck",
        value=value,
        approximate=approx,
        as_of=dt.date(2023, 11, day),
        period="daily",
        location="gaza",
        raw=f"{value:g}",
        evidence=Evidence(text=f"{value:g} aid trucks entered Gaza", start=day, end=day + 30),
    )


def _ent(eid: str, name: str, type_: str, actor_type: str) -> Entity:
    return Entity(
        id=eid,
        name=name,
        type=type_,
        actor_type=actor_type,
        known=True,  # type: ignore[arg-type]
        mentions=[Mention(text=name, start=0, end=len(name))],
    )


def article(
    aid: str,
    published: dt.datetime,
    obs: list[Observation],
    ents: list[Entity],
    events: list[Event],
) -> list[tuple[topics.TopicSpec, Any]]:
    common = {
        "article_id": aid,
        "source": f"src-{aid}",
        "published_at": published,
        "extracted_at": published,
        "ingested_at": dt.datetime.now(dt.UTC),
    }
    return [
        (topics.ENTITIES, ArticleEntities(**common, entities=ents)),
        (topics.OBSERVATIONS, ArticleObservations(**common, observations=obs)),
        (topics.EVENTS, ArticleEvents(**common, events=events)),
    ]


def seed_article() -> list[tuple[topics.TopicSpec, Any]]:
    """What the extractor emits for the seed: 100 → ~30 trucks, Turkey withdrew its ambassador."""
    ev = Event(
        id="seed-e1",
        actor=ActorRef(id="turkey", name="Turkey"),
        target=ActorRef(id="israel", name="Israel"),
        action="withdrew its ambassador from",
        cameo="161",
        quad_class=4,
        goldstein=-4.0,
        date=dt.date(2023, 11, 11),
        evidence=Evidence(text="Turkey withdrew its ambassador from Israel", start=1, end=43),
    )
    return article(
        "seed-1",
        T0,
        [_obs("o1", 100, 10), _obs("o2", 30, 13, approx=True)],
        [
            _ent("antony-blinken", "Antony Blinken", "PERSON", "person"),
            _ent("turkey", "Turkey", "GPE", "state"),
            _ent("israel", "Israel", "GPE", "state"),
        ],
        [ev],
    )


def later_article(
    aid: str, day: int, value: float, person: tuple[str, str]
) -> list[tuple[topics.TopicSpec, Any]]:
    """One article with a figure for `day` days after 31 Oct 2023 and one new person."""
    as_of = dt.date(2023, 10, 31) + dt.timedelta(days=day)
    obs = _obs(f"{aid}-o", value, 1).model_copy(update={"as_of": as_of})
    return article(
        aid,
        dt.datetime.combine(as_of, dt.time(12), dt.UTC),
        [obs],
        [_ent(person[0], person[1], "PERSON", "person")],
        [],
    )


def send(settings: Settings, records: list[tuple[topics.TopicSpec, Any]]) -> None:
    """Produce the records (keyed by article id) with one idempotent producer."""
    asyncio.run(_send(settings, records))


async def _send(settings: Settings, records: list[tuple[topics.TopicSpec, Any]]) -> None:
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await producer.start()
    try:
        for spec, rec in records:
            await producer.send_and_wait(
                topics.topic_name(spec, settings.topic_prefix),
                serde.encode(rec),
                key=rec.article_id.encode(),
            )
    finally:
        await producer.stop()


def alerts(settings: Settings) -> list[Alert]:
    return [a for a in read_topic(settings, topics.ALERTS) if isinstance(a, Alert)]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def settled_alerts(settings: Settings, quiet_s: float = 3.0, timeout: float = 60.0) -> list[Alert]:
    """The alert topic's content once it has not grown for `quiet_s`."""
    deadline = time.monotonic() + timeout
    got = alerts(settings)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = alerts(settings)
        if len(now) != len(got):
            got, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return got
    raise AssertionError(f"the alert topic kept growing for {timeout:.0f} s")


def latest_series(settings: Settings) -> MetricUpdate | None:
    updates = [u for u in read_topic(settings, topics.METRICS) if u.series_id == SID]
    return merge_series(updates).get(SID)


@pytest.fixture
def stack(contract_topics: Settings) -> Iterator[StackUnderTest]:
    """Tracker and alerter as `newsmon run` processes against the session broker."""
    s = StackUnderTest(contract_topics)
    try:
        s.start("tracker", "alerter")
        yield s
    finally:
        for svc in ("tracker", "alerter"):
            s.stop(svc)


def test_seed_alerts_once_replay_and_restart(stack: StackUnderTest, tmp_path: Path) -> None:
    """Seed facts give the change, 161 and new-actor alerts once; replay and kill -9 add none."""
    settings = stack.settings
    send(settings, seed_article())

    def seed_alerts_done() -> list[Alert]:
        got = alerts(settings)
        kinds = {a.kind for a in got}
        subjects = {a.subject for a in got if a.kind == "new_actor"}
        ready = {"change", "diplomatic_action"} <= kinds and {
            "antony-blinken",
            "turkey",
            "israel",
        } <= subjects
        return got if ready else []

    first = wait_for("the seed's alerts", seed_alerts_done)
    change = next(a for a in first if a.kind == "change")
    assert (
        change.title == "Aid trucks entering Gaza fell 70% (100 → ~30) between 10 and 13 Nov 2023"
    )
    dip = next(a for a in first if a.kind == "diplomatic_action")
    assert (dip.actor and dip.actor.name, dip.target and dip.target.name, dip.cameo) == (
        "Turkey",
        "Israel",
        "161",
    )

    # The seed's state is written and its records committed before the kill, which is meant
    # for the burst: the tracker holds a batch's state changes up to `state_commit_ms` before
    # writing them, and a kill within that hold has it process the seed again after the restart
    # and publish the seed's records a second time (its alerts stay once, by id).
    def seed_committed() -> bool:
        lags = asyncio.run(group_lag(settings))
        return lags.get("tracker", 1) == 0 and lags.get("alerter", 1) == 0

    wait_for("the tracker and the alerter to commit the seed", seed_committed)

    # A burst of 100 articles (100 new people, 100 more points); kill -9 both services while
    # they process it; replay the seed and add one more article while they are down; restart.
    burst = [
        rec
        for i in range(BURST)
        for rec in later_article(f"burst-{i}", 20 + i, 50 + i / 4, (f"person-{i}", f"Person No{i}"))
    ]
    sender = threading.Thread(target=send, args=(settings, burst))
    sender.start()
    time.sleep(0.5)  # the services are processing the first articles of the burst
    stack.stop("tracker", kill=True)
    stack.stop("alerter", kill=True)
    sender.join(timeout=60)
    send(settings, seed_article())
    send(settings, later_article("later-1", 15, 20, ("hakan-fidan", "Hakan Fidan")))
    stack.start("tracker", "alerter")

    people = {f"person-{i}" for i in range(BURST)} | {"hakan-fidan"}
    wait_for(
        "the new-actor alerts of the burst and the later article",
        lambda: people <= {a.subject for a in alerts(settings) if a.kind == "new_actor"},
        timeout=180,
    )
    series = wait_for(
        "every point", lambda: (u := latest_series(settings)) and len(u.points) == 3 + BURST and u
    )
    # Nothing was lost: the seed's points, the later point and the burst, in as_of order.
    assert [(p.as_of.day, p.value) for p in series.points[:3]] == [(10, 100), (13, 30), (15, 20)]
    assert [p.value for p in series.points[3:]] == [50 + i / 4 for i in range(BURST)]

    time.sleep(5)  # let any late duplicate surface before counting
    final = alerts(settings)
    ids = collections.Counter((a.id, a.status) for a in final)
    assert max(ids.values()) == 1, ids  # nothing was published twice
    assert {a.id for a in first} <= {a.id for a in final}
    new_actors = collections.Counter(a.subject for a in final if a.kind == "new_actor")
    assert set(new_actors) == people | {"antony-blinken", "turkey", "israel"}
    assert max(new_actors.values()) == 1
    actors = [r for r in read_topic(settings, topics.ACTORS) if isinstance(r, ActorSalience)]
    assert (
        collections.Counter(r.actor.id for r in actors if r.update == "first_seen")["turkey"] == 1
    )

    # The subscriber and history commands work against the same broker.
    res = stack.newsmon("alerts", "--from-beginning", "--json", "--idle-timeout", "3")
    assert res.returncode == 0, res.stderr
    printed = [Alert.model_validate_json(line) for line in res.stdout.splitlines()]
    assert {a.id for a in printed} == {a.id for a in final}
    res = stack.newsmon("alerts", "--from-beginning", "--kind", "change", "--idle-timeout", "3")
    assert "fell 70% (100 → ~30)" in res.stdout and "diplomatic_action" not in res.stdout
    png = tmp_path / "trucks.png"
    res = stack.newsmon("series", "aid_trucks_entered", "--location", "gaza", "--plot", str(png))
    assert res.returncode == 0, res.stderr
    assert "2023-11-13" in res.stdout and png.stat().st_size > 10_000
    res = stack.newsmon("series", "aid_trucks_entered", "--openmetrics")
    assert res.stdout.rstrip().endswith("# EOF") and f'series="{SID}"' in res.stdout

    # A poller can ask a service's /metrics page for some samples only (`name[]`).
    page = f"http://{settings.bind_host}:{settings.port_of('tracker')}/metrics"
    with urllib.request.urlopen(page, timeout=5) as resp:
        whole = resp.read().decode()
    query = "?name[]=newsmon_records_consumed_total&name[]=newsmon_series_tracked"
    with urllib.request.urlopen(page + query, timeout=5) as resp:
        some = resp.read().decode()
    samples = {line.split("{")[0].split(" ")[0] for line in some.splitlines() if line[:1] != "#"}
    assert samples == {"newsmon_records_consumed_total", "newsmon_series_tracked"}
    assert len(some) < len(whole) / 10


def _spawn_tracker(settings: Settings, state_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **to_env(settings),
        "NEWSMON_STATE_DIR": str(state_dir),
        "NEWSMON_TRACKER_PORT": str(free_port()),
        "NEWSMON_LOG_FORMAT": "json",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "newsmon.cli.main", "run", "tracker"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_tracker_state_rebuilds_on_another_worker(
    contract_topics: Settings, tmp_path: Path
) -> None:
    """A second tracker worker with no local state takes over and rebuilds from the changelog."""
    settings = contract_topics
    first = _spawn_tracker(settings, tmp_path / "w1", tmp_path / "w1.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        send(settings, seed_article())
        wait_for("the seed's series", lambda: (u := latest_series(settings)) and len(u.points) == 2)
        second = _spawn_tracker(settings, tmp_path / "w2", tmp_path / "w2.log")
        time.sleep(8)  # let the second worker join the group before the first one leaves
        first.terminate()
        first.wait(timeout=60)
        n_metrics = len(read_topic(settings, topics.METRICS))
        send(settings, seed_article())  # a replay: the rebuilt state must know it
        send(settings, later_article("later-2", 16, 10, ("hakan-fidan", "Hakan Fidan")))
        series = wait_for(
            "the 16 Nov point from the second worker",
            lambda: (u := latest_series(settings)) and len(u.points) == 3 and u,
            timeout=180,
        )
        assert [(p.as_of.day, p.value) for p in series.points] == [(10, 100), (13, 30), (16, 10)]
        assert len(read_topic(settings, topics.METRICS)) == n_metrics + 1
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()


def test_a_tracker_started_alone_creates_the_contract_topics(
    kafka_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """`newsmon run tracker` on a cluster without the contract topics (the broker creates no
    topic on demand) creates them and tracks: before, its agents waited for the topics'
    metadata for good."""
    from newsmon.core.kafka import admin_client

    settings = kafka_settings()
    wanted = {topics.topic_name(s, settings.topic_prefix) for s in topics.TOPICS.values()}

    async def existing() -> set[str]:
        async with admin_client(settings) as admin:
            return set(await admin.list_topics()) & wanted

    assert asyncio.run(existing()) == set()
    tracker = _spawn_tracker(settings, tmp_path / "w1", tmp_path / "w1.log")
    try:
        wait_for("the contract topics", lambda: asyncio.run(existing()) == wanted, timeout=90)
        send(settings, seed_article())
        series = wait_for(
            "the seed's series", lambda: (u := latest_series(settings)) and len(u.points) == 2 and u
        )
        assert [(p.as_of.day, p.value) for p in series.points] == [(10, 100), (13, 30)]
    finally:
        tracker.terminate()
        tracker.wait(timeout=60)
    log = (tmp_path / "w1.log").read_text()
    assert "contract_topics_created" in log
    assert log.count("not found in cluster metadata") < 5


def test_held_state_is_written_at_stop_and_reprocessed_after_a_kill(
    contract_topics: Settings, tmp_path: Path
) -> None:
    """With state held for a minute (`state_commit_ms`), a stopped tracker writes it before
    it exits: restarted, it knows a replayed article. A killed tracker loses what it held but
    had not acked: restarted, it processes those inputs again, and the series has every point."""
    settings = contract_topics.model_copy(update={"state_commit_ms": 60_000})
    state = tmp_path / "w1"
    first = _spawn_tracker(settings, state, tmp_path / "w1.log")
    procs = [first]
    try:
        send(settings, seed_article())
        wait_for("the seed's series", lambda: (u := latest_series(settings)) and len(u.points) == 2)
        first.terminate()  # SIGTERM: the held state is written before the worker stops
        first.wait(timeout=60)
        n_metrics = len(read_topic(settings, topics.METRICS))

        second = _spawn_tracker(settings, state, tmp_path / "w2.log")
        procs.append(second)
        send(settings, seed_article())  # known from the state written at stop: no record
        send(settings, later_article("later-1", 16, 10, ("hakan-fidan", "Hakan Fidan")))
        wait_for("the 16 Nov point", lambda: (u := latest_series(settings)) and len(u.points) == 3)
        assert len(read_topic(settings, topics.METRICS)) == n_metrics + 1
        second.kill()  # SIGKILL: the 16 Nov report's state was held, its input not acked
        second.wait(timeout=30)

        third = _spawn_tracker(settings, state, tmp_path / "w3.log")
        procs.append(third)
        send(settings, later_article("later-2", 19, 40, ("hakan-fidan", "Hakan Fidan")))
        series = wait_for(
            "the 19 Nov point after the kill",
            lambda: (u := latest_series(settings)) and len(u.points) == 4 and u,
            timeout=180,
        )
        assert [(p.as_of.day, p.value) for p in series.points] == [
            (10, 100),
            (13, 30),
            (16, 10),
            (19, 40),
        ]
        # The 16 Nov report was processed again after the kill: its record published twice.
        days = [u.as_of.day for u in read_topic(settings, topics.METRICS) if u.series_id == SID]
        assert days.count(16) == 2 and days.count(19) == 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()


TRACKER_TABLES = ("series", "series-reports", "actors", "actor-articles", "tone")


async def _changelogs(settings: Settings) -> dict[tuple[str, int], list[Any]]:
    """Every record of the tracker's changelog topics, by (table, partition), in order."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from newsmon.core.kafka import client_kwargs

    names = {f"{settings.topic_prefix}newsmon-tracker-{t}-changelog": t for t in TRACKER_TABLES}
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(n, p) for n in names for p in range(topics.PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: dict[tuple[str, int], list[Any]] = collections.defaultdict(list)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"changelog partitions not read to their end: {pending}"
            for tp, records in batch.items():
                out[(names[tp.topic], tp.partition)].extend(records)
                if records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return out
    finally:
        await consumer.stop()


def test_tracker_changelogs_match_its_stores(contract_topics: Settings, tmp_path: Path) -> None:
    """The tracker's table writes (applied in bulk, core/tablewrite.py) leave each table
    partition's RocksDB store equal to the last value of every key in that partition of the
    changelog, with the persisted offset at its last record, and every series key in the
    partition its series id maps to."""
    import rocksdict

    from newsmon.core.bundles import partition_of

    settings = contract_topics
    state = tmp_path / "w1"
    tracker = _spawn_tracker(settings, state, tmp_path / "w1.log")
    try:
        send(settings, seed_article())
        send(settings, later_article("later-1", 16, 10, ("hakan-fidan", "Hakan Fidan")))
        wait_for("the 16 Nov point", lambda: (u := latest_series(settings)) and len(u.points) == 3)
    finally:
        tracker.terminate()
        tracker.wait(timeout=60)
    changelogs = asyncio.run(_changelogs(settings))
    assert {t for t, _ in changelogs} == set(TRACKER_TABLES)
    offset_key = b"__faust\0offset__"
    for (table, partition), records in changelogs.items():
        expected: dict[bytes, bytes] = {}
        for r in records:
            if r.value is None:
                expected.pop(r.key, None)
            else:
                expected[r.key] = r.value
        [path] = state.glob(f"**/tables/{table}-{partition}.db")
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            stored = {k: v for k, v in db.items() if k != offset_key}
            persisted = db.get(offset_key)
        finally:
            db.close()
        assert stored == expected, f"{table}-{partition}: store and changelog differ"
        assert persisted == str(records[-1].offset).encode(), f"{table}-{partition}"
        if table == "series":
            for key in expected:
                sid = json.loads(key).split("|")[0]
                assert partition_of(sid) == partition, key
    series = {
        json.loads(k)
        for (t, _), rs in changelogs.items()
        if t == "series"
        for k in (r.key for r in rs)
    }
    assert SID in series and f"{SID}|2023-11-16" in series


def test_real_seed_extraction_gives_the_issue_alerts(stack: StackUnderTest) -> None:
    """The extractor's real output for the seed gives the aid-truck drop, Turkey→Israel 161 and
    new-actor alerts, each once, and a second replay adds none."""
    seed = next((ROOT / "seeds").glob("*.txt"))
    res = stack.newsmon("extract", str(seed), "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.splitlines()[0])
    art = doc["article"]
    common = {
        "article_id": art["id"],
        "source": art["source"],
        "published_at": art["published_at"],
        "extracted_at": dt.datetime.now(dt.UTC),
        "ingested_at": art["ingested_at"],
    }
    records: list[tuple[topics.TopicSpec, Any]] = [
        (topics.ENTITIES, ArticleEntities(**common, entities=doc["entities"])),
        (topics.OBSERVATIONS, ArticleObservations(**common, observations=doc["observations"])),
        (topics.EVENTS, ArticleEvents(**common, events=doc["events"])),
    ]
    send(stack.settings, records)

    wanted_actors = {"antony-blinken", "turkey", "israel"}

    def expected() -> list[Alert]:
        got = alerts(stack.settings)
        change = [a for a in got if a.kind == "change" and a.metric == "aid_trucks_entered"]
        dip = [a for a in got if a.kind == "diplomatic_action" and a.subject == "turkey>israel"]
        actors = {a.subject for a in got if a.kind == "new_actor"}
        return got if change and dip and wanted_actors <= actors and len(got) >= 10 else []

    # The three alert kinds come from different tables and may arrive in any order: wait for all
    # of them, then until the topic stops growing, so the duplicate check below sees every alert.
    wait_for("the seed's alerts", expected)
    first = settled_alerts(stack.settings)
    change = next(a for a in first if a.kind == "change")
    assert [v.value for v in change.values or []] == [100, 30]
    assert change.title.startswith("Aid trucks entering Gaza fell 70% (100 → ~30) between 10 and")
    assert next(a for a in first if a.subject == "turkey>israel").cameo == "161"
    new_actor = collections.Counter(a.subject for a in first if a.kind == "new_actor")
    assert wanted_actors <= set(new_actor)

    send(stack.settings, records)  # the same article again
    time.sleep(8)
    final = alerts(stack.settings)
    assert sorted(a.id for a in final) == sorted(a.id for a in first)
    assert max(collections.Counter(a.id for a in final).values()) == 1
