"""Builds the Faust app of a service from the settings, and runs it as a worker.

Values travel as raw bytes and are validated with the contract models by the service itself, so
that a bad record becomes a dead letter instead of a crashed or silently skipping agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import faust
import faust.streams as faust_streams
from aiohttp.web import Response as AioResponse
from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from newsmon.core import faustconsumer, logs, topics, watchdog
from newsmon.core.config import Settings
from newsmon.core.kafka import admin_client, client_kwargs, ssl_context
from newsmon.core.metrics import (
    COMMITS_DEFERRED,
    COMMITS_HELD_BACK,
    RESTARTS,
    SERVICE_INFO,
    SERVICE_READY,
    STALLS,
)
from newsmon.core.tables import CachedTable

_log = logs.get_logger(__name__)

_FAUST_METRICS: FaustMetrics | None = None


def _faust_metrics() -> FaustMetrics:
    """Faust's sensors, registered once per process (several apps in one test share them)."""
    global _FAUST_METRICS
    if _FAUST_METRICS is None:
        _FAUST_METRICS = FaustMetrics.create(REGISTRY, "newsmon_faust")
    return _FAUST_METRICS


class LeanPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor with the same metrics, cheaper per record and table write.

    Faust's sensor looks up a labelled child (`labels(...)`, a lock and a dict lookup) and
    keeps its own per-table counters for every table read and write, every record sent and
    every stream event; in the tracker that was about 6 % of its time. Here the children
    (records received per topic and partition, events per stream, table operations, records
    sent per topic) are looked up once per label, and the per-table and per-topic counters
    that only Faust's web stats view reads are not kept for tables and sends.
    """

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        self._label_children: dict[tuple[str, ...], Any] = {}
        self._stream_labels: dict[Any, str] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (str(id(metric)), *labels)
        child = self._label_children.get(key)
        if child is None:
            child = self._label_children[key] = metric.labels(*labels)
        return child

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        self._metrics.messages_received.inc()
        self._metrics.active_messages.inc()
        self._child(self._metrics.messages_received_per_topics, tp.topic).inc()
        partition = self._child(
            self._metrics.messages_received_per_topics_partition, tp.topic, str(tp.partition)
        )
        partition.set(offset)

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        self._metrics.total_events.inc()
        self._metrics.total_active_events.inc()
        label = self._stream_labels.get(stream)
        if label is None:
            label = self._stream_labels[stream] = f"stream.{self._stream_label(stream)}.events"
        self._child(self._metrics.total_events_per_stream, label).inc()
        return state

    def on_table_get(self, table: Any, key: Any) -> None:
        self.table_reads(table)()

    def table_reads(self, table: Any) -> Callable[[], None]:
        """What counts one read of `table` as `on_table_get` does, without Faust's sensor
        fan-out and the label lookup per read (core/tablewrite.py `direct_reader`)."""
        ops = self._metrics.table_operations
        inc: Callable[[], None] = self._child(ops, f"table.{table.name}", self.KEYS_RETRIEVED).inc
        return inc

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        ops = self._metrics.table_operations
        self._child(ops, f"table.{table.name}", self.KEYS_UPDATED).inc()

    def on_table_del(self, table: Any, key: Any) -> None:
        ops = self._metrics.table_operations
        self._child(ops, f"table.{table.name}", self.KEYS_DELETED).inc()

    def on_table_writes(self, table: Any, sets: int, deletes: int) -> None:
        """`sets` keys set and `deletes` keys deleted at once (core/tablewrite.py)."""
        ops = self._metrics.table_operations
        if sets:
            self._child(ops, f"table.{table.name}", self.KEYS_UPDATED).inc(sets)
        if deletes:
            self._child(ops, f"table.{table.name}", self.KEYS_DELETED).inc(deletes)

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        self._child(self._metrics.topic_messages_sent, f"topic.{topic}").inc()
        self.messages_sent += 1
        return self.time()


def broker_credentials(settings: Settings) -> Any:
    sec = settings.kafka_security
    ctx = ssl_context(sec)
    if sec.protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=sec.sasl_username,
            password=sec.sasl_password.get_secret_value() if sec.sasl_password else None,
            mechanism=sec.sasl_mechanism,
            ssl_context=ctx,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


#: Longest a commit waits for the changelog records written before it (then it is deferred).
COMMIT_WAIT_S = 10.0


class ChangelogWatch:
    """The table changelog records of one app not yet acknowledged by the broker.

    Faust's own flush before a commit gives up after 0.1 s without progress, and misses a
    record its buffer is handing to the client, so a kill could leave an input's offset
    committed while the changelog of the state it changed was never written. With the
    guard (`_install_commit_guard`) a commit first waits for every changelog record written
    before it; if they are not all acknowledged within `COMMIT_WAIT_S` the commit is deferred
    (the offsets stay acked and go with a later commit), and a record the client failed to
    deliver crashes the worker, which then restarts from the last safe commit.
    """

    def __init__(self) -> None:
        self.pending: set[asyncio.Future[Any]] = set()
        self.deferred = 0

    def add(self, fut: asyncio.Future[Any]) -> None:
        if fut.done():
            return
        self.pending.add(fut)
        fut.add_done_callback(self.pending.discard)

    async def settled(self, timeout: float) -> bool:
        """True once every record written so far is acknowledged; False after `timeout` s."""
        snapshot = list(self.pending)
        if snapshot:
            _done, not_done = await asyncio.wait(snapshot, timeout=timeout)
            if not_done:
                self.deferred += 1
                return False
            for fut in snapshot:
                if not fut.cancelled() and fut.exception() is not None:
                    raise ChangelogWriteFailed(fut.exception())  # type: ignore[arg-type]
        return True


class ChangelogWriteFailed(RuntimeError):
    """A table's changelog record could not be delivered: the worker stops before committing."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"changelog record not delivered: {type(cause).__name__}: {cause}")
        self.cause = cause


