"""Builds the Faust app of a service from the settings, and runs it as a worker.

Values travel as raw bytes and are validated with the contract models by the service itself, so
that a bad record becomes a dead letter instead of a crashed or silently skipping agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import faust
import faust.streams as faust_streams
from aiohttp.web import Response as AioResponse
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from newsmon.core import logs, topics
from newsmon.core.config import Settings
from newsmon.core.kafka import client_kwargs, ssl_context
from newsmon.core.metrics import SERVICE_INFO, SERVICE_READY

_log = logs.get_logger(__name__)

_FAUST_METRICS: FaustMetrics | None = None


def _faust_metrics() -> FaustMetrics:
    """Faust's sensors, registered once per process (several apps in one test share them)."""
    global _FAUST_METRICS
    if _FAUST_METRICS is None:
        _FAUST_METRICS = FaustMetrics.create(REGISTRY, "newsmon_faust")
    return _FAUST_METRICS


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
        "consumer_max_fetch_size": 8 * 1024 * 1024,
        "stream_wait_empty": False,
    }
    conf.update(overrides)
    # Faust creates its datadir but not the parents (a fresh state folder has none).
    Path(conf["datadir"]).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(f"{settings.topic_prefix}newsmon-{service}", **conf)
    app.monitor = PrometheusMonitor(metrics=_faust_metrics())
    SERVICE_INFO.info({"service": service})
    started = time.time()
    assigned_once = asyncio.Event()

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        body = generate_latest(REGISTRY)
        return AioResponse(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})  # type: ignore[return-value]

    @app.page("/health")
    async def health(self: View, request: Request) -> Response:
        assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.assignor.assigned_actives())
        ready = assigned_once.is_set() and not app.rebalancing
        return self.json(
            {
                "service": service,
                "status": "ok" if ready else "starting",
                "rebalancing": bool(app.rebalancing),
                "assigned": assigned,
                "uptime_s": round(time.time() - started, 1),
            }
        )

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub is too narrow
    async def _assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned_once.set()
        SERVICE_READY.set(1)

    return app


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


def json_table(app: faust.App, name: str, help_: str) -> Any:
    """A table with JSON keys and values (plain dicts, never pydantic objects)."""
    return app.Table(
        name,
        default=None,
        partitions=topics.PARTITIONS,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
        help=help_,
    )


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


async def for_each_batch(
    stream: Any, process: Callable[[list[Any]], Awaitable[None]], max_size: int = BATCH_MAX
) -> None:
    """Call `process` on batches of a stream's events, then ack them (the offset may commit).

    A batch is whatever the stream has already buffered (at most `max_size`): nothing waits
    for more records, so a quiet stream still processes each record at once. The events are
    acked only after `process` returned, i.e. after their outputs were acknowledged and their
    state changes applied; if it raises, none is acked and the batch is processed again after
    a restart. (`stream.take()` acks its buffer even when the consumer raises, and its
    buffering runs in another task, out of the records' event context.)
    """
    manual = stream.noack()
    queue = getattr(manual.channel, "queue", None)
    batch: list[Any] = []
    async for event in manual.events():
        batch.append(event)
        if len(batch) >= max_size or queue is None or queue.empty():
            await _process_with_retries(process, batch)
            for done in batch:
                await manual.ack(done)
            batch = []


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


async def create_topics(
    settings: Settings, names: list[str], compacted: Sequence[str] = ()
) -> None:
    """Create a service's internal (re-keying) topics before the worker subscribes.

    Faust declares them itself, but a topic created in the same instant as the subscription
    can be missing from the first metadata and is then silently not consumed.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
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
    finally:
        await admin.close()


def run_worker(
    app: faust.App, service: str, settings: Settings, internal_topics: Sequence[str] = ()
) -> None:
    """Run the app as a worker in the foreground until SIGINT/SIGTERM."""
    logs.configure(service, settings.log_level, settings.log_format)
    # Table changelogs are created up front too: a changelog Faust creates while the worker
    # starts can be missing from the consumer's metadata at the first table write, which
    # Faust reports as PartitionsMismatch ("... has 0 partitions").
    changelogs = [t.changelog_topic.get_topic_name() for t in app.tables.values()]
    names = [*internal_topics, *changelogs]
    if names:
        # A private loop: asyncio.run() would leave no current loop for the Faust worker.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(
                create_topics(settings, list(internal_topics), compacted=changelogs)
            )
        finally:
            loop.close()
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    worker.execute_from_commandline()
