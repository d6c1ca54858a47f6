"""`make bench`: newsmon's throughput and latency next to its limits, measured in one run.

On the same generated articles it measures the NLP limit (spaCy alone), the transport limit
(raw aiokafka through the same broker), the extractor without Kafka, the four services end to
end (saturation with one and two extractor workers, latency at half the saturation rate), the
tracker and the alerter fed directly, and each service's peak memory. It prints a table and
writes every figure, ratio and target to a JSON file. See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generator import generate, reidentify, write_jsonl
from bench.logic import alerter_logic, tracker_logic
from newsmon.core import topics
from newsmon.core.config import Settings, load_settings, to_env
from newsmon.core.kafka import admin_client
from newsmon.core.models import Article

ROOT = Path(__file__).resolve().parents[1]
MACHINE_NOTE = "2 cores, 24 GiB RAM (the project's reference machine); every process shares them"

#: Output topics of the pipeline and the timestamp field that says when a record was made.
OUTPUTS: dict[str, tuple[topics.TopicSpec, str]] = {
    "entities": (topics.ENTITIES, "extracted_at"),
    "observations": (topics.OBSERVATIONS, "extracted_at"),
    "events": (topics.EVENTS, "extracted_at"),
    "metrics": (topics.METRICS, "updated_at"),
    "actors": (topics.ACTORS, "updated_at"),
    "alerts": (topics.ALERTS, "created_at"),
}

TARGETS = {
    "extractor_vs_nlp": 0.85,
    "pipeline_vs_nlp_per_worker": 0.8,
    "p99_budget_s": 2.0,  # plus one article's NLP time
    "tracker_obs_per_s": 5000.0,
    "alerter_obs_per_s": 5000.0,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def parse_ts(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text).timestamp()


def percentiles(values: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/p99/max (nearest-rank) of seconds, with the count."""
    if not values:
        return {"count": 0}
    xs = sorted(values)

    def rank(p: float) -> float:
        return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]

    return {
        "count": len(xs),
        "p50": round(rank(50), 4),
        "p95": round(rank(95), 4),
        "p99": round(rank(99), 4),
        "max": round(xs[-1], 4),
        "mean": round(statistics.fmean(xs), 4),
    }


# ---------------------------------------------------------------------------------------------
# Memory: peak RSS of each service's process tree (the extractor's pool workers included)