def changelog_watch(app: faust.App) -> ChangelogWatch | None:
    watch: ChangelogWatch | None = getattr(app, "_newsmon_changelogs", None)
    return watch


class ProcessedLedger:
    """The input offsets an app's agents finished, per partition, since the last revocation.

    Faust can acknowledge records that no agent processed: a record taken from the stream
    while its flow is suspended, or from an earlier consumer generation, is skipped *and*
    acknowledged, and its re-fetched copy is dropped when the fetch position has moved past
    it (faust/streams.py `skipped_value`, faust/transport/consumer.py "DROPPED MESSAGE"); and
    Faust commits a run of acknowledged offsets that starts one past the committed one. A
    restart with a backlog hit this: records routed in the instant between Faust resuming the
    flow and seeking to the committed offsets were committed unprocessed and never seen again.
    The commit guard therefore commits a partition only up to the first offset, from the one
    last committed, that is not in this ledger (`for_each_batch` records every event it
    finished). Compacted topics are exempt: compaction leaves gaps in their offsets.
    """

    def __init__(self, exempt_topics: Iterable[str] = ()) -> None:
        self.done: dict[Any, set[int]] = {}
        self.exempt_topics = set(exempt_topics)
        #: Partitions whose commit is held back: since when (watchdog clock), and the offsets.
        self.held: dict[Any, tuple[float, int, int]] = {}
        self.reported: set[Any] = set()

    def hold(self, tp: Any, frontier: int, acknowledged: int) -> None:
        since = self.held.get(tp, (watchdog.now(), 0, 0))[0]
        self.held[tp] = (since, frontier, acknowledged)

    def release(self, tp: Any) -> None:
        self.held.pop(tp, None)
        self.reported.discard(tp)

    def held_longer_than(self, seconds: float, now: float) -> dict[Any, dict[str, Any]]:
        """The partitions held back for `seconds` or more and not reported yet (the watchdog
        restarts for them); each is reported once."""
        found = {
            tp: {"kind": "skipped", "processed_to": frontier, "acknowledged_to": acked,
                 "held_s": round(now - since, 1)}
            for tp, (since, frontier, acked) in self.held.items()
            if now - since >= seconds and tp not in self.reported
        }  # fmt: skip
        self.reported.update(found)
        return found

    def finished(self, tp: Any, offset: int) -> None:
        self.done.setdefault(tp, set()).add(offset)

    def exempt(self, tp: Any) -> bool:
        topic = getattr(tp, "topic", None)
        return topic in self.exempt_topics or str(topic).endswith("-changelog")

    def frontier(self, tp: Any, start: int) -> int:
        """The first offset at or after `start` that no agent finished."""
        done = self.done.get(tp, ())
        offset = start
        while offset in done:
            offset += 1
        return offset

    def committed(self, tp: Any, offset: int) -> None:
        """Forget the offsets below a committed one."""
        done = self.done.get(tp)
        if done:
            self.done[tp] = {o for o in done if o >= offset}

    def clear(self) -> None:
        self.done.clear()
        self.held.clear()
        self.reported.clear()


def processed_ledger(app: Any) -> ProcessedLedger | None:
    ledger: ProcessedLedger | None = getattr(app, "_newsmon_ledger", None)
    return ledger


def _hold_back(consumer: Any, ledger: ProcessedLedger, offsets: Any) -> dict[Any, int]:
    """`offsets` with each partition's commit held to the first offset no agent finished.

    The acknowledged offsets Faust took for a commit that is held back are given back to it
    (those the agents finished), as for a deferred commit.
    """
    out: dict[Any, int] = {}
    for tp, offset in offsets.items():
        if ledger.exempt(tp):
            out[tp] = offset
            continue
        done = ledger.done.get(tp, set())
        start = consumer._committed_offset.get(tp)
        if start is None:  # never committed: the first offset finished is the start
            start = min(done) if done else offset
        frontier = ledger.frontier(tp, start)
        if frontier >= offset:
            out[tp] = offset
            ledger.release(tp)
            continue
        ledger.hold(tp, frontier, offset)
        _give_back(consumer, tp, (o for o in range(frontier, offset) if o in done))
        COMMITS_HELD_BACK.inc()
        _log.warning(
            "commit_held_back",
            partition=f"{getattr(tp, 'topic', tp)}:{getattr(tp, 'partition', '')}",
            acknowledged_to=offset,
            processed_to=frontier,
            committed=start,
        )
        if frontier > start:
            out[tp] = frontier
    return out


def _restore_acked(consumer: Any, offsets: Any) -> None:
    """Give back to Faust's consumer the acknowledged offsets a deferred commit took.

    Faust removes the run of acknowledged offsets it is about to commit from its bookkeeping
    before the commit; if the commit then does not happen, the next one would see a gap at the
    head of the partition's acknowledged offsets and never commit it again.
    """
    for tp, offset in offsets.items():
        committed = consumer._committed_offset.get(tp)
        start = committed if committed is not None and committed < offset else offset - 1
        _give_back(consumer, tp, range(start, offset))


