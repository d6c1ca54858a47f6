"""What the fault tests share: a stack that cleans up after kills, waits, lag, RSS, topic reads.

Everything here talks to the real broker or to the real service processes; nothing mocks Kafka.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsmon.core import topics
from newsmon.core.config import SERVICES, Settings
from newsmon.core.kafka import client_kwargs
from newsmon.core.models import Alert, MetricUpdate, merge_series
from newsmon.core.procinfo import process_stats
from tests.helpers import ROOT, StackUnderTest

#: Contract topics each service's consumer group reads (ops.stack.INPUTS names the same).
INPUTS: dict[str, tuple[topics.TopicSpec, ...]] = {
    "extractor": (topics.ARTICLES_RAW,),
    "tracker": (topics.ENTITIES, topics.OBSERVATIONS, topics.EVENTS),
    "alerter": (topics.METRICS, topics.ACTORS, topics.EVENTS),
}


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


# --- Processes ---------------------------------------------------------------------------------


def session_pids(sid: int) -> list[int]:
    """Every live process of the session `sid` (a service and any worker processes it forked)."""
    # Fields after the command name: state ppid pgrp session ...
    return [pid for pid, f in process_stats() if f[0] != "Z" and int(f[3]) == sid]


def proc_status_kib(pid: int, field_name: str) -> int | None:
    """A `Vm*` line of /proc/<pid>/status in KiB (None if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class FaultStack(StackUnderTest):
    """A StackUnderTest that remembers every process it started and removes them all at close.

    A service killed with SIGKILL can leave worker processes (spaCy pools) behind; they share
    the service's session id (services are spawned with their own session), so `close` ends
    every process of every session this stack ever started, and nothing else.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sessions: set[int] = set()

    def start(self, *services: str, timeout: float = 180.0) -> None:
        names = services or SERVICES
        try:
            super().start(*names, timeout=timeout)
        finally:
            for svc in names:
                pid = self.pid(svc)
                if pid is not None:
                    self.sessions.add(pid)

    def kill(self, service: str) -> int:
        """SIGKILL the service (only its main process, as a crash would); returns its old pid."""
        pid = self.pid(service)
        assert pid is not None, f"{service} is not running, cannot kill it"
        self.stop(service, kill=True)
        return pid

    def health(self, service: str) -> dict[str, Any]:
        return self.ops.health(self.settings, service)[1]

    def assigned(self, service: str, spec: topics.TopicSpec) -> set[int]:
        """Partitions of a contract topic the service has, from its /health page."""
        name = topics.topic_name(spec, self.settings.topic_prefix)
        out = set()
        for tp in self.health(service).get("assigned", []):
            topic, _, part = tp.rpartition(":")
            if topic == name:
                out.add(int(part))
        return out

    def replay_in_background(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "newsmon.cli.main", "replay", *args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def log_tail(self, service: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log(service).splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        try:
            super().close()
        finally:
            for sid in self.sessions:
                for pid in session_pids(sid):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)


# --- Sampling memory ---------------------------------------------------------------------------


@dataclass
class MemorySampler:
    """Samples the RSS of services' process sessions every `interval` seconds in a thread.

    Per service it keeps the peak of the summed VmRSS of the session's processes, the VmHWM
    (kernel-tracked peak) of every process seen, read at each sample so that a worker process
    that exits still counts, and the largest sum of those peaks over the processes alive at
    one sample (what the soak's memory bounds are checked against).
    """

    stack: FaultStack
    services: tuple[str, ...]
    interval: float = 0.5
    peak_total_kib: dict[str, int] = field(default_factory=dict)
    hwm_kib: dict[str, dict[int, int]] = field(default_factory=dict)
    #: Per service, the largest sum of the peaks (VmHWM) of the processes alive together.
    peak_alive_hwm_kib: dict[str, int] = field(default_factory=dict)
    #: (seconds since start, {service: summed RSS in MiB}) every `every` samples.
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    every: int = 20
    _samples: int = 0
    _t0: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        now: dict[str, float] = {}
        for svc in self.services:
            main = self.stack.pid(svc)
            if main is None:
                continue
            total = 0
            alive_hwm = 0
            for pid in session_pids(main):
                rss = proc_status_kib(pid, "VmRSS") or 0
                hwm = proc_status_kib(pid, "VmHWM") or 0
                total += rss
                seen = self.hwm_kib.setdefault(svc, {})
                seen[pid] = max(seen.get(pid, 0), hwm)
                alive_hwm += seen[pid]
            self.peak_total_kib[svc] = max(self.peak_total_kib.get(svc, 0), total)
            self.peak_alive_hwm_kib[svc] = max(self.peak_alive_hwm_kib.get(svc, 0), alive_hwm)
            now[svc] = round(total / 1024, 1)
        if self._samples % self.every == 0:
            self.timeline.append((round(time.monotonic() - self._t0, 1), now))
        self._samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        with contextlib.suppress(Exception):
            self.sample()

    def main_hwm_mib(self, svc: str) -> float:
        main = self.stack.pid(svc)
        seen = self.hwm_kib.get(svc, {})
        return round(seen.get(main or -1, 0) / 1024, 1)

    def session_hwm_mib(self, svc: str) -> float:
        """Sum of the peaks of every process the service ever had, including processes that
        never ran together (a spaCy worker replaced after an in-place restart counts twice)."""
        return round(sum(self.hwm_kib.get(svc, {}).values()) / 1024, 1)

    def alive_hwm_mib(self, svc: str) -> float:
        """The service's peak: at each sample, the sum of the peaks (VmHWM, tracked by the
        kernel, so no spike between samples is missed) of the processes alive then; the
        largest such sum. An upper bound of the memory it held at any one time."""
        return round(self.peak_alive_hwm_kib.get(svc, 0) / 1024, 1)

    def peak_total_mib(self, svc: str) -> float:
        return round(self.peak_total_kib.get(svc, 0) / 1024, 1)


# --- Kafka: sizes, lag, reads ------------------------------------------------------------------


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _end_offsets(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        out: dict[str, int] = {}
        for name in names:
            parts = consumer.partitions_for_topic(name) or set()
            tps = [TopicPartition(name, p) for p in parts]
            ends = await consumer.end_offsets(tps) if tps else {}
            out[name] = sum(ends.values())
        return out
    finally:
        await consumer.stop()


def topic_sizes(settings: Settings, *specs: topics.TopicSpec) -> dict[str, int]:
    """Records written so far to each contract topic (sum of end offsets), by contract name."""
    names = {topics.topic_name(s, settings.topic_prefix): s.name for s in specs}
    sizes = _run(_end_offsets(settings, names))
    return {names[n]: v for n, v in sizes.items()}


def topic_size(settings: Settings, spec: topics.TopicSpec) -> int:
    return topic_sizes(settings, spec)[spec.name]


async def _pipeline_lag(
    settings: Settings, detail: dict[str, dict[str, int]] | None = None
) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        all_topics = set(await admin.list_topics())
        await consumer._client.force_metadata_update()
        lags: dict[str, int] = {}
        for svc, specs in INPUTS.items():
            group = f"{settings.topic_prefix}newsmon-{svc}"
            names = [topics.topic_name(s, settings.topic_prefix) for s in specs]
            # Faust's internal repartition topics (not changelogs, not its assignor topic).
            names += sorted(
                t
                for t in all_topics
                if t.startswith(group + "-") and not t.endswith("-changelog") and "__" not in t
            )
            tps = [
                TopicPartition(n, p)
                for n in names
                for p in (consumer.partitions_for_topic(n) or set())
            ]
            ends = await consumer.end_offsets(tps) if tps else {}
            committed = await admin.list_consumer_group_offsets(group)
            lag = 0
            for tp in tps:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag += max(0, ends[tp] - done)
                if detail is not None and ends[tp] > done:
                    where = f"{tp.topic.removeprefix(settings.topic_prefix)}:{tp.partition}"
                    detail.setdefault(svc, {})[where] = ends[tp] - done
            lags[svc] = lag
        return lags
    finally:
        await consumer.stop()
        await admin.close()


def pipeline_lag(
    settings: Settings, detail: dict[str, dict[str, int]] | None = None
) -> dict[str, int]:
    """Unconsumed records per service group, over its contract inputs AND internal topics
    (per topic-partition in `detail` when given)."""
    return dict(_run(_pipeline_lag(settings, detail)))


def settle(
    settings: Settings,
    services: Iterable[str],
    timeout: float,
    quiet_polls: int = 3,
    stack: FaultStack | None = None,
) -> float:
    """Wait until the groups of `services` have no lag anywhere (internal topics included) and
    the output topics stop growing; return the seconds it took.

    `newsmon`'s own drain looks at contract inputs only; a Faust service that re-keys through
    an internal topic has committed its input before the stateful step has run, so this also
    waits for the internal topics and for the outputs to be stable.
    """
    t0 = time.monotonic()
    wanted = set(services)
    outputs = tuple(topics.TOPICS.values())
    streak = 0
    last_sizes: dict[str, int] = {}
    lags: dict[str, int] = {}
    detail: dict[str, dict[str, int]] = {}
    while time.monotonic() - t0 < timeout:
        detail = {}
        try:
            lags = {k: v for k, v in pipeline_lag(settings, detail).items() if k in wanted}
            sizes = topic_sizes(settings, *outputs)
        except Exception as exc:  # the broker may still be coming back in broker tests
            lags, sizes = {"error": repr(exc)}, {}  # type: ignore[dict-item]
        if lags and all(v == 0 for v in lags.values()) and sizes == last_sizes:
            streak += 1
            if streak >= quiet_polls:
                return time.monotonic() - t0
        else:
            streak = 0
        last_sizes = sizes
        time.sleep(1.0)
    tails = ""
    if stack is not None:
        tails = "".join(f"\n--- {s} log tail ---\n{stack.log_tail(s, 25)}" for s in wanted)
    where = {k: v for k, v in detail.items() if k in wanted}
    raise AssertionError(
        f"pipeline of {settings.topic_prefix!r} did not settle within {timeout:.0f}s: "
        f"lag {lags}, by partition {where}{tails}"
    )


async def _read_raw(settings: Settings, name: str) -> list[tuple[bytes | None, bytes | None]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: dict[TopicPartition, list[tuple[bytes | None, bytes | None]]] = {tp: [] for tp in tps}
        remaining = {tp for tp in tps if ends[tp] > 0}
        idle = 0
        while remaining and idle < 10:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for r in records:
                    out[tp].append((r.key, r.value))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return [kv for tp in tps for kv in out[tp]]
    finally:
        await consumer.stop()


def read_raw(settings: Settings, name: str) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record of a topic by its full name, partition by partition."""
    return list(_run(_read_raw(settings, name)))


def table_state(
    settings: Settings, service: str, table: str, raw_keys: bool = False
) -> dict[str, Any]:
    """The latest value of every key in a Faust table's changelog topic (JSON values; JSON keys
    unless `raw_keys`).

    This is the state a worker recovers on restart, so comparing it between runs compares the
    recovered tables themselves.
    """
    name = f"{settings.topic_prefix}newsmon-{service}-{table}-changelog"
    state: dict[str, Any] = {}
    for key, value in read_raw(settings, name):
        k = (key or b"").decode("utf-8", "replace") if raw_keys else str(json.loads(key or b"0"))
        if value is None:
            state.pop(k, None)
        else:
            state[k] = json.loads(value)
    return state


# --- Results in comparable form ----------------------------------------------------------------


def series_state(updates: Iterable[MetricUpdate]) -> dict[str, list[tuple[Any, ...]]]:
    """The published state of every series (its news.metrics records merged in order)."""
    # One key, one partition: the read order is the publication order.
    last = merge_series(updates)
    return {
        sid: [
            (
                p.as_of.isoformat(),
                p.value,
                p.approximate,
                p.corroboration,
                tuple(sorted(p.sources)),
                tuple(sorted(p.article_ids)),
                tuple(sorted(p.alternatives)),
            )
            for p in u.points
        ]
        for sid, u in sorted(last.items())
    }


def actor_state(table: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """First sighting and counts of every actor, from the tracker's actors table."""
    return {
        k: (v["first_seen"], v["first_article_id"], v["mentions"], v["articles"])
        for k, v in sorted(table.items())
    }


def alert_ids(alerts: Iterable[Any]) -> collections.Counter[str]:
    return collections.Counter(a.id for a in alerts if isinstance(a, Alert))


def duplicates(counter: collections.Counter[str]) -> dict[str, int]:
    return {k: v for k, v in counter.items() if v > 1}


def by_article(records: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = collections.defaultdict(list)
    for r in records:
        out[r.article_id].append(r)
    return dict(out)


# --- Producing ---------------------------------------------------------------------------------


class Publisher(threading.Thread):
    """Publishes (spec, key, model-or-bytes) records in order, at `rate` records/s, in a thread.

    `sent` counts acknowledged records; `error` holds what stopped it, if anything.
    """

    def __init__(
        self, settings: Settings, records: list[tuple[topics.TopicSpec, str, Any]], rate: float
    ) -> None:
        super().__init__(name="fault-publisher", daemon=True)
        self.settings = settings
        self.records = records
        self.rate = rate
        self.sent = 0
        self.error: BaseException | None = None

    async def _publish(self) -> None:
        from aiokafka import AIOKafkaProducer

        from newsmon.core import serde
        from newsmon.core.kafka import producer_kwargs

        producer = AIOKafkaProducer(**producer_kwargs(self.settings))
        await producer.start()
        try:
            t0 = time.monotonic()
            for i, (spec, key, value) in enumerate(self.records):
                delay = t0 + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = value if isinstance(value, bytes) else serde.encode(value)
                await producer.send_and_wait(
                    topics.topic_name(spec, self.settings.topic_prefix), data, key=key.encode()
                )
                self.sent += 1
        finally:
            await producer.stop()

    def run(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"publisher still running after {timeout:.0f}s"
        assert self.error is None, f"publisher failed: {self.error!r}"
        assert self.sent == len(self.records)


def differences(expected: dict[str, Any], got: dict[str, Any], limit: int = 5) -> dict[str, Any]:
    """Keys whose values differ (missing on either side shown as None), at most `limit`."""
    keys = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
    return {k: {"expected": expected.get(k), "got": got.get(k)} for k in keys[:limit]}


def processed_markers(settings: Settings) -> dict[str, Any]:
    """The extractor's 'already processed' markers as its changelog holds them (by article id)."""
    return table_state(settings, "extractor", "processed-articles", raw_keys=True)