def _status_kib(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        kids: list[int] = []
        for t in tasks:
            with contextlib.suppress(OSError, ValueError):
                kids += [int(x) for x in (t / "children").read_text().split()]
        return kids
    except OSError:
        return []


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


class MemorySampler:
    """Samples VmRSS of named process trees every `interval` s and keeps each tree's peak.

    VmHWM (the kernel's own peak) of each tree's main process is read at every sample too,
    so short peaks between samples are not missed for the main process.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.peak_tree_kib: dict[str, int] = {}
        self.peak_hwm_kib: dict[str, int] = {}
        self.peak_procs: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, name: str, pid: int | None) -> None:
        if pid:
            with self._lock:
                self.pids[name] = pid

    def forget(self, name: str) -> None:
        with self._lock:
            self.pids.pop(name, None)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> None:
        with self._lock:
            pids = dict(self.pids)
        for name, pid in pids.items():
            tree = process_tree(pid)
            total = sum(_status_kib(p, "VmRSS") or 0 for p in tree)
            hwm = _status_kib(pid, "VmHWM") or 0
            self.peak_tree_kib[name] = max(self.peak_tree_kib.get(name, 0), total)
            self.peak_hwm_kib[name] = max(self.peak_hwm_kib.get(name, 0), hwm)
            self.peak_procs[name] = max(self.peak_procs.get(name, 0), len(tree))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def report(self) -> dict[str, dict[str, float | int]]:
        return {
            name: {
                "peak_rss_mib": round(self.peak_tree_kib[name] / 1024, 1),
                "main_process_vmhwm_mib": round(self.peak_hwm_kib.get(name, 0) / 1024, 1),
                "processes": self.peak_procs.get(name, 1),
            }
            for name in sorted(self.peak_tree_kib)
        }


# ---------------------------------------------------------------------------------------------
# In-process limits: spaCy alone and the extractor without Kafka


def measure_nlp_and_extractor(
    settings: Settings, articles: list[Article], profile_dir: Path | None
) -> dict[str, Any]:
    """NLP limit and extractor throughput on the same texts with the same Language object."""
    from newsmon.extractor.pipeline import Extractor, extract_all

    t = time.perf_counter()
    extractor = Extractor.from_settings(settings)
    load_s = time.perf_counter() - t
    nlp = extractor.nlp
    batch = extractor.batch_size
    # Warm up both paths (first calls allocate and build caches).
    list(nlp.pipe((a.body for a in articles[:8]), batch_size=batch))
    extract_all(extractor, articles[:8])

    # Interleave the two measurements chunk by chunk (ABBA order), so that both see the same
    # machine: on a shared 2-core box, load from other processes otherwise decides the ratio.
    chunk = batch * 4
    nlp_s = ext_s = 0.0
    tokens = 0
    results = []
    for i in range(0, len(articles), chunk):
        part = articles[i : i + chunk]
        nlp_first = (i // chunk) % 2 == 0
        for which in ("nlp", "ext") if nlp_first else ("ext", "nlp"):
            t = time.perf_counter()
            if which == "nlp":
                tokens += sum(len(d) for d in nlp.pipe((a.body for a in part), batch_size=batch))
                nlp_s += time.perf_counter() - t
            else:
                results += extract_all(extractor, part)
                ext_s += time.perf_counter() - t

    stage: dict[str, float] = {}
    for r in results:
        for k, v in r.timings.items():
            stage[k] = stage.get(k, 0.0) + v
    n = len(articles)
    out: dict[str, Any] = {
        "model": nlp.meta.get("name"),
        "model_version": nlp.meta.get("version"),
        "components": list(nlp.pipe_names),
        "batch_size": batch,
        "load_s": round(load_s, 2),
        "nlp_limit": {
            "articles": n,
            "tokens": tokens,
            "seconds": round(nlp_s, 3),
            "articles_per_s": round(n / nlp_s, 2),
            "tokens_per_s": round(tokens / nlp_s, 1),
            "s_per_article": round(nlp_s / n, 4),
        },
        "_records": [
            tuple(m.model_dump_json() for m in r.records(a))
            for a, r in zip(articles, results, strict=True)
        ],
        "extractor": {
            "articles": n,
            "seconds": round(ext_s, 3),
            "articles_per_s": round(n / ext_s, 2),
            "stage_seconds": {k: round(v, 3) for k, v in stage.items()},
            "entities": sum(len(r.entities) for r in results),
            "observations": sum(len(r.observations) for r in results),
            "events": sum(len(r.events) for r in results),
        },
    }
    if profile_dir is not None:
        out["extractor"]["profile"] = profile_extractor(extractor, articles, profile_dir)
    return out


def profile_extractor(extractor: Any, articles: list[Article], out_dir: Path) -> dict[str, str]:
    """pyinstrument profile of `extract_all` over (up to) 300 articles: HTML and text."""
    from pyinstrument import Profiler

    from newsmon.extractor.pipeline import extract_all

    out_dir.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.002)
    profiler.start()
    extract_all(extractor, articles[:300])
    profiler.stop()
    html = out_dir / "extractor.html"
    txt = out_dir / "extractor.txt"
    html.write_text(profiler.output_html())
    txt.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return {"html": str(html), "text": str(txt)}


def render_profiles(folder: Path) -> list[str]:
    """Text and HTML reports of every service profile session in `folder`."""
    written = []
    for session in sorted(folder.glob("*.pyisession")):
        for renderer, ext in (("text", "txt"), ("html", "html")):
            out = session.with_suffix(f".{ext}")
            argv = [sys.executable, "-m", "pyinstrument", f"--load={session}", "-r", renderer]
            argv += ["-o", str(out)] + (["--no-color", "--no-unicode"] if ext == "txt" else [])
            subprocess.run(argv, check=False, capture_output=True, timeout=300)
            if out.exists():
                written.append(str(out))
    return written


# ---------------------------------------------------------------------------------------------
# Kafka helpers


async def _create_topic(settings: Settings, name: str, partitions: int) -> None:
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    async with admin_client(settings) as admin:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [NewTopic(name, partitions, settings.replication_factor)], timeout_ms=30000
            )


async def measure_transport(
    settings: Settings, payloads: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    """Produce the payloads with the services' producer settings while a consumer reads them."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from newsmon.core.kafka import client_kwargs, producer_kwargs

    name = f"{settings.topic_prefix}bench.transport"
    await _create_topic(settings, name, topics.PARTITIONS)
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await consumer.start()
    await producer.start()
    try:
        for _ in range(50):
            parts = consumer.partitions_for_topic(name)
            if parts:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(name, p) for p in sorted(parts or {0})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        total = len(payloads)
        nbytes = sum(len(v) for _, v in payloads)
        got = 0
        done = asyncio.Event()
        last_at = 0.0

        async def consume() -> None:
            nonlocal got, last_at
            while got < total:
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for records in batch.values():
                    got += len(records)
                if batch:
                    last_at = time.perf_counter()
            done.set()

        task = asyncio.create_task(consume())
        t0 = time.perf_counter()
        futures = [await producer.send(name, value=v, key=k) for k, v in payloads]
        await asyncio.gather(*futures)
        produced_s = time.perf_counter() - t0
        await asyncio.wait_for(done.wait(), timeout=300)
        await task
        round_trip_s = last_at - t0
    finally:
        await producer.stop()
        await consumer.stop()
    return {
        "messages": total,
        "bytes": nbytes,
        "produce_acked_s": round(produced_s, 3),
        "produce_per_s": round(total / produced_s, 1),
        "messages_per_s": round(total / round_trip_s, 1),
        "mib_per_s": round(nbytes / round_trip_s / 2**20, 2),
    }


async def end_offsets(settings: Settings, specs: Sequence[topics.TopicSpec]) -> dict[Any, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from newsmon.core.kafka import client_kwargs

    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = []
        for spec in specs:
            name = topics.topic_name(spec, settings.topic_prefix)
            parts = consumer.partitions_for_topic(name)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(name) or set()
            tps += [TopicPartition(name, p) for p in sorted(parts)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def read_since(
    settings: Settings, start: dict[Any, int], spec: topics.TopicSpec
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of every record of a contract topic after the offsets in `start`."""
    from aiokafka import AIOKafkaConsumer

    from newsmon.core.kafka import client_kwargs

    name = topics.topic_name(spec, settings.topic_prefix)
    ends = await end_offsets(settings, [spec])
    tps = [tp for tp in ends if tp.topic == name and ends[tp] > start.get(tp, 0)]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    out: list[tuple[bytes | None, bytes]] = []
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp, 0))
        remaining = set(tps)
        while remaining:
            batch = await consumer.getmany(timeout_ms=2000, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        out.append((r.key, r.value))
                    if r.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
            if not batch:
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


async def publish_records(
    settings: Settings, spec: topics.TopicSpec, records: list[tuple[bytes | None, bytes]]
) -> float:
    """Produce (key, value) records to a contract topic; returns the wall time it started."""
    from aiokafka import AIOKafkaProducer

    from newsmon.core.kafka import producer_kwargs

    producer = AIOKafkaProducer(**{**producer_kwargs(settings), "linger_ms": 20})
    await producer.start()
    try:
        name = topics.topic_name(spec, settings.topic_prefix)
        t0 = time.time()
        futs = [await producer.send(name, value=v, key=k) for k, v in records]
        await asyncio.gather(*futs)
        return t0
    finally:
        await producer.stop()


# ---------------------------------------------------------------------------------------------
# Service metrics (for "done" detection of the tracker and alerter)


def scrape(settings: Settings, service: str, names: Sequence[str] = ()) -> str | None:
    """A service's /metrics page (only the samples `names`, when given), or None when it
    cannot be read."""
    query = "?" + urllib.parse.urlencode([("name[]", n) for n in names]) if names else ""
    url = f"http://{settings.bind_host}:{settings.port_of(service)}/metrics{query}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def sample_values(text: str, name: str) -> list[float]:
    """Every sample of metric `name` on a /metrics page, whatever its labels."""
    values: list[float] = []
    for line in text.splitlines():
        if line.split("{", 1)[0].split(" ", 1)[0] == name:
            with contextlib.suppress(ValueError, IndexError):
                values.append(float(line.rsplit(" ", 1)[1]))
    return values


def counters(settings: Settings, service: str, *names: str) -> dict[str, float]:
    """Counters of a service summed over their labels, from one /metrics scrape of just
    those samples (NaN if the page cannot be read): rendering the whole page took the
    service's CPU while it was being measured."""
    text = scrape(settings, service, names)
    if text is None:
        return dict.fromkeys(names, float("nan"))
    return {name: sum(sample_values(text, name)) for name in names}


def last_record_times(settings: Settings, service: str) -> tuple[float | None, float | None]:
    """When the service consumed its last input record and produced its last output record
    (Unix times it recorded itself, to the millisecond), or None where it has none."""
    names = (
        "newsmon_records_consumed_last_timestamp_seconds",
        "newsmon_records_produced_last_timestamp_seconds",
    )
    text = scrape(settings, service, names) or ""
    ins = sample_values(text, names[0])
    outs = sample_values(text, names[1])
    return (max(ins) if ins else None), (max(outs) if outs else None)


def ops_health(settings: Settings, service: str) -> str:
    from newsmon.ops.stack import health

    return health(settings, service, timeout=0.5)[0]


def cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) a process has used, or None when it cannot be read."""
    from newsmon.core.procinfo import process_stat

    fields = None if pid is None else process_stat(pid)
    if fields is None:
        return None
    # utime and stime, fields 14 and 15 of the whole line (`man 5 proc`).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float] | None:
    """CPU seconds the machine's cores have spent busy (not idle, waiting or stolen) since
    boot, and the seconds the hypervisor gave to other guests (steal), or None."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    steal = values[7] if len(values) > 7 else 0
    busy = sum(values[:7]) - values[3] - (values[4] if len(values) > 4 else 0)
    return busy / tick, steal / tick


#: Where a fed run's time went, as `wait_consumed` reports it (the last two with 2+ workers).
CPU_FIELDS = (
    "cpu_window_s",
    "service_cpu_s",
    "machine_cpu_s",
    "machine_steal_s",
    "worker_cpu_s",
    "worker_consumed",
)


def wait_consumed(
    settings: Settings | Sequence[Settings],
    service: str,
    expected: int,
    timeout: float,
    settle_s: float = 3.0,
    pid: int | Sequence[int | None] | None = None,
) -> dict[str, Any]:
    """Poll a service's counters until it consumed `expected` input records and its output
    counters stay still for `settle_s`. Returns when consumption was first seen (and how much
    was consumed then), and when input and output finished (wall times); with the service's
    `pid`, also the CPU seconds it and the whole machine spent from the first poll that saw
    it ready or consuming to the last poll that saw a counter move (`service_cpu_s`,
    `machine_cpu_s`, `machine_steal_s`: the time the hypervisor gave to other guests; over
    `cpu_window_s`): where the time went.

    `settings` may list the settings of every worker of one group (their ports differ), and
    `pid` their pids: counters and CPU are then summed over the workers (the clock starts
    when all of them are ready, or when any is first seen consuming)."""
    from newsmon.ops.stack import group_lag

    members = [settings] if isinstance(settings, Settings) else list(settings)
    pids = [pid] if pid is None or isinstance(pid, int) else list(pid)

    def read_counters() -> dict[str, float]:
        names = ("newsmon_records_consumed_total", "newsmon_records_produced_total")
        pages = [counters(m, service, *names) for m in members]
        return {n: sum(p[n] for p in pages) for n in names}

    def all_healthy() -> bool:
        return all(ops_health(m, service) == "ok" for m in members)

    def record_times() -> tuple[float | None, float | None]:
        stamps = [last_record_times(m, service) for m in members]
        ins = [i for i, _ in stamps if i is not None]
        outs = [o for _, o in stamps if o is not None]
        return (max(ins) if ins else None), (max(outs) if outs else None)

    def cpu_used() -> list[float] | None:
        used = [cpu_seconds(p) for p in pids]
        return None if None in used else [u for u in used if u is not None]

    def drained(svc: str) -> bool:
        # Outputs still for `settle_s` is not enough: a stateful stage that pauses looks
        # finished. Its group must also have committed every input and internal record (seen
        # once without this check: a fed tracker run of 12,964 observations/s, between runs
        # of 3,776 and 2,600, whose wall time was shorter than the others' by 13-22 s).
        return asyncio.run(group_lag(members[0])).get(svc, 0) == 0

    deadline = time.monotonic() + timeout
    first: tuple[float, float] | None = None
    # (wall time, service CPU, machine busy and steal) at the clock's start and at the last
    # poll that saw a counter move.
    cpu_at_first: tuple[float, list[float] | None, tuple[float, float] | None] | None = None
    cpu_at_change: tuple[float, list[float] | None, tuple[float, float] | None] | None = None
    last_in = -1.0
    idle_at: float | None = None
    in_done_at: float | None = None
    last_out = -1.0
    out_changed_at = time.time()
    while time.monotonic() < deadline:
        got = read_counters()
        consumed = got["newsmon_records_consumed_total"]
        produced = got["newsmon_records_produced_total"]
        now = time.time()
        if math.isnan(consumed) or math.isnan(produced):
            if time.monotonic() > deadline - timeout + 120:
                raise RuntimeError(f"cannot read {service}'s /metrics")
            time.sleep(0.25)
            continue
        # The clock starts when the service has its partitions (health ok) or is first seen
        # consuming, whichever comes first: start-up is not part of the service's rate. A
        # service first seen having consumed already started after the last poll that saw it
        # idle (at most 0.1 s before): the clock starts there, with nothing consumed.
        if first is None and consumed > 0 and idle_at is not None:
            first = (idle_at, 0.0)
        elif first is None and (consumed > 0 or all_healthy()):
            first = (now, consumed)
        elif first is None:
            idle_at = now
        if first is not None and cpu_at_first is None:
            cpu_at_first = (now, cpu_used(), machine_busy_seconds())
        if cpu_at_first is not None and (produced != last_out or consumed != last_in):
            cpu_at_change = (now, cpu_used(), machine_busy_seconds())
        last_in = consumed
        if produced != last_out:
            last_out, out_changed_at = produced, now
        if in_done_at is None and consumed >= expected:
            in_done_at = now
        if in_done_at is not None and now - out_changed_at >= settle_s and drained(service):
            # The polls see the end up to one interval late: the service's own times of its
            # last input and output record are exact (and never later than the polls').
            stamp_in, stamp_out = record_times()
            used: dict[str, Any] = {}
            if cpu_at_first is not None and cpu_at_change is not None:
                (t0, svc0, mach0), (t1, svc1, mach1) = cpu_at_first, cpu_at_change
                used["cpu_window_s"] = round(t1 - t0, 2)
                if svc0 is not None and svc1 is not None:
                    used["service_cpu_s"] = round(sum(svc1) - sum(svc0), 2)
                    if len(members) > 1:
                        per_worker = [round(b - a, 2) for a, b in zip(svc0, svc1, strict=True)]
                        used["worker_cpu_s"] = per_worker
                if mach0 is not None and mach1 is not None:
                    used["machine_cpu_s"] = round(mach1[0] - mach0[0], 2)
                    used["machine_steal_s"] = round(mach1[1] - mach0[1], 2)
            if len(members) > 1:
                name = "newsmon_records_consumed_total"
                used["worker_consumed"] = [counters(m, service, name)[name] for m in members]
            return {
                **used,
                "first_seen_at": first[0] if first else in_done_at,
                "consumed_when_first_seen": first[1] if first else 0.0,
                "input_done_at": min(in_done_at, stamp_in or in_done_at),
                "output_done_at": min(out_changed_at, stamp_out or out_changed_at),
                "consumed": consumed,
                "produced": produced,
            }
        # Every poll renders the service's whole /metrics page (CPU the service would
        # otherwise spend on its records): ten times a second until the service is first seen
        # (the clock's start), then twice a second.
        time.sleep(0.1 if first is None else 0.5)
    raise TimeoutError(f"{service} did not consume {expected} records within {timeout:.0f}s")


# ---------------------------------------------------------------------------------------------
# The stack under measurement


@dataclass
class Stack:
    """The broker (unless an existing cluster is used) and the services of one run."""

    base: Settings
    root: Path
    memory: MemorySampler
    profile_dir: Path | None = None
    profiled: set[str] = field(default_factory=set)
    started_names: list[tuple[Settings, str]] = field(default_factory=list)

    def settings(self, name: str, **over: Any) -> Settings:
        """Settings of one measured stack: its own topic prefix, state folder and ports."""
        values: dict[str, Any] = {
            "kafka_bootstrap": self.base.bootstrap,
            "topic_prefix": f"bench{uuid.uuid4().hex[:6]}.{name}.",
            "state_dir": self.root / name,
            "ingester_port": free_port(),
            "extractor_port": free_port(),
            "tracker_port": free_port(),
            "alerter_port": free_port(),
            "prometheus_port": free_port(),
            "log_format": "json",
        }
        values.update(over)
        return load_settings(**values)

    def start(
        self, settings: Settings, services: Sequence[str], label: str = "", wait: bool = True
    ) -> None:
        from newsmon.ops import stack

        for svc in services:
            if self.profile_dir is not None and svc in self.profiled:
                self._spawn_profiled(settings, svc, label)
            else:
                stack.start_service(settings, svc)
            self.started_names.append((settings, svc))
        if wait:
            stack.wait_healthy(settings, tuple(services), timeout=240)
        else:
            time.sleep(0.5)  # the pid check needs the process to have exec'd
        for svc in services:
            self.memory.watch(f"{svc}{label}", stack.service_status(settings, svc).pid)

    def _spawn_profiled(self, settings: Settings, svc: str, label: str) -> None:
        """`newsmon run <svc>` under pyinstrument; the session file is written when the
        service stops (SIGTERM makes Faust shut down cleanly and the profiler report)."""
        from newsmon.ops import procs, stack

        assert self.profile_dir is not None
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        name = f"{settings.state_dir.name}-{svc}{label.strip().replace('#', '')}"
        argv = [sys.executable, "-m", "pyinstrument", "-i", "0.002", "-r", "pyisession"]
        argv += ["-o", str(self.profile_dir / f"{name}.pyisession")]
        argv += ["-m", "newsmon.cli.main", "run", svc]
        env = {**os.environ, **to_env(settings), "NEWSMON_LOG_FORMAT": "json"}
        procs.spawn(argv, stack.pidfile(settings, svc), stack.logfile(settings, svc), env=env)

    def stop_all(self) -> None:
        from newsmon.ops import stack

        for settings, svc in reversed(self.started_names):
            with contextlib.suppress(Exception):
                stack.stop_service(settings, svc)
        self.started_names.clear()


@contextlib.contextmanager
def broker_for(root: Path, heap: str, memory: MemorySampler | None = None) -> Iterator[Settings]:
    """Settings pointing at `NEWSMON_KAFKA_BOOTSTRAP`, or at a local broker started here (then
    watched by `memory` as "broker (JVM)", for its RSS and the pipeline phases' CPU)."""
    env = load_settings()
    if env.kafka_bootstrap:
        log(f"using the existing cluster at {env.kafka_bootstrap}")
        yield env
        return
    from newsmon.ops import broker

    bs = load_settings(
        state_dir=root / "broker",
        broker_port=free_port(),
        controller_port=free_port(),
        broker_heap=heap,
    )
    t = time.monotonic()
    addr = broker.start(bs, quiet=True, properties=BROKER_PROPERTIES)
    log(f"local broker at {addr} ({time.monotonic() - t:.1f}s)")
    if memory is not None:
        memory.watch(BROKER_NAME, broker.status(bs))
    try:
        yield load_settings(kafka_bootstrap=addr)
    finally:
        broker.stop(bs)
        log("local broker stopped")


#: The benchmark's local broker: Kafka's own default delay of a new group's first assignment
#: (the project's broker template has 0, for fast tests), so that the workers of a fed run,
#: started together, start with their partitions shared.
BROKER_PROPERTIES = {"group.initial.rebalance.delay.ms": "3000"}

#: The local broker's name in the memory and CPU reports.
BROKER_NAME = "broker (JVM)"


class CpuMeter:
    """CPU seconds each watched process tree used between `start` and `stop`: its main process
    and its children apart (the extractor's spaCy workers are its children), with the
    machine's busy and stolen seconds over the same window. Where a pipeline phase's two cores
    went."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self._start: dict[str, tuple[float, dict[int, float]]] = {}
        self._t0 = 0.0
        self._machine0: tuple[float, float] | None = None

    def _read(self) -> dict[str, tuple[float, dict[int, float]]]:
        out: dict[str, tuple[float, dict[int, float]]] = {}
        for name, pid in self.pids.items():
            main = cpu_seconds(pid)
            if main is None:
                continue
            children = {c: cpu_seconds(c) or 0.0 for c in process_tree(pid) if c != pid}
            out[name] = (main, children)
        return out

    def start(self) -> CpuMeter:
        self._start = self._read()
        self._t0 = time.monotonic()
        self._machine0 = machine_busy_seconds()
        return self

    def stop(self) -> dict[str, Any]:
        end = self._read()
        wall = time.monotonic() - self._t0
        machine = machine_busy_seconds()
        by: dict[str, dict[str, float]] = {}
        for name, (main, children) in end.items():
            main0, children0 = self._start.get(name, (0.0, {}))
            # A child started during the window counts from zero.
            kids = sum(t - children0.get(c, 0.0) for c, t in children.items())
            by[name] = {"main_s": round(main - main0, 2), "children_s": round(kids, 2)}
        out: dict[str, Any] = {"window_s": round(wall, 2), "by_process": by}
        if machine is not None and self._machine0 is not None:
            out["machine_busy_s"] = round(machine[0] - self._machine0[0], 2)
            out["machine_steal_s"] = round(machine[1] - self._machine0[1], 2)
        return out


def cpu_summary(cpu: dict[str, Any]) -> str:
    """One line of a phase's CPU: each process tree's seconds, then the machine's."""
    parts = []
    for name, used in sorted(cpu.get("by_process", {}).items()):
        # The extractor's child processes are its spaCy workers.
        kids = f" (+ {used['children_s']} in child processes)" if used["children_s"] >= 0.05 else ""
        parts.append(f"{name} {used['main_s']}{kids}")
    machine = cpu.get("machine_busy_s")
    tail = f"; machine {machine} busy" if machine is not None else ""
    return f"{', '.join(parts)} s in {cpu.get('window_s')} s{tail}"


# ---------------------------------------------------------------------------------------------
# Pipeline phases


def replay_file(settings: Settings, path: Path, memory: MemorySampler) -> dict[str, Any]:
    """`newsmon replay PATH --as-fast-as-possible` as its own process (the real ingest path)."""
    env = {**os.environ, **to_env(settings), "NEWSMON_LOG_FORMAT": "json"}
    argv = [sys.executable, "-m", "newsmon.cli.main", "replay", str(path)]
    argv += ["--as-fast-as-possible", "--keep-going", "--republish"]
    t = time.time()
    proc = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    memory.watch("replay", proc.pid)
    out, err = proc.communicate(timeout=1800)
    memory.sample()
    memory.forget("replay")
    if proc.returncode != 0:
        raise RuntimeError(f"newsmon replay exited {proc.returncode}: {(err or out)[-2000:]}")
    return {"started_at": t, "elapsed_s": round(time.time() - t, 3)}


async def publish_paced(settings: Settings, articles: list[Article], rate: float) -> float:
    """Publish through the ingester's publisher at `rate` articles/s, stamping `ingested_at`
    at send time (so latency does not include time spent waiting in the schedule)."""
    from newsmon.core.models import utcnow
    from newsmon.ingester.publisher import KafkaPublisher

    pub = KafkaPublisher(settings)
    await pub.start()
    loop = asyncio.get_running_loop()
    futs = []
    try:
        t0 = loop.time()
        for i, a in enumerate(articles):
            delay = t0 + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            futs.append(await pub.enqueue(a.model_copy(update={"ingested_at": utcnow()}), "bench"))
        await asyncio.gather(*futs)
        return loop.time() - t0
    finally:
        await pub.stop()


def wait_drained(settings: Settings, services: Sequence[str], timeout: float) -> None:
    """Until the services' groups have no lag on their inputs, then until the tracker's and
    alerter's output counters stay still (the tracker re-partitions internally)."""
    from newsmon.ops.stack import group_lag

    deadline = time.monotonic() + timeout
    zero = 0
    lags: dict[str, int] = {}
    last_print = time.monotonic()
    while time.monotonic() < deadline:
        lags = asyncio.run(group_lag(settings))
        if all(lags.get(s, 0) == 0 for s in services):
            zero += 1
            if zero >= 2:
                break
        else:
            zero = 0
        if time.monotonic() - last_print > 15:
            log(f"  lag {lags}")
            last_print = time.monotonic()
        time.sleep(0.5)
    else:
        raise TimeoutError(f"the pipeline did not drain within {timeout:.0f}s: lag {lags}")
    for svc in ("tracker", "alerter"):
        if svc in services:
            wait_consumed(settings, svc, 0, timeout=max(10.0, deadline - time.monotonic()))


@dataclass
class PhaseOutput:
    raw: list[dict[str, Any]]
    records: dict[str, list[tuple[bytes | None, bytes]]]

    def decoded(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.records[kind]]


def collect(
    settings: Settings, start: dict[Any, int], kinds: Sequence[str] | None = None
) -> PhaseOutput:
    """The phase's articles (from news.articles.raw) and output records after `start`."""
    wanted = list(kinds) if kinds is not None else list(OUTPUTS)

    async def go() -> PhaseOutput:
        raw = (
            [json.loads(v) for _, v in await read_since(settings, start, topics.ARTICLES_RAW)]
            if kinds is None
            else []
        )
        recs = {k: await read_since(settings, start, OUTPUTS[k][0]) for k in wanted}
        return PhaseOutput(raw, recs)

    return asyncio.run(go())


def all_specs() -> list[topics.TopicSpec]:
    return [topics.ARTICLES_RAW, *(spec for spec, _ in OUTPUTS.values())]


def saturation_stats(ids: set[str], out: PhaseOutput) -> dict[str, Any]:
    """Throughput from the first ingested_at of the phase to its last output record."""
    raw = [r for r in out.raw if r["id"] in ids]
    t0 = min(parse_ts(r["ingested_at"]) or math.inf for r in raw)
    ends: dict[str, float] = {}
    counts: dict[str, int] = {}
    for kind, (_, ts_field) in OUTPUTS.items():
        recs = out.decoded(kind)
        if kind in ("entities", "observations", "events"):
            recs = [r for r in recs if r.get("article_id") in ids]
        counts[kind] = len(recs)
        stamps = [parse_ts(r.get(ts_field)) for r in recs]
        stamps_ok = [s for s in stamps if s is not None]
        if stamps_ok:
            ends[kind] = max(stamps_ok)
    extracted = {r["article_id"] for r in out.decoded("entities") if r["article_id"] in ids}
    t_extract = max(ends.get(k, 0.0) for k in ("entities", "observations", "events"))
    t_end = max(ends.values())
    n = len(ids)
    return {
        "articles": n,
        "ingested": len(raw),
        "extracted": len(extracted),
        "records": counts,
        "seconds": round(t_end - t0, 3),
        "articles_per_s": round(n / (t_end - t0), 2),
        "extractor_seconds": round(t_extract - t0, 3),
        "extractor_articles_per_s": round(n / (t_extract - t0), 2),
    }


def latency_stats(ids: set[str], out: PhaseOutput) -> dict[str, Any]:
    """Per-article ingest→results, ingest→tracker output and ingest→alert latencies."""
    ingested = {
        r["id"]: parse_ts(r["ingested_at"]) for r in out.raw if r["id"] in ids and r["ingested_at"]
    }
    done: dict[str, float] = {}
    for kind in ("entities", "observations", "events"):
        for r in out.decoded(kind):
            aid = r.get("article_id")
            at = parse_ts(r.get("extracted_at"))
            if aid in ingested and at is not None:
                done[aid] = max(done.get(aid, 0.0), at)
    results = [done[a] - ingested[a] for a in done if ingested[a] is not None]
    tracker: list[float] = []
    first = min((t for t in ingested.values() if t is not None), default=math.inf)
    for kind in ("metrics", "actors"):
        for r in out.decoded(kind):
            ing, upd = parse_ts(r.get("ingested_at")), parse_ts(r.get("updated_at"))
            if ing is not None and upd is not None and ing >= first - 1:
                tracker.append(upd - ing)
    alerts: list[float] = []
    for r in out.decoded("alerts"):
        times = [ingested[a] for a in r.get("article_ids", []) if ingested.get(a) is not None]
        created = parse_ts(r.get("created_at"))
        if times and created is not None:
            alerts.append(created - max(t for t in times if t is not None))
    return {
        "articles": len(ids),
        "results_s": percentiles(results),
        "tracker_s": percentiles(tracker),
        "alert_s": percentiles(alerts),
        "missing_results": len(ids) - len(done),
    }


# ---------------------------------------------------------------------------------------------
# Feeding the tracker and the alerter directly


def _shift(value: str, days: int) -> str:
    """An ISO date or date-time `days` later."""
    if len(value) == 10:
        return (dt.date.fromisoformat(value) + dt.timedelta(days=days)).isoformat()
    return (dt.datetime.fromisoformat(value) + dt.timedelta(days=days)).isoformat()


def _suffix_ids(rec: dict[str, Any], kind: str, sfx: str, days: int) -> dict[str, Any]:
    """A copy of an extractor/tracker record as if reported `days` later by other articles:
    new article, observation, event, series and actor ids, and dates moved by `days`."""
    rec = json.loads(json.dumps(rec))
    for name in ("published_at", "event_time", "as_of", "date", "first_seen", "window_end"):
        if isinstance(rec.get(name), str):
            rec[name] = _shift(rec[name], days)
    if "article_id" in rec:
        rec["article_id"] += sfx
    if "article_ids" in rec:
        rec["article_ids"] = [a + sfx for a in rec["article_ids"]]
    for item in rec.get("observations", []):
        item["id"] += sfx
        item["as_of"] = _shift(item["as_of"], days)
        if item.get("linked_to"):
            item["linked_to"] += sfx
    # (A relation-tone record's `events` is a count, not a list.)
    for item in rec["events"] if isinstance(rec.get("events"), list) else []:
        item["id"] += sfx
        item["date"] = _shift(item["date"], days)
    for ev in rec.get("evidence", []):
        if isinstance(ev, dict) and "article_id" in ev:
            ev["article_id"] += sfx
    if kind == "metrics":
        rec["series_id"] += sfx
        if rec.get("previous_as_of"):
            rec["previous_as_of"] = _shift(rec["previous_as_of"], days)
        for p in rec.get("points", []):
            p["as_of"] = _shift(p["as_of"], days)
            p["article_ids"] = [a + sfx for a in p.get("article_ids", [])]
            for ev in p.get("evidence", []):
                ev["article_id"] += sfx
    if kind == "actors":
        rec["actor"]["id"] += sfx
        if rec.get("target"):
            rec["target"]["id"] += sfx
        if rec.get("first_article_id"):
            rec["first_article_id"] += sfx
        if rec.get("last_event"):
            rec["last_event"]["id"] += sfx
            rec["last_event"]["date"] = _shift(rec["last_event"]["date"], days)
    return rec


def _span_days(recs: dict[str, list[dict[str, Any]]]) -> int:
    days = [
        dt.datetime.fromisoformat(r[k]).date()
        for items in recs.values()
        for r in items
        for k in ("published_at", "event_time")
        if isinstance(r.get(k), str)
    ]
    return (max(days) - min(days)).days + 1 if days else 1


def replicate(
    recs: dict[str, list[dict[str, Any]]], key_field: dict[str, str], copies: int
) -> dict[str, list[tuple[bytes | None, bytes]]]:
    """`copies` copies of the records, each later copy dated after the previous one."""
    out: dict[str, list[tuple[bytes | None, bytes]]] = {k: [] for k in recs}
    span = _span_days(recs)
    for c in range(copies):
        sfx = "" if c == 0 else f"-x{c}"
        for kind, items in recs.items():
            for r in items:
                r2 = _suffix_ids(r, kind, sfx, c * span) if sfx else r
                key: Any = r2
                for part in key_field[kind].split("."):
                    key = key[part]
                out[kind].append(
                    (str(key).encode(), json.dumps(r2, separators=(",", ":")).encode())
                )
    return out


#: Iterations of the machine-speed probe (0.15 to 0.3 s of one core on the reference machine).
SPEED_PROBE_LOOPS = 5_000_000


def speed_probe() -> float:
    """Seconds a fixed pure-Python loop takes now: the same work took 0.40 to 0.76 s on the
    reference machine (a shared VM) within minutes, so each fed run records it."""
    t = time.perf_counter()
    total = 0
    for i in range(SPEED_PROBE_LOOPS):
        total += i * i
    return round(time.perf_counter() - t, 3)


def fed_runs(
    runs: int,
    once: Callable[[int], tuple[dict[str, Any], Any]],
    service: str,
    unit: str,
) -> tuple[dict[str, Any], Any]:
    """Run a fed measurement `runs` times, each on fresh topics; the median run's figures,
    with every run's rate and machine-speed probe, and the first run's outputs."""
    results: list[dict[str, Any]] = []
    first_outs: Any = None
    for i in range(runs):
        probe = speed_probe()
        stats, outs = once(i + 1)
        stats["speed_probe_s"] = probe
        results.append(stats)
        if i == 0:
            first_outs = outs
        rate = stats["observations_per_s"]
        cpu = ""
        if "service_cpu_s" in stats and "machine_cpu_s" in stats:
            cpu = (
                f", in {stats['cpu_window_s']} s: {service} CPU "
                f"{stats['service_cpu_s']} s, machine {stats['machine_cpu_s']} s busy, "
                f"{stats.get('machine_steal_s', 0)} s stolen"
            )
            if "worker_cpu_s" in stats:
                cpu += f"; by worker: CPU {stats['worker_cpu_s']} s"
                cpu += f", records {stats.get('worker_consumed')}"
        log(f"{service} fed run {i + 1}/{runs}: {rate} {unit} (speed probe {probe} s{cpu})")
    ordered = sorted(results, key=lambda r: r["observations_per_s"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    kept = (
        "observations_per_s",
        "records_per_s",
        "speed_probe_s",
        "seconds_to_last_output",
        "rebalanced",
        "rebalanced_runs_discarded",
        *CPU_FIELDS,
    )
    median["runs"] = [{k: r[k] for k in kept if k in r} for r in results]
    return median, first_outs


async def create_deletable(settings: Settings, specs: Sequence[topics.TopicSpec]) -> None:
    """Create the fed input topics first, with `cleanup.policy=delete`.

    `news.metrics` is compacted: Kafka's log cleaner can remove older updates of a series from
    closed segments while the fed service is still reading them, and the stage, which waits
    for every record it published, then never ends (seen once: 4,229 of 18,130 records gone).
    The services read a topic the same way whatever its cleanup policy.
    """
    from newsmon.ops.topics import new_topic

    async with admin_client(settings) as admin:
        await admin.create_topics(
            [new_topic(spec, settings, **{"cleanup.policy": "delete"}) for spec in specs]
        )


async def delete_run_topics(settings: Settings) -> int:
    """Delete every topic of a finished fed run (its prefix): the topics of earlier runs left
    on the broker made later runs slower (the broker's request handling grew with them, about
    double by a third two-worker run); each run starts from the same broker. The number
    deleted."""
    async with admin_client(settings) as admin:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if names:
            await admin.delete_topics(names)
        return len(names)


def group_assignments(members: Sequence[Settings], service: str) -> list[int | None]:
    """How many partition assignments each worker received since it started (its /health):
    more than one means the group rebalanced after its first assignment; None, that the
    worker is rebalancing now or did not answer."""
    from newsmon.ops.stack import health

    counts: list[int | None] = []
    for m in members:
        _, detail = health(m, service, timeout=2.0)
        n = detail.get("assignments")
        counts.append(n if isinstance(n, int) and not detail.get("rebalancing") else None)
    return counts


#: Attempts at a fed run of several workers: a run during which their group rebalanced (a
#: worker joined after the others had started) is run again on fresh topics.
REBALANCE_ATTEMPTS = 3


def feed_service(
    stack: Stack,
    service: str,
    inputs: dict[str, topics.TopicSpec],
    records: dict[str, list[tuple[bytes | None, bytes]]],
    items: int,
    collect_outputs: Sequence[str] = (),
    run: int = 1,
    workers: int = 1,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Start `service` alone on fresh topics and a fresh state folder (one per `run`), publish
    the records, time until consumed; returns the figures and the decoded records of
    `collect_outputs` (output kinds). With `workers` > 1, that many processes of the service
    in one group, each with its own port and state folder; a run whose group rebalanced is
    run again (at most `REBALANCE_ATTEMPTS` in all) and the figures say how many were
    discarded (`rebalanced_runs_discarded`)."""
    name = f"feed-{service}" + (f"-{workers}workers" if workers > 1 else "")
    base = name if run == 1 else f"{name}-{run}"
    discarded = 0
    attempts = REBALANCE_ATTEMPTS if workers > 1 else 1
    for attempt in range(1, attempts + 1):
        label = base if attempt == 1 else f"{base}-again{attempt - 1}"
        stats, outs = _feed_once(
            stack, service, inputs, records, items, collect_outputs, label, workers
        )
        if not stats.get("rebalanced"):
            break
        discarded += 1
        if attempt < attempts:
            log(f"  {service}: the group rebalanced during the run; running it again")
    if workers > 1:
        stats["rebalanced_runs_discarded"] = discarded - int(bool(stats.get("rebalanced")))
    return stats, outs


def _feed_once(
    stack: Stack,
    service: str,
    inputs: dict[str, topics.TopicSpec],
    records: dict[str, list[tuple[bytes | None, bytes]]],
    items: int,
    collect_outputs: Sequence[str],
    label: str,
    workers: int,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """One fed run (`feed_service`) under the topic prefix and state folder `label`."""
    from newsmon.ops import stack as ops
    from newsmon.ops.topics import ensure_topics

    settings = stack.settings(label)
    # The other workers' state folders are inside the first one's (no run's name is another
    # run's worker's: a worker started on another run's RocksDB files refuses them).
    members = [settings] + [
        settings.model_copy(
            update={f"{service}_port": free_port(), "state_dir": settings.state_dir / f"worker{i}"}
        )
        for i in range(2, workers + 1)
    ]
    asyncio.run(create_deletable(settings, list(inputs.values())))
    asyncio.run(ensure_topics(settings))
    total = sum(len(v) for v in records.values())

    async def fill() -> None:
        await asyncio.gather(
            *(publish_records(settings, inputs[k], v) for k, v in records.items() if v)
        )

    # Fill the input topics first, then start the service: the figure is the service's own
    # rate, from the first record it is seen to consume to its last output, not the
    # producer's (publishing while the service ran took CPU from it inside its window).
    t = time.monotonic()
    try:
        asyncio.run(fill())
    except Exception as exc:
        raise RuntimeError(f"could not publish the feed: {type(exc).__name__}: {exc}") from exc
    fill_s = time.monotonic() - t
    # Several workers are started together: the benchmark's broker holds a new group's first
    # assignment until no member has joined for 3 s (`BROKER_PROPERTIES`), so they start
    # with their partitions shared. A worker that joined later would stop the
    # others for a rebalance: the run says so (`rebalanced`).
    for i, member in enumerate(members, 1):
        label = " (fed)" if workers == 1 else f" (fed #{i})"
        stack.start(member, [service], label=label, wait=False)
    try:
        pids = [ops.service_status(m, service).pid for m in members]
        done = wait_consumed(members, service, total, timeout=1800, pid=pids)
        assignments = group_assignments(members, service) if workers > 1 else []

    finally:
        for member in members:
            ops.stop_service(member, service)
    t0 = done["first_seen_at"]
    share = 1.0 - done["consumed_when_first_seen"] / total  # what was measured of the feed
    t_in = done["input_done_at"] - t0
    t_all = max(done["input_done_at"], done["output_done_at"]) - t0
    if t_all <= 0 or share <= 0:
        raise RuntimeError("the feed was consumed before it could be timed; feed more (--feed)")
    outputs = collect(settings, {}, kinds=collect_outputs) if collect_outputs else None
    try:
        asyncio.run(delete_run_topics(settings))
    except Exception as exc:  # the figures stand; the next run starts on a busier broker
        log(f"could not delete the run's topics ({settings.topic_prefix}*): {exc}")
    stats = {
        "workers": workers,
        "input_records": total,
        "items": items,
        "fill_s": round(fill_s, 2),
        "produced": int(done["produced"]),
        "measured_share": round(share, 3),
        "seconds_to_consume": round(t_in, 3),
        "seconds_to_last_output": round(t_all, 3),
        "records_per_s": round(total * share / t_all, 1),
        "observations_per_s": round(items * share / t_all, 1),
    }
    # Where the run's time went: the service's own CPU, both cores' busy time in all.
    for name in CPU_FIELDS:
        if name in done:
            stats[name] = done[name]
    if workers > 1:
        stats["assignments"] = assignments
        stats["rebalanced"] = any(n is None or n > 1 for n in assignments)
    return stats, ({k: outputs.decoded(k) for k in collect_outputs} if outputs else {})


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Options:
    articles: int
    seed: int
    out: Path
    quick: bool
    latency_seconds: float
    feed_items: int
    fed_runs: int
    transport_messages: int
    profile: bool
    skip: set[str]
    broker_heap: str
    keep_state: bool


def checkpoint(res: dict[str, Any], out: Path) -> None:
    """Write the figures so far (`"partial": true`), so an interrupted run leaves them."""
    with contextlib.suppress(OSError, TypeError, ValueError):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**res, "partial": True}, indent=2, ensure_ascii=False) + "\n")


def _summary(value: Any) -> str:
    """The headline numbers of a stage's result, for the progress log."""
    if not isinstance(value, dict):
        return ""
    keys = ("articles_per_s", "tokens_per_s", "messages_per_s", "observations_per_s")
    flat = {k: v for k, v in value.items() if k in keys}
    for sub in ("nlp_limit", "extractor", "results_s", "alert_s"):
        if isinstance(value.get(sub), dict):
            inner = value[sub]
            flat[sub] = {k: inner[k] for k in (*keys, "p50", "p99") if k in inner}
    return json.dumps(flat)


def libpython_shared() -> bool | None:
    """Whether this interpreter runs from a shared libpython (a plain build from source, as
    pyenv makes) rather than a static executable (a distribution's optimised build); None
    where /proc is not there. The figures depend on it (deploy/pick-python)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return any("libpython" in line for line in maps)
    except OSError:
        return None


def run(opts: Options) -> dict[str, Any]:
    res: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
            ),
            "note": MACHINE_NOTE,
            "python": platform.python_version(),
            "python_executable": os.path.realpath(sys.executable),
            "python_build": " ".join(platform.python_build()),
            "python_libpython_shared": libpython_shared(),
            "platform": platform.platform(),
        },
        "options": {
            "articles": opts.articles,
            "seed": opts.seed,
            "quick": opts.quick,
            "latency_seconds": opts.latency_seconds,
            "feed_items": opts.feed_items,
            "fed_runs": opts.fed_runs,
        },
        "errors": {},
    }
    errors: dict[str, str] = res["errors"]

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        if name in opts.skip:
            log(f"{name}: skipped")
            return None
        checkpoint(res, opts.out)
        log(f"{name} ...")
        t = time.monotonic()
        try:
            value = fn()
        except Exception as exc:  # one failing stage must not lose the others' figures
            errors[name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} FAILED: {errors[name]}")
            traceback.print_exc(file=sys.stderr)
            return None
        log(f"{name} done in {time.monotonic() - t:.1f}s: {_summary(value)}")
        return value

    t = time.perf_counter()
    articles = generate(opts.articles, seed=opts.seed)
    words = [len(a.body.split()) for a in articles]
    res["articles"] = {
        "count": len(articles),
        "generate_s": round(time.perf_counter() - t, 3),
        "words_mean": round(statistics.fmean(words), 1),
        "words_min": min(words),
        "words_max": max(words),
        "bytes_mean": round(statistics.fmean(len(a.body.encode()) for a in articles), 1),
    }
    base = load_settings()
    profile_dir = opts.out.parent / "profiles" if opts.profile else None

    nlp = stage("nlp_and_extractor", lambda: measure_nlp_and_extractor(base, articles, profile_dir))
    if nlp:
        res["spacy"] = {k: nlp[k] for k in ("model", "model_version", "components", "batch_size")}
        res["nlp_limit"] = nlp["nlp_limit"]
        res["extractor"] = nlp["extractor"]
        extracted = nlp["_records"]
    else:
        extracted = []

    tmp = Path(tempfile.mkdtemp(prefix="newsmon-bench-"))
    memory = MemorySampler().start()

    def new_stack(cluster: Settings, root: Path) -> Stack:
        stack = Stack(cluster, root, memory)
        if opts.profile:
            stack.profile_dir = profile_dir
            stack.profiled = {"extractor", "tracker", "alerter"}
        return stack

    try:
        with broker_for(tmp, opts.broker_heap, memory) as cluster:
            res["broker"] = "existing" if load_settings().kafka_bootstrap else "local"
            stack = new_stack(cluster, tmp)
            try:
                phases = run_kafka_stages(opts, res, stage, stack, articles)
            finally:
                stack.stop_all()
        # The fed stages on a fresh local broker: after the pipeline phases the first one
        # spent up to a whole core on request handling in some fed runs and not in others
        # (its threads sampled), which the fed service, on the same two cores, paid for.
        fed_root = tmp / "fed"
        with broker_for(fed_root, opts.broker_heap, memory) as cluster:
            stack = new_stack(cluster, fed_root)
            try:
                run_fed_stages(opts, res, stage, stack, phases.get("w1"), extracted)
            finally:
                stack.stop_all()
    finally:
        memory.stop()
        res["memory"] = memory.report()
        if not opts.keep_state:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            res["state_dir"] = str(tmp)
    if profile_dir is not None:
        res["profiles"] = render_profiles(profile_dir)
    derive(res)
    res["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return res


def run_kafka_stages(
    opts: Options,
    res: dict[str, Any],
    stage: Callable[[str, Callable[[], Any]], Any],
    stack: Stack,
    articles: list[Article],
) -> dict[str, PhaseOutput]:
    """The transport and the pipeline phases on `stack`'s broker; their outputs by phase."""
    from newsmon.core.serde import encode
    from newsmon.ops.topics import ensure_topics

    transport_settings = stack.settings("transport")
    # The same payloads, cycled to at least `transport_messages` so the figure is not just the
    # client's start-up cost on a small run.
    once = [(a.id.encode(), encode(a)) for a in articles]
    rounds = max(1, math.ceil(opts.transport_messages / len(once)))
    payloads = [(k + f"-{r}".encode(), v) for r in range(rounds) for k, v in once]
    res["transport"] = stage(
        "transport", lambda: asyncio.run(measure_transport(transport_settings, payloads))
    )

    settings = stack.settings("pipeline")
    services = ("ingester", "extractor", "tracker", "alerter")

    def start_stack() -> bool:
        asyncio.run(ensure_topics(settings))
        t = time.monotonic()
        stack.start(settings, services)
        res.setdefault("pipeline", {})["startup_s"] = round(time.monotonic() - t, 1)
        return True

    phases: dict[str, PhaseOutput] = {}
    if stage("start_services", start_stack):
        pipeline_phases(opts, res, stage, stack, settings, articles, phases)
    stack.stop_all()
    return phases


def run_fed_stages(
    opts: Options,
    res: dict[str, Any],
    stage: Callable[[str, Callable[[], Any]], Any],
    stack: Stack,
    w1: PhaseOutput | None,
    extracted: list[tuple[str, ...]],
) -> None:
    """The tracker and the alerter fed directly, on `stack`'s broker: the records of the
    1-worker pipeline phase `w1` (else the in-process extractor's `extracted`)."""
    fed: dict[str, list[dict[str, Any]]] = {}

    def feed_tracker() -> dict[str, Any]:
        kinds = ("entities", "observations", "events")
        if w1 is not None:
            # In article order (generated ids sort by index): the topics are read partition
            # by partition, in an order that changes from run to run, and "the first
            # articles" would otherwise be a different sample each time.
            recs = {k: sorted(w1.decoded(k), key=lambda r: str(r["article_id"])) for k in kinds}
            res["feed_source"] = "the extractor service's records of the 1-worker run"
        elif extracted:
            recs = {k: [json.loads(r[i]) for r in extracted] for i, k in enumerate(kinds)}
            res["feed_source"] = "the in-process extractor's records"
        else:
            raise RuntimeError("no extractor records to feed (both extractor stages failed)")
        # The first articles' records until they hold `feed_items` observations (copied
        # under new ids and later dates when the run has fewer).
        take, count = 0, 0
        while take < len(recs["observations"]) and count < opts.feed_items:
            count += len(recs["observations"][take]["observations"])
            take += 1
        chosen = {r["article_id"] for r in recs["observations"][:take]}
        recs = {k: [r for r in v if r["article_id"] in chosen] for k, v in recs.items()}
        per_copy = count
        copies = max(1, math.ceil(opts.feed_items / max(1, per_copy)))
        data = replicate(recs, dict.fromkeys(kinds, "article_id"), copies)
        fed["events"] = [json.loads(v) for _, v in data["events"]]
        # The same records through the same code in process first (no Kafka, no Faust).
        logic = tracker_logic(data, stack.base.metrics_window_days, stack.base.metrics_coalesce)
        log(f"tracker logic in process: {logic['observations_per_s']} observations/s")
        inputs = {k: OUTPUTS[k][0] for k in kinds}
        all_items = sum(logic["items"].values())

        def once(run: int, workers: int = 1) -> tuple[dict[str, Any], Any]:
            stats, outs = feed_service(
                stack,
                "tracker",
                inputs,
                data,
                per_copy * copies,
                ("metrics", "actors") if run == 1 and workers == 1 else (),
                run=run,
                workers=workers,
            )
            # Every routed item (observations, actor sightings, events) in the same time.
            stats["items_per_s"] = round(
                stats["observations_per_s"] * all_items / per_copy / copies, 1
            )
            return stats, outs

        stats, outs = fed_runs(opts.fed_runs, once, "tracker", "observations/s")
        fed.update(outs)
        result = {**stats, "all_items": all_items, "logic": logic}
        if "tracker_fed_2_workers" not in opts.skip:
            # The tracker scales by partitions like the extractor: two processes in one group
            # (state is partitioned by series / actor / pair), on the same feed.
            try:
                result["workers_2"] = fed_runs(
                    opts.fed_runs,
                    lambda run: once(run, workers=2),
                    "tracker (2 workers)",
                    "observations/s",
                )[0]
            except Exception as exc:
                res["errors"]["tracker_fed_2_workers"] = f"{type(exc).__name__}: {exc}"
                log(f"tracker_fed_2_workers FAILED: {exc}")
        return result

    res["tracker"] = stage("tracker_fed", feed_tracker)

    def feed_alerter() -> dict[str, Any]:
        if not fed.get("metrics") and not fed.get("actors"):
            raise RuntimeError("needs the tracker's records from the tracker_fed stage")
        recs = {k: fed.get(k, []) for k in ("metrics", "actors", "events")}
        per_copy = sum(len(v) for v in recs.values())
        copies = max(1, math.ceil(opts.feed_items / max(1, per_copy)))
        key_field = {"metrics": "series_id", "actors": "actor.id", "events": "article_id"}
        data = replicate(recs, key_field, copies)
        logic = alerter_logic(data, stack.base.rules_path)
        log(f"alerter logic in process: {logic['records_per_s']} records/s")
        inputs = {"metrics": topics.METRICS, "actors": topics.ACTORS, "events": topics.EVENTS}
        stats = fed_runs(
            opts.fed_runs,
            lambda run: feed_service(stack, "alerter", inputs, data, per_copy * copies, run=run),
            "alerter",
            "records/s",
        )[0]
        # The mix matters: a news.metrics record costs several times an actor record.
        return {**stats, "logic": logic, "feed": {k: len(v) for k, v in data.items()}}

    res["alerter"] = stage("alerter_fed", feed_alerter)


def pipeline_phases(
    opts: Options,
    res: dict[str, Any],
    stage: Callable[[str, Callable[[], Any]], Any],
    stack: Stack,
    settings: Settings,
    articles: list[Article],
    phases: dict[str, PhaseOutput],
) -> None:
    """Saturation with one worker, latency at half that rate, saturation with two workers."""
    services = ("ingester", "extractor", "tracker", "alerter")
    pipeline = res.setdefault("pipeline", {})

    def saturate(label: str, batch: list[Article]) -> dict[str, Any]:
        path = write_jsonl(batch, stack.root / f"{label}.jsonl")
        start = asyncio.run(end_offsets(settings, all_specs()))
        meter = CpuMeter(stack.memory.pids).start()
        rep = replay_file(settings, path, stack.memory)
        wait_drained(settings, services[1:], timeout=3600)
        cpu = meter.stop()
        out = collect(settings, start)
        phases[label] = out
        stats = saturation_stats({a.id for a in batch}, out)
        stats["replay_process_s"] = rep["elapsed_s"]
        stats["cpu"] = cpu
        log(f"  CPU: {cpu_summary(cpu)}")
        if stats["extracted"] < stats["articles"]:
            res["errors"][f"pipeline_{label}"] = (
                f"only {stats['extracted']} of {stats['articles']} articles reached news.entities "
                "although every group drained: the extractor dropped articles (see its log; "
                "--keep-state keeps it), so this throughput is not valid"
            )
        return stats

    pipeline["workers_1"] = stage("pipeline_1_worker", lambda: saturate("w1", articles))

    def latency() -> dict[str, Any]:
        sat = (pipeline.get("workers_1") or {}).get("articles_per_s")
        if not sat:
            raise RuntimeError("needs the 1-worker saturation figure")
        rate = sat / 2
        n = int(min(len(articles), max(20, rate * opts.latency_seconds)))
        # Fresh articles of the same kind, dated after the saturation set: re-sent copies
        # would be deduplicated downstream and produce no alerts to time.
        later = articles[-1].published_at.date() + dt.timedelta(days=1)
        batch = generate(n, seed=opts.seed + 1, start=later)
        start = asyncio.run(end_offsets(settings, all_specs()))
        spent = asyncio.run(publish_paced(settings, batch, rate))
        wait_drained(settings, services[1:], timeout=1800)
        out = collect(settings, start)
        stats = latency_stats({a.id for a in batch}, out)
        stats.update(rate_per_s=round(rate, 2), publish_s=round(spent, 2), workers=1)
        if stats["missing_results"]:
            res["errors"]["latency"] = (
                f"{stats['missing_results']} of {n} articles have no extractor results"
            )
        return stats

    res["latency"] = stage("latency_half_rate", latency)

    def second_worker() -> dict[str, Any]:
        # Same group (same topic prefix), its own port and state folder.
        s2 = settings.model_copy(
            update={"extractor_port": free_port(), "state_dir": stack.root / "pipeline-w2"}
        )
        stack.start(s2, ["extractor"], label="#2")
        time.sleep(3.0)  # let the group settle after the second member joined
        return saturate("w2", reidentify(articles, "w2"))

    pipeline["workers_2"] = stage("pipeline_2_workers", second_worker)


def derive(res: dict[str, Any]) -> None:
    """Ratios and targets from the measured figures (absent figures give absent ratios)."""
    nlp = (res.get("nlp_limit") or {}).get("articles_per_s")
    ext = (res.get("extractor") or {}).get("articles_per_s")
    pipe = res.get("pipeline") or {}
    ratios: dict[str, float] = {}
    if nlp and ext:
        ratios["extractor_vs_nlp"] = round(ext / nlp, 3)
    for workers in (1, 2):
        p = (pipe.get(f"workers_{workers}") or {}).get("articles_per_s")
        if nlp and p:
            ratios[f"pipeline_vs_nlp_x{workers}"] = round(p / (nlp * workers), 3)
    for svc, unit in (("tracker", "observations_per_s"), ("alerter", "records_per_s")):
        fed_rate = (res.get(svc) or {}).get("observations_per_s")
        logic_rate = ((res.get(svc) or {}).get("logic") or {}).get(unit)
        if fed_rate and logic_rate:
            ratios[f"{svc}_vs_logic"] = round(fed_rate / logic_rate, 3)
    if pipe.get("workers_1") and pipe.get("workers_2"):
        ratios["scaling_2_vs_1"] = round(
            pipe["workers_2"]["articles_per_s"] / pipe["workers_1"]["articles_per_s"], 3
        )
    res["ratios"] = ratios

    targets: list[dict[str, Any]] = []

    def target(name: str, goal: str, value: float | None, ok: bool | None) -> None:
        targets.append(
            {
                "name": name,
                "target": goal,
                "value": value,
                "pass": ok if value is not None else None,
            }
        )

    r = ratios.get("extractor_vs_nlp")
    target("extractor / nlp_limit", "≥ 0.85", r, r is not None and r >= TARGETS["extractor_vs_nlp"])
    for workers in (1, 2):
        r = ratios.get(f"pipeline_vs_nlp_x{workers}")
        target(
            f"pipeline / (nlp_limit × {workers})",
            "≥ 0.8",
            r,
            r is not None and r >= TARGETS["pipeline_vs_nlp_per_worker"],
        )
    lat = res.get("latency") or {}
    s_per_article = (res.get("nlp_limit") or {}).get("s_per_article")
    budget = TARGETS["p99_budget_s"] + s_per_article if s_per_article else None
    for key, label in (("results_s", "ingest→results"), ("alert_s", "ingest→alert")):
        p99 = (lat.get(key) or {}).get("p99")
        goal = f"< {budget:.2f} s (2 s + one article's NLP time)" if budget else "< 2 s + NLP"
        target(
            f"p99 {label} at half rate",
            goal,
            p99 if budget is not None else None,
            p99 is not None and budget is not None and p99 < budget,
        )
    for svc in ("tracker", "alerter"):
        v = (res.get(svc) or {}).get("observations_per_s")
        target(f"{svc} observations/s (fed directly)", "≥ 5000", v, v is not None and v >= 5000)
    # The tracker scaled by partitions (two processes in one group), reported beside it.
    v = ((res.get("tracker") or {}).get("workers_2") or {}).get("observations_per_s")
    if v is not None:
        target("tracker observations/s (fed directly, 2 workers)", "≥ 5000", v, v >= 5000)
    res["targets"] = targets


# ---------------------------------------------------------------------------------------------
# Output


def table(res: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any, unit: str = "") -> None:
        rows.append((label, "—" if value is None else f"{value} {unit}".strip()))

    g = lambda *path: _get(res, *path)  # noqa: E731
    add("machine", MACHINE_NOTE)
    add("articles", g("articles", "count"), f"(mean {g('articles', 'words_mean')} words)")
    add("NLP limit (spaCy nlp.pipe, 1 process)", g("nlp_limit", "articles_per_s"), "articles/s")
    add("  tokens", g("nlp_limit", "tokens_per_s"), "tokens/s")
    add("extractor (no Kafka)", g("extractor", "articles_per_s"), "articles/s")
    add("transport (aiokafka produce→consume)", g("transport", "messages_per_s"), "msgs/s")
    for workers in (1, 2):
        phase = f"workers_{workers}"
        label = f"pipeline, {workers} extractor worker{'s' if workers > 1 else ''}"
        add(label, g("pipeline", phase, "articles_per_s"), "articles/s")
        if g("pipeline", phase, "cpu") is not None:
            add("  CPU by process", cpu_summary(g("pipeline", phase, "cpu")))
    add("latency rate (half saturation)", g("latency", "rate_per_s"), "articles/s")
    for key, label in (
        ("results_s", "ingest→results"),
        ("tracker_s", "ingest→tracker"),
        ("alert_s", "ingest→alert"),
    ):
        p = g("latency", key) or {}
        if p.get("count"):
            add(
                f"  {label} p50/p95/p99",
                f"{p['p50']:.3f} / {p['p95']:.3f} / {p['p99']:.3f}",
                f"s (n={p['count']})",
            )
        else:
            add(f"  {label} p50/p95/p99", None)

    def runs(*svc: str) -> str | None:
        done = _get(res, *svc, "runs") or []
        rates = ", ".join(str(r["observations_per_s"]) for r in done)
        probes = ", ".join(str(r["speed_probe_s"]) for r in done)
        return f"{rates} (speed probe {probes} s)" if done else None

    def cpu(*svc: str) -> str | None:
        done = [r for r in _get(res, *svc, "runs") or [] if "service_cpu_s" in r]
        if not done:
            return None
        parts = [
            f"{r['service_cpu_s']}/{r.get('machine_cpu_s', '?')}/{r.get('machine_steal_s', '?')}"
            f" in {r.get('cpu_window_s', '?')}"
            for r in done
        ]
        return ", ".join(parts) + " s"

    add("tracker (fed directly, median run)", g("tracker", "observations_per_s"), "observations/s")
    add("  every run", runs("tracker"))
    add("  CPU: service/machine/stolen", cpu("tracker"))
    add("  all items (sightings, events too)", g("tracker", "items_per_s"), "items/s")
    add("  its logic in process", g("tracker", "logic", "observations_per_s"), "observations/s")
    if g("tracker", "workers_2") is not None:
        add(
            "tracker, 2 workers in one group",
            g("tracker", "workers_2", "observations_per_s"),
            "observations/s",
        )
        add("  every run", runs("tracker", "workers_2"))
        add("  CPU: both workers/machine/stolen", cpu("tracker", "workers_2"))
        add(
            "  CPU of each worker (median run)",
            g("tracker", "workers_2", "worker_cpu_s"),
            "s",
        )
    add("alerter (fed directly, median run)", g("alerter", "observations_per_s"), "records/s")
    add("  every run", runs("alerter"))
    add("  CPU: service/machine/stolen", cpu("alerter"))
    add("  its logic in process", g("alerter", "logic", "records_per_s"), "records/s")
    for name, m in (res.get("memory") or {}).items():
        add(f"peak RSS {name}", m["peak_rss_mib"], f"MiB ({m['processes']} proc)")
    for k, v in (res.get("ratios") or {}).items():
        add(f"ratio {k}", v)
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{a:<{width}}{b}" for a, b in rows]
    lines.append("")
    lines.append("targets:")
    for t in res.get("targets", []):
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        value = "—" if t["value"] is None else t["value"]
        lines.append(f"  [{mark}] {t['name']}: {value} (target {t['target']})")
    for name, err in (res.get("errors") or {}).items():
        lines.append(f"  error in {name}: {err}")
    return "\n".join(lines)


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def parse_args(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=int, default=None, help="articles per run (default 2000)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    p.add_argument("--quick", action="store_true", help="smoke run: 60 articles, short phases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--latency-seconds", type=float, default=None, help="length of the half-rate run"
    )
    p.add_argument("--feed", type=int, default=None, help="observations fed to tracker/alerter")
    p.add_argument(
        "--fed-runs",
        type=int,
        default=None,
        help="runs of each fed stage; the median run is the figure (default 3, --quick 1)",
    )
    p.add_argument(
        "--transport-messages", type=int, default=None, help="messages in the transport run"
    )
    p.add_argument("--profile", action="store_true", help="pyinstrument profile of the extractor")
    p.add_argument(
        "--skip",
        default="",
        help="comma-separated stages to skip (nlp_and_extractor, transport, pipeline_1_worker, "
        "latency_half_rate, pipeline_2_workers, tracker_fed, tracker_fed_2_workers, alerter_fed)",
    )
    p.add_argument("--broker-heap", default="1g")
    p.add_argument("--keep-state", action="store_true", help="keep the temporary state folder")
    a = p.parse_args(argv)
    return Options(
        articles=a.articles or (60 if a.quick else 2000),
        seed=a.seed,
        out=a.out,
        quick=a.quick,
        latency_seconds=a.latency_seconds or (10.0 if a.quick else 60.0),
        feed_items=a.feed or (2000 if a.quick else 10_000),
        fed_runs=max(1, a.fed_runs or (1 if a.quick else 3)),
        transport_messages=a.transport_messages or (5000 if a.quick else 20_000),
        profile=a.profile,
        skip={s.strip() for s in a.skip.split(",") if s.strip()},
        broker_heap=a.broker_heap,
        keep_state=a.keep_state,
    )


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    # aiokafka logs (and retries) NotLeaderForPartition while fresh topics elect leaders.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    opts = parse_args(argv)
    res = run(opts)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    print(table(res))
    print(f"\nwritten: {opts.out}")
    return 1 if res["errors"] else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