def _give_back(consumer: Any, tp: Any, offsets: Iterable[int]) -> None:
    """Put offsets back into Faust's acknowledged bookkeeping of `tp` (kept sorted)."""
    acked = consumer._acked[tp]
    index = consumer._acked_index[tp]
    missing = [o for o in offsets if o not in index]
    acked.extend(missing)
    index.update(missing)
    acked.sort()


def _install_commit_guard() -> None:
    """Make Faust commit an input's offset only after the changelog of its state changes.

    Two class-level wraps, installed once per process: `send_changelog` of every table
    records its record's future in the app's `ChangelogWatch`, and the consumer's
    `_commit_offsets` waits for them before it commits (apps without a watch are untouched).
    """
    from faust.tables.base import Collection
    from faust.transport.consumer import Consumer

    if getattr(Consumer._commit_offsets, "_newsmon_guard", False):
        return
    send_changelog = Collection.send_changelog
    commit_offsets = Consumer._commit_offsets

    def watched_send_changelog(self: Any, *args: Any, **kwargs: Any) -> Any:
        fut = send_changelog(self, *args, **kwargs)
        watch = changelog_watch(self.app)
        if watch is not None:
            watch.add(fut)
        return fut

    async def guarded_commit_offsets(self: Any, offsets: Any, *args: Any, **kwargs: Any) -> bool:
        ledger = processed_ledger(self.app)
        if ledger is not None:
            offsets = _hold_back(self, ledger, offsets)
            if not offsets:
                return False
        watch = changelog_watch(self.app)
        if watch is not None:
            try:
                if not await watch.settled(COMMIT_WAIT_S):
                    _restore_acked(self, offsets)
                    COMMITS_DEFERRED.inc()
                    _log.warning(
                        "commit_deferred",
                        reason="changelog records not yet acknowledged",
                        pending=len(watch.pending),
                        wait_s=COMMIT_WAIT_S,
                    )
                    return False
            except ChangelogWriteFailed as exc:
                _log.error("changelog_write_failed", error=str(exc)[:300])
                await self.crash(exc)
                return False
        result: bool = await commit_offsets(self, offsets, *args, **kwargs)
        if result and ledger is not None:
            for tp, offset in offsets.items():
                ledger.committed(tp, offset)
        return result

    guarded_commit_offsets._newsmon_guard = True  # type: ignore[attr-defined]
    Collection.send_changelog = watched_send_changelog  # type: ignore[method-assign]
    Consumer._commit_offsets = guarded_commit_offsets  # type: ignore[method-assign]


#: Largest record batch (bytes) the services' producers build. Faust's default, 16 KiB, holds
#: fewer than three `news.metrics` records; core/batchsend.py sends a stream batch's outputs
#: for one partition as one record batch.
PRODUCER_BATCH_BYTES = 1024 * 1024


