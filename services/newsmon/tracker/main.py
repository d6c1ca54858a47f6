"""The tracker service (`newsmon run tracker`): a thin Faust shell around series, actors, tone.

Inputs are keyed by article id, state by series / actor / pair id, so every input goes
through two stages: a stateless router re-keys each article's facts onto an internal topic
(`<prefix>newsmon-tracker-by-series`, `-by-actor`, `-by-pair`), and a stateful agent on that
topic updates a table that is partitioned like it (changelog partitions = `PARTITIONS`).
Every state change is idempotent (dedup by article and figure), so redelivery after a crash
or a replay of the same articles publishes nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from pydantic import BaseModel, ValidationError

from newsmon.core import serde, topics
from newsmon.core.config import Settings
from newsmon.core.dlq import dead_letter
from newsmon.core.faustapp import (
    faust_topic,
    internal_topic,
    json_table,
    make_app,
    run_worker,
    send_acked,
)
from newsmon.core.logs import bound_article, get_logger
from newsmon.core.metrics import PIPELINE_LATENCY, RECORDS_IN, RECORDS_OUT
from newsmon.core.models import (
    ActorSalience,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    MetricUpdate,
    RelationTone,
    utcnow,
)
from newsmon.core.tables import StagedStore
from newsmon.tracker import metrics as m
from newsmon.tracker.actors import ActorRegistry, route_entities
from newsmon.tracker.series import SeriesTracker, route_observations
from newsmon.tracker.tone import ToneTracker, route_events

log = get_logger(__name__)

Emit = Callable[[Any, str, bytes], Awaitable[None]]

#: Seconds between two samples of the tables' sizes.
STATE_SAMPLE_S = 30.0


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


class TrackerService:
    """Wires topics, tables and agents; `emit` is the one place that produces records."""

    def __init__(self, settings: Settings, app: faust.App | None = None, **overrides: Any):
        self.settings = settings
        self.app = app or make_app("tracker", settings, **overrides)
        app_ = self.app
        self.observations = faust_topic(app_, topics.OBSERVATIONS, settings)
        self.entities = faust_topic(app_, topics.ENTITIES, settings)
        self.events = faust_topic(app_, topics.EVENTS, settings)
        self.metrics_out = faust_topic(app_, topics.METRICS, settings)
        self.actors_out = faust_topic(app_, topics.ACTORS, settings)
        self.dlq = faust_topic(app_, topics.ARTICLES_DLQ, settings)
        self.by_series = internal_topic(self.app, settings, "tracker", "by-series")
        self.by_actor = internal_topic(self.app, settings, "tracker", "by-actor")
        self.by_pair = internal_topic(self.app, settings, "tracker", "by-pair")

        self.series_table = json_table(self.app, "series", "Series state by series id")
        self.actors_table = json_table(self.app, "actors", "Actor state by actor id")
        self.actor_articles = json_table(
            self.app, "actor-articles", "'actor|article' keys already counted"
        )
        self.tone_table = json_table(
            self.app, "tone", "Rolling tone by ordered pair 'actor>target'"
        )

        # The logic writes to staged views; writes reach the tables once outputs are acked.
        self.staged = {
            "series": StagedStore(self.series_table),
            "actors": StagedStore(self.actors_table),
            "actor-articles": StagedStore(self.actor_articles),
            "tone": StagedStore(self.tone_table),
        }
        self.series = SeriesTracker(self.staged["series"])
        self.actors = ActorRegistry(self.staged["actors"], self.staged["actor-articles"])
        self.tone = ToneTracker(self.staged["tone"], settings.tone_window_days)
        self.emit: Emit = send_acked

        self.route_observations_agent = app_.agent(self.observations, name="route-observations")(
            self._router(
                topics.OBSERVATIONS, ArticleObservations, route_observations, self.by_series
            )
        )
        self.route_entities_agent = app_.agent(self.entities, name="route-entities")(
            self._router(topics.ENTITIES, ArticleEntities, route_entities, self.by_actor)
        )
        self.route_events_agent = app_.agent(self.events, name="route-events")(
            self._router(topics.EVENTS, ArticleEvents, route_events, self.by_pair)
        )
        self.series_agent = app_.agent(self.by_series, name="series")(self._series_agent)
        self.actors_agent = app_.agent(self.by_actor, name="actors")(self._actors_agent)
        self.tone_agent = app_.agent(self.by_pair, name="tone")(self._tone_agent)
        # Counting a RocksDB table scans it: state sizes are sampled, not counted per record.
        app_.timer(interval=STATE_SAMPLE_S, name="tracker-state-size")(self.sample_state_size)

    async def sample_state_size(self, *_app: Any) -> None:
        """Export the number of entries of each table (state size)."""
        sizes = {
            "series": len(self.series_table),
            "actors": len(self.actors_table),
            "actor-articles": len(self.actor_articles),
            "tone": len(self.tone_table),
        }
        for name, size in sizes.items():
            m.STATE_ENTRIES.labels(table=name).set(size)
        m.SERIES_TRACKED.set(sizes["series"])
        m.ACTORS_KNOWN.set(sizes["actors"])

    # -- wiring -----------------------------------------------------------------------------
    async def _publish(self, spec: topics.TopicSpec, topic: Any, key: str, rec: BaseModel) -> None:
        await self.emit(topic, key, serde.encode(rec))
        RECORDS_OUT.labels(topic=spec.name).inc()

    async def _reject(
        self, stage_topic: str, reason: str, detail: str, payload: bytes, article_id: str | None
    ) -> None:
        dl = dead_letter(
            "tracker", reason, detail, payload, source=stage_topic, article_id=article_id
        )
        log.warning("record_rejected", topic=stage_topic, reason=reason, detail=detail[:300])
        await self.emit(self.dlq, dl.id, serde.encode(dl))

    def _router(
        self,
        spec: topics.TopicSpec,
        model: type[BaseModel],
        route: Callable[[Any], list[tuple[str, dict[str, Any]]]],
        out: Any,
    ) -> Callable[[Any], Awaitable[None]]:
        async def agent(stream: Any) -> None:
            async for key, value in stream.items():
                RECORDS_IN.labels(topic=spec.name).inc()
                article_id = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
                try:
                    rec: Any = model.model_validate_json(value)
                except (ValidationError, ValueError) as exc:
                    await self._reject(spec.name, "invalid_record", str(exc), value, article_id)
                    continue
                with bound_article(rec.article_id):
                    now = utcnow()
                    m.EVENT_TIME_LAG.labels(input=spec.name).observe(
                        max(0.0, (now - rec.published_at).total_seconds())
                    )
                    m.PROCESSING_LAG.labels(input=spec.name).set(
                        max(0.0, (now - rec.extracted_at).total_seconds())
                    )
                    for routed_key, routed in route(rec):
                        await self.emit(out, routed_key, _json(routed))

        agent.__name__ = f"route_{spec.name.replace('.', '_')}"
        return agent

    async def _stateful(
        self,
        stream: Any,
        apply: Callable[[str, dict[str, Any]], Any],
        name: str,
        stores: list[StagedStore],
    ) -> Any:
        """Yield (key, result) for each routed record; a failing record goes to the DLQ.

        The staged state changes of a record are applied when the consumer asks for the next
        record, i.e. after it has published the result; if publishing raises, they are dropped.
        """
        async for key, value in stream.items():
            for store in stores:
                store.rollback()
            k = key.decode("utf-8") if isinstance(key, bytes) else str(key)
            try:
                routed = json.loads(value)
                with bound_article(routed.get("article_id")):
                    result = apply(k, routed)
            except Exception as exc:  # a bad record must never stop the agent
                log.exception("tracking_failed", stage=name, key=k)
                await self._reject(
                    name, "tracking_failed", f"{type(exc).__name__}: {exc}", value, None
                )
                continue
            yield k, result
            for store in stores:
                store.commit()

    # -- stateful agents --------------------------------------------------------------------
    async def _series_agent(self, stream: Any) -> None:
        async for sid, update in self._stateful(
            stream, self.series.apply, "series", [self.staged["series"]]
        ):
            if update is None:
                continue
            await self._publish(topics.METRICS, self.metrics_out, sid, update)
            self._observe(update)
            m.export_series_value(sid, update.metric, update.unit, update.points[-1].value)
            log.info(
                "series_updated",
                series_id=sid,
                as_of=str(update.as_of),
                value=update.value,
                previous=update.previous_value,
                corroboration=update.corroboration,
            )

    async def _actors_agent(self, stream: Any) -> None:
        async for actor_id, rec in self._stateful(
            stream,
            self.actors.apply,
            "actors",
            [self.staged["actors"], self.staged["actor-articles"]],
        ):
            if rec is None:
                continue
            await self._publish(topics.ACTORS, self.actors_out, actor_id, rec)
            self._observe(rec)
            log.info(
                "actor_updated",
                actor=actor_id,
                update=rec.update,
                mentions=rec.mentions,
                articles=rec.articles,
            )

    async def _tone_agent(self, stream: Any) -> None:
        async for pair, rec in self._stateful(
            stream, self.tone.apply, "tone", [self.staged["tone"]]
        ):
            if rec is None:
                continue
            # news.actors is keyed by actor id (topics.ACTORS.key_field), for tone records too.
            await self._publish(topics.ACTORS, self.actors_out, rec.actor.id, rec)
            self._observe(rec)
            m.export_relation_tone(rec.actor.name, rec.target.name, rec.goldstein_mean)
            log.info("tone_updated", pair=pair, events=rec.events, mean=rec.goldstein_mean)

    @staticmethod
    def _observe(rec: MetricUpdate | ActorSalience | RelationTone) -> None:
        if rec.ingested_at is not None:
            PIPELINE_LATENCY.labels(stage="tracker").observe(
                max(0.0, (utcnow() - rec.ingested_at).total_seconds())
            )


def run(settings: Settings) -> None:
    """Run the tracker in the foreground (`newsmon run tracker`)."""
    service = TrackerService(settings)
    internal = [t.get_topic_name() for t in [service.by_series, service.by_actor, service.by_pair]]
    run_worker(service.app, "tracker", settings, internal_topics=internal)
