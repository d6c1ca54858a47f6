"""The alerter service (`newsmon run alerter`): rules over tracker output, idempotent alerts.

Three stateless agents evaluate the rules on `news.metrics`, `news.actors` and `news.events`
and send candidate alerts to an internal topic keyed by 'rule|subject'; one stateful agent (the
gate) reads it, so that everything about one rule and subject (ids already emitted,
suppression, firing state) lives in one table partition. The gate publishes on `news.alerts`
keyed by alert id.

Agents work on batches of what their stream has buffered (`core.faustapp.for_each_batch`): a
batch's outputs are all sent and then awaited together, the gate's staged table writes applied
after that (with every batch: the gate does not hold its state, see `_process_candidates`),
and the inputs acked last (see core/tables.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import faust
from pydantic import BaseModel, ValidationError

from newsmon.alerter import metrics as m
from newsmon.alerter.alerts import AlertGate, Evaluator
from newsmon.alerter.rules import RulesError, RuleSet, load_rules
from newsmon.core import serde, topics
from newsmon.core.batchsend import send_all
from newsmon.core.bundles import BUNDLES_PER_BATCH, bundles, unbundle
from newsmon.core.config import Settings
from newsmon.core.dlq import dead_letter
from newsmon.core.faustapp import (
    Emit,
    Outgoing,
    cached_table,
    event_context,
    faust_topic,
    for_each_batch,
    internal_topic,
    json_table,
    make_app,
    run_worker,
    send_started,
)
from newsmon.core.kafka import client_kwargs
from newsmon.core.logs import bound_article, get_logger
from newsmon.core.metrics import PIPELINE_LATENCY, consumed, produced
from newsmon.core.models import (
    ActorRecordAdapter,
    Alert,
    ArticleEvents,
    MetricUpdate,
    utcnow,
)
from newsmon.core.tables import StagedStore, batch_of
from newsmon.core.tablewrite import commit_staged

log = get_logger(__name__)


#: Seconds between two samples of the tables' sizes.
STATE_SAMPLE_S = 30.0


class AlerterService:
    """Wires rules, topics, tables and agents; `emit` is the one place that produces records."""

    def __init__(
        self,
        settings: Settings,
        rules: RuleSet | None = None,
        app: faust.App | None = None,
        **overrides: Any,
    ):
        self.settings = settings
        # Validated before anything connects: a wrong rules file stops the start with its errors.
        self.rules = rules or load_rules(settings.rules_path)
        check_windows(self.rules, settings.metrics_window_days)
        for kind in ("threshold", "change", "new_actor", "diplomatic_action", "tone_shift"):
            m.RULES_LOADED.labels(kind=kind).set(len(self.rules.of_kind(kind)))
        self.app = app or make_app("alerter", settings, **overrides)
        app_ = self.app
        self.metrics_in = faust_topic(app_, topics.METRICS, settings)
        self.actors_in = faust_topic(app_, topics.ACTORS, settings)
        self.events_in = faust_topic(app_, topics.EVENTS, settings)
        self.alerts_out = faust_topic(app_, topics.ALERTS, settings)
        self.dlq = faust_topic(app_, topics.ARTICLES_DLQ, settings)
        self.candidates = internal_topic(app_, settings, "alerter", "candidates")
        self.emitted = json_table(self.app, "emitted", "Alert ids already published or suppressed")
        self.last_fired = json_table(
            self.app, "last-fired", "Event time of the last alert per rule|subject"
        )
        self.active = json_table(self.app, "active", "Firing threshold alerts per rule|subject")
        self.evaluator = Evaluator(self.rules)
        # The gate writes to staged views; writes reach the tables once the alert is acked.
        self.staged = [
            StagedStore(cached_table(self.app, t, settings))
            for t in (self.emitted, self.last_fired, self.active)
        ]
        emitted, last_fired, active = self.staged
        self.gate = AlertGate(self.rules, emitted, last_fired, active, settings.alert_suppression_s)
        self.emit: Emit = send_started

        self.metrics_agent = app_.agent(self.metrics_in, name="evaluate-metrics")(
            self._evaluator(
                topics.METRICS,
                lambda v: MetricUpdate.model_validate_json(v),
                self.evaluator.on_metric,
            )
        )
        self.actors_agent = app_.agent(self.actors_in, name="evaluate-actors")(
            self._evaluator(
                topics.ACTORS, ActorRecordAdapter.validate_json, self.evaluator.on_actor
            )
        )
        self.events_agent = app_.agent(self.events_in, name="evaluate-events")(
            self._evaluator(
                topics.EVENTS,
                lambda v: ArticleEvents.model_validate_json(v),
                self.evaluator.on_events,
            )
        )
        self.gate_agent = app_.agent(self.candidates, name="gate")(self._gate_agent)

        @app_.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode's signal typing
        async def _read_published(app: Any, assigned: Any, **kwargs: Any) -> None:
            # Alerts published just before a crash whose state change was lost are on the
            # topic itself: read its recent tail before consuming (see AlertGate.published).
            self.gate.published = await recent_alert_ids(settings)
            log.info("published_alerts_read", ids=len(self.gate.published))

        # Counting a RocksDB table scans it: state sizes are sampled, not counted per record.
        app_.timer(interval=STATE_SAMPLE_S, name="alerter-state-size")(self.sample_state_size)

    async def sample_state_size(self, *_app: Any) -> None:
        """Export the number of entries of each table (state size)."""
        for name, table in (
            ("emitted", self.emitted),
            ("last-fired", self.last_fired),
            ("active", self.active),
        ):
            m.STATE_ENTRIES.labels(table=name).set(len(table))

    async def _send_all(self, outgoing: list[Outgoing]) -> None:
        """Send every record of a batch, then wait for all their acknowledgements."""
        await send_all(self.app, self.emit, outgoing, batched=False)

    def _dead_letter(
        self, topic: str, reason: str, detail: str, payload: bytes, key: str | None
    ) -> Outgoing:
        dl = dead_letter(
            "alerter", reason, f"{topic}: {detail}", payload, source=topic, article_id=key
        )
        log.warning("record_rejected", topic=topic, reason=reason, detail=detail[:300])
        return self.dlq, dl.id, serde.encode(dl)

    def _evaluator(
        self,
        spec: topics.TopicSpec,
        decode: Callable[[bytes], Any],
        evaluate: Callable[[Any], list[Alert]],
    ) -> Callable[[Any], Awaitable[None]]:
        records_in = consumed(spec.name)

        def evaluated(key: Any, value: bytes) -> tuple[list[tuple[str, Any]], list[Outgoing]]:
            """(candidates keyed by rule|subject, dead letters) of one input record."""
            records_in.inc()
            k = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            try:
                rec = decode(value)
            except (ValidationError, ValueError) as exc:
                return [], [self._dead_letter(spec.name, "invalid_record", str(exc), value, k)]
            try:
                # The rules log nothing: the article is named here rather than bound per record.
                candidates = evaluate(rec)
            except Exception as exc:  # a rule bug must not stop the stream
                log.exception(
                    "evaluation_failed", topic=spec.name, key=k, article_id=_article_id(rec)
                )
                detail = f"{type(exc).__name__}: {exc}"
                return [], [self._dead_letter(spec.name, "evaluation_failed", detail, value, k)]
            ingested = _ingested_at(rec)
            at = ingested.isoformat() if ingested else None
            return [
                (
                    f"{alert.rule}|{alert.subject}",
                    {"alert": alert.model_dump(mode="json"), "ingested_at": at},
                )
                for alert in candidates
            ], []

        async def process(events: list[Any]) -> None:
            items: list[tuple[str, Any]] = []
            outgoing: list[Outgoing] = []
            for event in events:
                found, rejected = evaluated(event.key, event.value)
                items.extend(found)
                outgoing.extend(rejected)
            # One record per gate partition (core/bundles.py), not one per candidate.
            outgoing.extend(bundles(self.candidates, items))
            await self._send_all(outgoing)

        async def agent(stream: Any) -> None:
            await for_each_batch(stream, process)

        agent.__name__ = f"evaluate_{spec.name.replace('.', '_')}"
        return agent

    def _admit(self, event: Any, body: Any) -> tuple[Alert, dict[str, Any]] | None:
        """Run one candidate through the gate (writes staged); the alert to publish, if any."""
        try:
            candidate = Alert.model_validate(body["alert"])
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            log.warning("candidate_rejected", detail=str(exc)[:300])
            return None
        marks = [store.savepoint() for store in self.staged]
        for store in self.staged:
            store.owner = event
        with (
            event_context(event),
            bound_article(candidate.article_ids[0] if candidate.article_ids else None),
        ):
            try:
                alert = self.gate.admit(candidate)
            except Exception:  # one bad candidate must not stop the gate
                for store, mark in zip(self.staged, marks, strict=True):
                    store.rollback_to(mark)
                log.exception("gate_failed", id=candidate.id, rule=candidate.rule)
                return None
            if alert is None:
                m.ALERTS_DROPPED.labels(
                    kind=candidate.kind, reason=self.gate.last_reason or "unknown"
                ).inc()
                log.debug("alert_dropped", id=candidate.id, reason=self.gate.last_reason)
                return None
        return alert, body

    def _candidates(self, events: list[Any]) -> Iterator[tuple[Any, Any]]:
        """(event, candidate body) of every candidate the records carry (bundles or single)."""
        for event in events:
            try:
                items = unbundle(event.key, event.value)
            except ValueError as exc:
                log.warning("candidate_rejected", detail=str(exc)[:300])
                continue
            for _key, body in items:
                yield event, body

    async def _process_candidates(self, events: list[Any]) -> None:
        for store in self.staged:
            store.rollback()
        with batch_of(self.staged):
            admitted = [
                a for a in (self._admit(e, body) for e, body in self._candidates(events)) if a
            ]
            # Publish (and wait for the acks) before recording them as emitted: a crash in
            # between republishes the same ids rather than losing the alerts.
            await self._send_all(
                [(self.alerts_out, alert.id, serde.encode(alert)) for alert, _ in admitted]
            )
        # Written with every batch, not held (faustapp.HeldState): the ids a crash would forget
        # are the alerts it would publish twice, and the gate writes little.
        await commit_staged(self.app, self.staged)
        for alert, body in admitted:
            produced(topics.ALERTS.name).inc()
            m.ALERTS.labels(kind=alert.kind, severity=alert.severity, status=alert.status).inc()
            now = utcnow()
            m.EVENT_TIME_LAG.set(max(0.0, (now - alert.event_time).total_seconds()))
            if body.get("ingested_at"):
                ingested = dt.datetime.fromisoformat(body["ingested_at"])
                PIPELINE_LATENCY.labels(stage="alerter").observe(
                    max(0.0, (now - ingested).total_seconds())
                )
            log.info(
                "alert_published",
                id=alert.id,
                kind=alert.kind,
                status=alert.status,
                severity=alert.severity,
                title=alert.title,
            )

    async def _gate_agent(self, stream: Any) -> None:
        await for_each_batch(stream, self._process_candidates, max_size=BUNDLES_PER_BATCH)


def check_windows(rules: RuleSet, metrics_window_days: int) -> None:
    """RulesError when a change rule looks further back than a news.metrics record reaches."""
    too_long = [
        f"rule {rule.name!r}: window_days {rule.window_days}"
        for rule in rules.of_kind("change")
        if rule.window_days is not None and rule.window_days > metrics_window_days
    ]
    if too_long:
        raise RulesError(
            f"{'; '.join(too_long)} is longer than the {metrics_window_days} days either side "
            "that a news.metrics record carries: shorten the rule's window or raise "
            "NEWSMON_METRICS_WINDOW_DAYS (setting metrics_window_days) for the tracker and "
            "the alerter"
        )


#: How many of the latest alerts the gate reads back from news.alerts at each assignment.
RECENT_ALERTS = 10_000


async def recent_alert_ids(settings: Settings, limit: int = RECENT_ALERTS) -> set[str]:
    """The ids (record keys) of the last `limit` alerts on news.alerts; empty when unreadable."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    name = topics.topic_name(topics.ALERTS, settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_kwargs(settings),
    )
    ids: set[str] = set()
    try:
        await consumer.start()
        tps = [TopicPartition(name, p) for p in range(topics.ALERTS.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(0, ends[tp] - limit))
        pending = {tp for tp in tps if ends[tp] > 0}
        deadline = asyncio.get_running_loop().time() + 30.0
        while pending and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for records in batch.values():
                ids.update(r.key.decode("utf-8", "replace") for r in records if r.key)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    except KafkaError as exc:
        log.warning("published_alerts_unreadable", topic=name, error=str(exc))
    finally:
        await consumer.stop()
    return ids


def _article_id(rec: BaseModel) -> str | None:
    """The article a record is about, for the log context."""
    if isinstance(rec, ArticleEvents):
        return rec.article_id
    ids = getattr(rec, "article_ids", None) or [getattr(rec, "first_article_id", None)]
    return ids[-1] if ids else None


def _ingested_at(rec: BaseModel) -> Any:
    return getattr(rec, "ingested_at", None) or getattr(rec, "extracted_at", None)


def run(settings: Settings) -> None:
    """Run the alerter in the foreground (`newsmon run alerter`)."""
    service = AlerterService(settings)
    internal = [t.get_topic_name() for t in [service.candidates]]
    run_worker(service.app, "alerter", settings, internal_topics=internal)