def make_app(service: str, settings: Settings, **overrides: Any) -> faust.App:
    """A Faust app for `service` with newsmon's conventions (group id, partitions, store, web)."""
    store = "rocksdb://" if settings.table_store == "rocksdb" else "memory://"
    conf: dict[str, Any] = {
        "broker": [f"kafka://{h}" for h in settings.bootstrap.split(",")],
        "broker_credentials": broker_credentials(settings),
        "store": store,
        "datadir": str(settings.service_dir(service) / "tables"),
        "topic_partitions": topics.PARTITIONS,
        "topic_replication_factor": settings.replication_factor,
        "topic_allow_declare": True,
        "web_enabled": True,
        "web_bind": settings.bind_host,
        "web_host": settings.bind_host,
        "web_port": settings.port_of(service),
        "web_in_thread": False,
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_every": 100,
        "broker_commit_interval": 1.0,
        "stream_buffer_maxsize": 1024,
        "table_standby_replicas": 0,
        "producer_max_request_size": 8 * 1024 * 1024,
        # Record batches of a whole stream batch's outputs per partition (core/batchsend.py).
        "producer_max_batch_size": PRODUCER_BATCH_BYTES,
        "consumer_max_fetch_size": 8 * 1024 * 1024,
        "stream_wait_empty": False,
    }
    conf.update(overrides)
    # Faust creates its datadir but not the parents (a fresh state folder has none).
    Path(conf["datadir"]).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(f"{settings.topic_prefix}newsmon-{service}", **conf)
    app.monitor = LeanPrometheusMonitor(metrics=_faust_metrics())
    app._newsmon_batch_linger = settings.batch_linger_ms / 1000.0  # type: ignore[attr-defined]
    app._newsmon_producer_lanes = settings.producer_lanes  # type: ignore[attr-defined]
    app._newsmon_state_commit = settings.state_commit_ms / 1000.0  # type: ignore[attr-defined]
    _settle_before_stop(app)
    faustconsumer.install(app)
    if settings.commit_guard:
        _install_commit_guard()
        app._newsmon_changelogs = ChangelogWatch()  # type: ignore[attr-defined]
        app._newsmon_ledger = ProcessedLedger(  # type: ignore[attr-defined]
            topics.topic_name(spec, settings.topic_prefix)
            for spec in topics.TOPICS.values()
            if spec.cleanup_policy == "compact"
        )
    app._newsmon_table_options = rocksdb_options(settings)  # type: ignore[attr-defined]
    SERVICE_INFO.info({"service": service})
    started = time.time()
    assigned_once = asyncio.Event()
    # Partition assignments received since start: more than one means a rebalance.
    assignments = [0]

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        # `?name[]=a&name[]=b` renders only those samples, as prometheus_client's own server
        # does: a poller that wants two counters does not make the service render them all.
        names = request.query.getall("name[]", [])  # type: ignore[attr-defined]
        body = generate_latest(REGISTRY.restricted_registry(names) if names else REGISTRY)
        return AioResponse(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})  # type: ignore[return-value]

    stall = watchdog.StallWatch(settings.stall_timeout_s)
    RESTARTS.set(watchdog.restarts())
    app._newsmon_stall_watch = stall  # type: ignore[attr-defined]

    @app.page("/health")
    async def health(self: View, request: Request) -> Response:
        assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.assignor.assigned_actives())
        ready = assigned_once.is_set() and not app.rebalancing
        status = "stalled" if stall.stalled else "ok" if ready else "starting"
        return self.json(
            {
                "service": service,
                "status": status,
                "rebalancing": bool(app.rebalancing),
                "assigned": assigned,
                "assignments": assignments[0],
                "stalled": {f"{tp.topic}:{tp.partition}": v for tp, v in stall.stalled.items()},
                "stalls": stall.stalls,
                "watchdog": stall.last_check,
                "restarts": watchdog.restarts(),
                "uptime_s": round(time.time() - started, 1),
            }
        )

    caches: list[CachedTable] = []
    app._newsmon_caches = caches  # type: ignore[attr-defined]

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's stub is too narrow
    async def _revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Held state changes of the revoked partitions' batches are dropped (HeldState).
        app._newsmon_revocations = revocations(app) + 1  # type: ignore[attr-defined]
        for cache in caches:
            cache.clear_cache()
        # Partitions are read again from their committed offsets after the rebalance. Not at
        # the assignment: the recovery may resume the flow before that signal is sent, and
        # the records finished in between would be forgotten (and their commit held back).
        ledger = processed_ledger(app)
        if ledger is not None:
            ledger.clear()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub is too narrow
    async def _assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        for cache in caches:
            cache.clear_cache()
        assigned_once.set()
        assignments[0] += 1
        SERVICE_READY.set(1)
        stall.assigned(_input_partitions(app), watchdog.now())

    if settings.stall_timeout_s > 0:
        interval = max(0.5, min(5.0, settings.stall_timeout_s / 4))

        end_offsets = _EndOffsets(settings)

        @app.timer(interval=interval, name=f"{service}-stall-watchdog")  # type: ignore[untyped-decorator]
        async def _watch_for_stalls() -> None:
            # Never let one check hang the timer (the watchdog would be gone for good).
            try:
                await asyncio.wait_for(
                    _check_stalls(app, service, settings, stall, end_offsets), timeout=30.0
                )
            except Exception as exc:
                _log.warning("stall_check_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                end_offsets.reset()
                stall.pause(watchdog.now())

    return app


def _input_partitions(app: faust.App) -> set[Any]:
    """The worker's active partitions of its agents' input topics (no changelogs)."""
    inputs: set[str] = set()
    for agent in app.agents.values():
        inputs.update(getattr(agent.channel, "topics", ()) or ())
    return {tp for tp in app.assignor.assigned_actives() if tp.topic in inputs}


class _EndOffsets:
    """The broker's end offsets, asked by a client of the watchdog's own.

    Not through the worker's consumer: a wedged consumer would make every check fail, and a
    failed check reads as "broker unreachable", which pauses the watchdog.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: Any = None

    async def __call__(self, tps: list[Any]) -> dict[Any, int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self.client is None:
            client = AIOKafkaConsumer(**client_kwargs(self.settings), enable_auto_commit=False)
            await client.start()
            self.client = client
        ends = await self.client.end_offsets([TopicPartition(tp.topic, tp.partition) for tp in tps])
        by_name = {(k.topic, k.partition): v for k, v in ends.items()}
        return {
            tp: by_name[(tp.topic, tp.partition)]
            for tp in tps
            if (tp.topic, tp.partition) in by_name
        }

    def reset(self) -> None:
        """Drop the client (a new one connects at the next check); its stop is not awaited:
        against a broker that does not answer it can take as long as anything else."""
        client, self.client = self.client, None
        if client is not None:
            task = asyncio.ensure_future(client.stop())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


def skipped_grace_s(settings: Settings) -> float:
    """How long a commit may stay held back before the watchdog restarts the service."""
    return max(10.0, settings.stall_timeout_s / 4)


async def _check_stalls(
    app: faust.App,
    service: str,
    settings: Settings,
    stall: watchdog.StallWatch,
    end_offsets: _EndOffsets,
) -> None:
    now = watchdog.now()
    tps = list(stall.partitions)
    if not tps:
        stall.last_check = "no input partitions"
        return
    try:
        ends = await asyncio.wait_for(end_offsets(tps), timeout=10.0)
    except Exception as exc:  # broker unreachable: that time does not count as a stall
        _log.debug("stall_check_skipped", error=type(exc).__name__)
        stall.last_check = f"broker not answering: {type(exc).__name__}"
        end_offsets.reset()
        stall.pause(watchdog.now())
        return
    recovery = getattr(app.tables, "recovery", None)
    busy = bool(app.rebalancing or getattr(recovery, "in_recovery", False))
    if stall.rebalancing(busy, now):
        stall.last_check = "rebalancing or recovering"
        return  # a rebalance or a table recovery in progress (not yet too long)
    stall.last_check = "checked"
    committed_map = getattr(app.consumer, "_committed_offset", {})
    committed = {tp: committed_map.get(tp) for tp in tps}
    before = stall.stalls
    found = stall.check(ends, committed, now) if not busy else stall.stuck_rebalance(now)
    ledger = processed_ledger(app)
    if ledger is not None and not busy:
        # Records Faust acknowledged but never delivered (see ProcessedLedger) are read
        # again by a restart; waiting for the commit-stall rule would take twice the limit.
        skipped = ledger.held_longer_than(skipped_grace_s(settings), now)
        if skipped and not found:
            stall.stalls += 1
        found = {**found, **skipped}
    if stall.stalls > before:
        STALLS.inc(stall.stalls - before)
        _log.error(
            "stream_stalled",
            partitions={f"{tp.topic}:{tp.partition}": v for tp, v in found.items()},
            timeout_s=settings.stall_timeout_s,
            action=settings.stall_action,
        )
        _log.error("stall_diagnostics", tasks=_task_stacks())
        if settings.stall_action == "restart":
            watchdog.request_restart(
                f"{service}: {len(found)} partition(s) stalled ("
                + ", ".join(sorted({v["kind"] for v in found.values()}))
                + ")"
            )


def _task_stacks(limit: int = 200) -> list[str]:
    """Where every asyncio task of the process waits (its await chain), for a stall report."""
    out = []
    for task in list(asyncio.all_tasks())[:limit]:
        chain: list[str] = []
        coro: Any = task.get_coro()
        while coro is not None and len(chain) < 12:
            frame = next(
                (
                    getattr(coro, a)
                    for a in ("cr_frame", "gi_frame", "ag_frame")
                    if hasattr(coro, a)
                ),
                None,
            )
            if frame is not None:
                chain.append(
                    f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
                )
            coro = next(
                (
                    getattr(coro, a)
                    for a in ("cr_await", "gi_yieldfrom", "ag_await")
                    if hasattr(coro, a)
                ),
                None,
            )
        out.append(f"{task.get_name()}: " + " -> ".join(chain))
    return out


def stall_watch(app: Any) -> watchdog.StallWatch | None:
    watch: watchdog.StallWatch | None = getattr(app, "_newsmon_stall_watch", None)
    return watch


def faust_topic(app: faust.App, spec: topics.TopicSpec, settings: Settings) -> Any:
    """The Faust topic of a contract topic, carrying raw bytes."""
    return app.topic(
        topics.topic_name(spec, settings.topic_prefix),
        key_serializer="raw",
        value_serializer="raw",
        partitions=spec.partitions,
        internal=False,
    )


def internal_topic(app: faust.App, settings: Settings, service: str, suffix: str) -> Any:
    """A service's internal re-keying topic `<prefix>newsmon-<service>-<suffix>` (raw bytes)."""
    return app.topic(
        f"{settings.topic_prefix}newsmon-{service}-{suffix}",
        key_serializer="raw",
        value_serializer="raw",
        partitions=topics.PARTITIONS,
        internal=True,
    )


def cached_table(
    app: faust.App, table: Any, settings: Settings, max_entries: int | None = None
) -> CachedTable:
    """`table` behind a read cache that is emptied whenever the worker's partitions change.

    `max_entries` (default `table_cache_entries`) bounds it: a decoded value takes several
    times its JSON size in memory, so tables with large values get a smaller bound.
    """
    limit = settings.table_cache_entries
    if max_entries is not None:
        limit = min(limit, max_entries)
    cache = CachedTable(table, limit)
    from newsmon.core.tablewrite import direct_reader  # it imports this module

    cache.read_raw = direct_reader(cache)
    app._newsmon_caches.append(cache)  # type: ignore[attr-defined]
    return cache


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """RocksDB options of every table partition: bounded write buffers and block cache."""
    mib = 1024 * 1024
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mib * mib,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mib * mib,
        "max_open_files": 64,
    }


def table_options(app: faust.App) -> dict[str, Any] | None:
    """The store options of the app's tables (a fresh dict: Faust pops keys from it)."""
    options: dict[str, Any] | None = getattr(app, "_newsmon_table_options", None)
    if options is None or not str(app.conf.store).startswith("rocksdb"):
        return None
    return dict(options)


def json_table(app: faust.App, name: str, help_: str) -> Any:
    """A table with JSON keys and raw values: use it through `cached_table`, which stores each
    value's JSON bytes (encoded once for both the changelog and RocksDB)."""
    return app.Table(
        name,
        default=None,
        partitions=topics.PARTITIONS,
        # The store and the changelog take their serializers from the types: bytes is "raw".
        value_type=bytes,
        schema=faust.Schema(key_serializer="json", value_serializer="raw"),
        help=help_,
        options=table_options(app),
    )


async def lane_producer(app: Any, lane: str | None) -> list[Any]:
    """The aiokafka producers through which an agent's record batches go (`lane`: the agent's
    name; partition p goes through the producer p modulo their number), or the app's own
    producer when `lane` is None.

    aiokafka keeps one produce request in flight per broker connection, and that request
    carries one record batch per partition. Every agent of a service that shares the app's
    producer queued behind the others' requests: a stateful agent's batch waited for the
    routers' and the other stateful agents' round trips before its outputs were on their way,
    then again for its changelog. Each lane has producers of its own (the setting
    `producer_lanes`; the app's producer settings, a connection each), started the first time
    the lane is asked for and stopped with the app, so agents no longer wait on each other's
    requests and the broker works on a batch's partitions in parallel. A partition always
    goes through the same producer of its lane: its records keep their order.
    """
    if lane is None:
        return [app.producer._ensure_producer()]
    lanes: dict[str, list[Any]] = app.__dict__.setdefault("_newsmon_lanes", {})
    producers = lanes.get(lane)
    if producers is None:
        producers = []
        for _ in range(getattr(app, "_newsmon_producer_lanes", 1)):
            producer = app._new_producer()
            await app.add_runtime_dependency(producer)
            producers.append(producer._ensure_producer())
        # Kept once all are started: a lane is never seen with fewer producers than it has.
        lanes[lane] = producers
    return producers


async def open_lane(app: Any, lane: str, targets: Iterable[Any]) -> None:
    """Start `lane`'s producer and learn the partitions of the topics it will send to
    (`targets`: Faust topics or names), before the agent's first batch waits on them."""
    for producer in await lane_producer(app, lane):
        for target in targets:
            name = target if isinstance(target, str) else target.get_topic_name()
            await producer.client._wait_on_metadata(name)


async def send_acked(topic: Any, key: str, value: bytes) -> None:
    """Send now and wait for the broker's acknowledgement.

    Used before staged state changes are applied (see core/tables.py), rather than attaching
    the send to the input's commit: Faust writes changelogs independently of those.
    """
    delivery = await topic.send(key=key.encode("utf-8"), value=value, force=True)
    await delivery


#: Starts sending one record; returns its delivery to await (None when already delivered).
Emit = Callable[[Any, str, bytes], Awaitable[Awaitable[Any] | None]]
#: One record to publish: (topic, key, value).
Outgoing = tuple[Any, str, bytes]


async def send_started(topic: Any, key: str, value: bytes) -> Awaitable[Any]:
    """Send now without waiting: the delivery to await (with `await_deliveries`) is returned.

    The per-batch form of `send_acked`: a batch's outputs are all sent, then all awaited, so
    a batch costs one round trip to the broker instead of one per record.
    """
    delivery: Awaitable[Any] = await topic.send(key=key.encode("utf-8"), value=value, force=True)
    return delivery


async def await_deliveries(deliveries: Iterable[Awaitable[Any] | None]) -> None:
    """Wait until every delivery is acknowledged; raise the first failure after all settled."""
    pending = [d for d in deliveries if d is not None]
    if not pending:
        return
    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


@contextlib.contextmanager
def event_context(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event while a record's table reads and writes run.

    A Faust table puts a write in the changelog (and RocksDB) partition of the current event.
    In a batch the stream has moved on, so each record's writes are applied inside its own
    event's context (faust has no public setter for the context variable).
    """
    if event is None:  # not from a stream: Faust's own current event stays
        yield
        return
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


#: Most records in one batch (between two acknowledgements of the inputs).
BATCH_MAX = 500
#: How often a lingering batch looks at its stream's buffer again (seconds).
LINGER_POLL_S = 0.001
#: Longest a batch gathers records while they keep coming (seconds from its first record).
LINGER_CAP_S = 0.25


def batch_linger(app: Any) -> float:
    """Seconds a batch waits for its next record (the setting `batch_linger_ms`; 0: none)."""
    linger: float = getattr(app, "_newsmon_batch_linger", 0.0)
    return linger


async def _linger(queue: Any, until: float) -> None:
    """Wait until the stream's buffer has a record or the time `until` (loop clock)."""
    loop = asyncio.get_running_loop()
    while queue.empty() and loop.time() < until:
        await asyncio.sleep(LINGER_POLL_S)


async def for_each_batch(
    stream: Any,
    process: Callable[[list[Any]], Awaitable[None]],
    max_size: int = BATCH_MAX,
    state: HeldState | None = None,
) -> None:
    """Call `process` on batches of a stream's events, then ack them (the offset may commit).

    A batch gathers records while they keep coming: when the stream's buffer is empty it waits
    up to the app's linger (`batch_linger_ms`) for the next one, and closes when none came,
    when it holds `max_size` records, or `LINGER_CAP_S` after its first record. The consumer
    hands fetched records to the stream's buffer a few at a time: without the wait a batch
    held one to three records even when thousands were waiting, and as each batch costs a
    round trip to the broker, that set the alerter's rate. A quiet stream processes a record
    after the linger at most. The events are
    acked only after `process` returned, i.e. after their outputs were acknowledged and their
    state changes applied; if it raises, none is acked and the batch is processed again after
    a restart. (`stream.take()` acks its buffer even when the consumer raises, and its
    buffering runs in another task, out of the records' event context.)

    With `state` (a stateful agent), `process` publishes a batch's outputs and leaves its
    state changes staged; they are written by `state.write` at most every
    `state_commit_ms` (the setting), for every batch since the last write at once, and the
    batches' events are acked only then (see `HeldState`).
    """
    manual = stream.noack()
    queue = getattr(manual.channel, "queue", None)
    app = getattr(stream, "app", None)
    watch = stall_watch(app)
    ledger = processed_ledger(app)
    inject = _injected_stall()
    pace = _injected_pace()
    if pace:
        max_size = 1
    linger = batch_linger(app)
    loop = asyncio.get_running_loop()
    done = 0
    batch: list[Any] = []
    started = 0.0

    async def finish(events: list[Any]) -> None:
        if ledger is not None:
            for finished in events:
                ledger.finished(finished.message.tp, finished.message.offset)
        for finished in events:
            await manual.ack(finished)
        if watch is not None:
            now = watchdog.now()
            for finished in events:
                msg = finished.message
                watch.progressed(msg.tp, msg.offset + 1, now)

    holder = None if state is None else _Holder(app, state, finish)
    if holder is not None:
        holder.start()
    try:
        async for event in manual.events():
            if not batch:
                started = loop.time()
            batch.append(event)
            if linger > 0 and len(batch) < max_size and queue is not None and queue.empty():
                await _linger(queue, min(loop.time() + linger, started + LINGER_CAP_S))
            if len(batch) >= max_size or queue is None or queue.empty():
                if holder is None:
                    await _process_with_retries(process, batch)
                    await finish(batch)
                else:
                    await holder.processed(process, batch)
                done += len(batch)
                batch = []
                if pace:
                    await asyncio.sleep(pace)
                if inject is not None and done >= inject:
                    _log.warning("fault_injected", fault="stall", after_records=done)
                    await asyncio.Event().wait()  # never set: this agent reads nothing more
    finally:
        if holder is not None:
            holder.stop()


class HeldState:
    """A stateful agent's staged state changes, written for several batches at once.

    Every batch of a stateful agent wrote its state changes -- a changelog record and a
    RocksDB entry per key -- and waited for their acknowledgement before the next. At a live
    stream's pace a batch holds an article or two, and the same keys (an actor named in
    every article, a series' header) were written again with every one: the tracker wrote
    about 155 KiB of changelog per article and spent most of its time doing so. Kafka
    Streams' record cache and commit interval answer the same cost; here, as there:

    * a batch's outputs are published and acknowledged at once (latency is unchanged), and
      its state changes stay staged, where the next batches read them (`StagedStore`);
    * the staged changes of all the batches since the last write are written together
      (`write`: changelog acknowledged, then RocksDB) once `interval` seconds have passed
      since the first of them, when `max_events` events are held, or when the app stops;
      a key changed by ten batches is written once;
    * the batches' input events are acked only after that write. A crash before it loses
      the held changes *and* leaves their inputs unacked: they are processed again after the
      restart, from the state last written, as a crash in the middle of a batch always was
      (their outputs are published again, with the same keys and content);
    * a rebalance drops the held changes without writing them (`drop`): the partitions are
      read again from their committed offsets after it (`ProcessedLedger`), so the events
      are processed again by whichever worker owns them -- a write after the revocation
      could land in a partition another worker now owns.

    `interval` 0 writes after every batch (the setting `state_commit_ms: 0`). The tracker's
    stateful agents use it; the alerter's gate does not: the alert ids a crash would forget
    are alerts published twice (docs/decisions.md).
    """

    def __init__(
        self,
        write: Callable[[], Awaitable[Any]],
        drop: Callable[[], None],
        interval: float,
        max_events: int = 256,
    ) -> None:
        self.write = write
        self.drop = drop
        self.interval = interval
        self.max_events = max_events


class _Holder:
    """The batches of one agent whose state `HeldState.write` has not written yet."""

    def __init__(
        self, app: Any, state: HeldState, finish: Callable[[list[Any]], Awaitable[None]]
    ) -> None:
        self.app = app
        self.state = state
        self.finish = finish
        self.events: list[Any] = []
        self.since = 0.0  # loop time of the first held batch
        self.revocations = 0  # the app's revocation count when the held batches began
        self.lock = asyncio.Lock()
        self.stopping = False
        self._ticker: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self.state.interval > 0:
            self._ticker = asyncio.ensure_future(self._tick())
        settlers(self.app).append(self.settle)

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        with contextlib.suppress(ValueError):
            settlers(self.app).remove(self.settle)

    async def processed(
        self, process: Callable[[list[Any]], Awaitable[None]], batch: list[Any]
    ) -> None:
        """Process a batch (outputs published, state staged); write the held state if due."""
        async with self.lock:
            self._forget_if_revoked()
            if not self.events:
                self.since = asyncio.get_running_loop().time()
                self.revocations = revocations(self.app)
            await _process_with_retries(process, batch)
            self.events.extend(batch)
            if (
                self.stopping
                or self.state.interval <= 0
                or len(self.events) >= self.state.max_events
                or self._due()
            ):
                await self._write()

    async def settle(self) -> None:
        """Write what is held now, and every later batch at once (the app is stopping)."""
        async with self.lock:
            self.stopping = True
            await self._write()

    def _due(self) -> bool:
        return asyncio.get_running_loop().time() - self.since >= self.state.interval

    def _forget_if_revoked(self) -> bool:
        """Drop the held changes, unacked, when partitions were revoked since they began."""
        if self.events and revocations(self.app) != self.revocations:
            _log.info("held_state_dropped", events=len(self.events), reason="rebalance")
            self.state.drop()
            self.events = []
            return True
        return False

    async def _write(self) -> None:
        if not self.events or self._forget_if_revoked():
            return
        await _process_with_retries(lambda _events: self.state.write(), self.events)
        events, self.events = self.events, []
        await self.finish(events)

    async def _tick(self) -> None:
        """Write held state once it is due when no batch comes to do it (a quiet stream)."""
        period = max(0.01, self.state.interval / 4)
        while True:
            await asyncio.sleep(period)
            if self.events and self._due() and not self.lock.locked():
                try:
                    async with self.lock:
                        if self._due():
                            await self._write()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the next batch writes it, or the agent crashes there
                    _log.exception("held_state_write_failed")


#: Longest the app's stop waits for the agents to write their held state (seconds).
SETTLE_TIMEOUT_S = 30.0


def _settle_before_stop(app: Any) -> None:
    """Make the app's stop write every agent's held state first (`HeldState`): Faust stops
    its consumer and closes the tables in `App.on_stop`, before it stops the agents."""
    stop = app.on_stop

    async def on_stop() -> None:
        for settle in list(settlers(app)):
            try:
                await asyncio.wait_for(settle(), SETTLE_TIMEOUT_S)
            except Exception:  # their inputs are unacked: processed again after a restart
                _log.exception("held_state_not_written")
        await stop()

    app.on_stop = on_stop


def settlers(app: Any) -> list[Callable[[], Awaitable[None]]]:
    """The agents' `settle` calls, run when the app stops (before Faust stops its consumer and
    closes the tables)."""
    held: list[Callable[[], Awaitable[None]]] | None = getattr(app, "_newsmon_settlers", None)
    if held is None:
        held = []
        if app is not None:
            app._newsmon_settlers = held
    return held


def revocations(app: Any) -> int:
    """How many times partitions were revoked from the app's worker since it started."""
    count: int = getattr(app, "_newsmon_revocations", 0)
    return count


def state_commit_interval(app: Any) -> float:
    """Seconds between two writes of a stateful agent's held state (`state_commit_ms`)."""
    interval: float = getattr(app, "_newsmon_state_commit", 0.0)
    return interval


def _injected_stall() -> int | None:
    """The record count after which the agent hangs (tests only; first process life only)."""
    value = os.environ.get(watchdog.STALL_INJECT_ENV)
    if not value or watchdog.restarts() > 0:
        return None
    return int(value)


def _injected_pace() -> float:
    """Seconds to wait after each record (tests only; 0 when unset)."""
    value = os.environ.get(watchdog.PACE_INJECT_ENV)
    return float(value) if value else 0.0


#: Delays between attempts at a batch that failed (transient broker or metadata errors).
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)


async def _process_with_retries(
    process: Callable[[list[Any]], Awaitable[None]], batch: list[Any]
) -> None:
    """Process a batch; on an error, wait and process it again (every step is idempotent).

    A batch that is never processed must not be skipped: the agent would go on and its
    unacked events would hold the committed offset back until a restart. Transient errors
    (a broker restart, a topic's metadata not yet known) pass within a few attempts; a batch
    that still fails after the last one crashes the agent, as before.
    """
    for delay in (*RETRY_DELAYS_S, None):
        try:
            await process(batch)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if delay is None:
                raise
            _log.warning("batch_retry", error=f"{type(exc).__name__}: {exc}"[:300], delay_s=delay)
            await asyncio.sleep(delay)


async def ensure_contract_topics(settings: Settings) -> None:
    """Create the contract topics a service reads and writes when they are missing, as
    `newsmon topics create` does (a broker that creates topics on demand is not assumed: the
    project's does not). Without them a service started on its own waited for their metadata
    for good -- the tracker's agents before their first batch -- and logged a metadata error
    ten times a second. A cluster where the service may not create topics gets a warning and
    the service goes on (the operator creates them); a topic with another partition count
    gets an error line that says so.
    """
    from newsmon.ops.topics import ensure_topics

    try:
        states = await ensure_topics(settings)
    except Exception as exc:  # no CreateTopics right, or an admin call refused
        _log.warning(
            "contract_topics_not_ensured",
            error=f"{type(exc).__name__}: {exc}"[:300],
            hint="run `newsmon topics create` with rights to create topics",
        )
        return
    created = [s.name for s in states if s.created]
    if created:
        _log.info("contract_topics_created", topics=created)
    for state in states:
        if state.problem:
            _log.error("contract_topic_mismatch", topic=state.name, problem=state.problem)


async def create_topics(
    settings: Settings, names: list[str], compacted: Sequence[str] = ()
) -> None:
    """Create a service's internal (re-keying) topics before the worker subscribes.

    Faust declares them itself, but a topic created in the same instant as the subscription
    can be missing from the first metadata and is then silently not consumed.
    """
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(n, topics.PARTITIONS, settings.replication_factor)
            for n in names
            if n not in existing
        ] + [
            NewTopic(
                n,
                topics.PARTITIONS,
                settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            for n in compacted
            if n not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)


def tune_gc(threshold: int) -> None:
    """Make Python's cyclic garbage collector run less often in a stream service.

    The stream services allocate and drop many small containers per record (decoded JSON,
    models) and keep thousands of decoded table values alive; with Python's default young
    threshold (700) the collector ran so often, each time walking the long-lived values,
    that it took about a quarter of the tracker's time (measured in docs/benchmark.md).
    Everything built at start-up (modules, the app) is frozen out of the collections, and
    the young generation is collected every `threshold` net allocations. Reference counting
    still frees almost everything at once; only cycles wait for the collector.
    """
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, max(gen1, 20), max(gen2, 20))


def run_worker(
    app: faust.App, service: str, settings: Settings, internal_topics: Sequence[str] = ()
) -> None:
    """Run the app as a worker in the foreground until SIGINT/SIGTERM."""
    logs.configure(service, settings.log_level, settings.log_format)
    # Table changelogs are created up front too: a changelog Faust creates while the worker
    # starts can be missing from the consumer's metadata at the first table write, which
    # Faust reports as PartitionsMismatch ("... has 0 partitions").
    changelogs = [t.changelog_topic.get_topic_name() for t in app.tables.values()]
    # A private loop: asyncio.run() would leave no current loop for the Faust worker.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(ensure_contract_topics(settings))
        if internal_topics or changelogs:
            loop.run_until_complete(
                create_topics(settings, list(internal_topics), compacted=changelogs)
            )
    finally:
        loop.close()
    tune_gc(settings.gc_threshold)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    worker.execute_from_commandline()
