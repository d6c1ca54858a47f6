"""The tracker service (`newsmon run tracker`): a thin Faust shell around series, actors, tone.

Inputs are keyed by article id, state by series / actor / pair id, so every input goes
through two stages: a stateless router re-keys each article's facts onto an internal topic
(`<prefix>newsmon-tracker-by-series`, `-by-actor`, `-by-pair`), a batch's items bundled into
one record per partition (core/bundles.py), and a stateful agent on that topic updates a table
that is partitioned like it (changelog partitions = `PARTITIONS`).
Every state change is idempotent (dedup by article and figure), so redelivery after a crash
or a replay of the same articles publishes nothing new.

Agents work on batches of what their stream has buffered (`core.faustapp.for_each_batch`): a
batch's outputs are all sent and then awaited together, its staged table writes applied after
that -- for the stateful agents, with those of the other batches of up to `state_commit_ms`
(`core.faustapp.HeldState`) -- and its inputs acked last (see core/tables.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from pydantic import BaseModel, ValidationError

from newsmon.core import serde, topics
from newsmon.core.batchsend import send_all
from newsmon.core.bundles import BUNDLES_PER_BATCH, bundles, item_bytes, unbundle
from newsmon.core.config import Settings
from newsmon.core.dlq import Failed, dead_letter
from newsmon.core.faustapp import (
    Emit,
    HeldState,
    Outgoing,
    cached_table,
    event_context,
    faust_topic,
    for_each_batch,
    internal_topic,
    json_table,
    make_app,
    open_lane,
    run_worker,
    send_started,
    state_commit_interval,
)
from newsmon.core.logs import bound_article, get_logger
from newsmon.core.metrics import PIPELINE_LATENCY, Tally, consumed, produced
from newsmon.core.models import (
    ActorSalience,
    MetricUpdate,
    RelationTone,
    utcnow,
)
from newsmon.core.tables import StagedStore, batch_of
from newsmon.core.tablewrite import commit_staged
from newsmon.tracker import metrics as m
from newsmon.tracker.actors import ROUTED as ENTITIES_ROUTED
from newsmon.tracker.actors import ActorRegistry, route_entities
from newsmon.tracker.series import ROUTED as OBSERVATIONS_ROUTED
from newsmon.tracker.series import SeriesTracker, route_observations
from newsmon.tracker.tone import ROUTED as EVENTS_ROUTED
from newsmon.tracker.tone import ToneTracker, route_events

log = get_logger(__name__)


#: Seconds between two samples of the tables' sizes.
STATE_SAMPLE_S = 30.0
#: Decoded values kept in memory: series entries (headers, dates, figures), and actor and
#: tone states.
SERIES_CACHED = 2000
STATES_CACHED = 2000
#: Ingest-to-output latency of the tracker's records (its labelled child, looked up once).
_LATENCY = PIPELINE_LATENCY.labels(stage="tracker")


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
        self.series_seen = json_table(
            self.app, "series-reports", "'article#p<partition>': the reports already counted"
        )
        self.actors_table = json_table(self.app, "actors", "Actor state by actor id")
        self.actor_articles = json_table(
            self.app, "actor-articles", "'article#p<partition>': the actors already counted"
        )
        self.tone_table = json_table(
            self.app, "tone", "Rolling tone by ordered pair 'actor>target'"
        )

        # The logic writes to staged views; writes reach the tables once outputs are acked.
        # name: (table, most decoded values cached). The series table holds headers (a point
        # per date, a few KiB to tens of KiB), date indexes and figures (under 1 KiB); the
        # tone and actor states hold windows and companions; the dedup tables hold `true`.
        self.tables = {
            "series": (self.series_table, SERIES_CACHED),
            "series-reports": (self.series_seen, None),
            "actors": (self.actors_table, STATES_CACHED),
            "actor-articles": (self.actor_articles, None),
            "tone": (self.tone_table, STATES_CACHED),
        }
        self.staged = {
            name: StagedStore(cached_table(self.app, table, settings, limit))
            for name, (table, limit) in self.tables.items()
        }
        self.series = SeriesTracker(
            self.staged["series"],
            self.staged["series-reports"],
            settings.metrics_window_days,
            scope=event_context,
        )
        self.actors = ActorRegistry(
            self.staged["actors"], self.staged["actor-articles"], scope=event_context
        )
        self.tone = ToneTracker(self.staged["tone"], settings.tone_window_days)
        self.emit: Emit = send_started

        self.route_observations_agent = app_.agent(self.observations, name="route-observations")(
            self._router(
                topics.OBSERVATIONS, OBSERVATIONS_ROUTED, route_observations, self.by_series
            )
        )
        self.route_entities_agent = app_.agent(self.entities, name="route-entities")(
            self._router(topics.ENTITIES, ENTITIES_ROUTED, route_entities, self.by_actor)
        )
        self.route_events_agent = app_.agent(self.events, name="route-events")(
            self._router(topics.EVENTS, EVENTS_ROUTED, route_events, self.by_pair)
        )
        self.series_agent = app_.agent(self.by_series, name="series")(self._series_agent())
        self.actors_agent = app_.agent(self.by_actor, name="actors")(self._actors_agent())
        self.tone_agent = app_.agent(self.by_pair, name="tone")(self._tone_agent())
        # Counting a RocksDB table scans it: state sizes are sampled, not counted per record.
        app_.timer(interval=STATE_SAMPLE_S, name="tracker-state-size")(self.sample_state_size)

    async def sample_state_size(self, *_app: Any) -> None:
        """Export the number of entries of each table (state size)."""
        sizes: dict[str, int] = {}
        for name, (table, _) in self.tables.items():
            if name == "series":
                # One pass over its keys: each series' header is under its id, its dates and
                # figures under 'id|date[|value]'.
                entries = headers = 0
                for key in table:
                    entries += 1
                    headers += "|" not in key
                sizes[name] = entries
                m.SERIES_TRACKED.set(headers)
            else:
                sizes[name] = len(table)
            m.STATE_ENTRIES.labels(table=name).set(sizes[name])
        m.ACTORS_KNOWN.set(sizes["actors"])

    # -- wiring -----------------------------------------------------------------------------
    async def _send_all(self, outgoing: list[Outgoing], lane: str) -> None:
        """Send every record of a batch (one record batch per partition, through the agent's
        own producer, `lane`), then wait for all their acknowledgements."""
        await send_all(self.app, self.emit, outgoing, lane=lane)

    async def _open_lane(self, lane: str, targets: list[Any]) -> None:
        """Start an agent's own producer before its first batch (`faustapp.lane_producer`);
        not when records go elsewhere (`emit` replaced, as in the stream tests)."""
        if self.emit is send_started:
            await open_lane(self.app, lane, targets)

    def _dead_letter(
        self, stage_topic: str, reason: str, detail: str, payload: bytes, article_id: str | None
    ) -> Outgoing:
        dl = dead_letter(
            "tracker", reason, detail, payload, source=stage_topic, article_id=article_id
        )
        log.warning("record_rejected", topic=stage_topic, reason=reason, detail=detail[:300])
        return self.dlq, dl.id, serde.encode(dl)

    def _router(
        self,
        spec: topics.TopicSpec,
        model: type[BaseModel],
        route: Callable[[Any], list[tuple[str, dict[str, Any]]]],
        out: Any,
    ) -> Callable[[Any], Awaitable[None]]:
        records_in = consumed(spec.name)
        lane = f"route-{spec.name}"
        event_lag = m.EVENT_TIME_LAG.labels(input=spec.name)
        processing_lag = m.PROCESSING_LAG.labels(input=spec.name)

        def routed(key: Any, value: bytes) -> tuple[list[tuple[str, Any]], list[Outgoing]]:
            """(items to re-key, dead letters) of one input record."""
            records_in.inc()
            article_id = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            try:
                rec: Any = model.model_validate_json(value)
            except (ValidationError, ValueError) as exc:
                dl = self._dead_letter(spec.name, "invalid_record", str(exc), value, article_id)
                return [], [dl]
            with bound_article(rec.article_id):
                now = utcnow()
                event_lag.observe(max(0.0, (now - rec.published_at).total_seconds()))
                processing_lag.set(max(0.0, (now - rec.extracted_at).total_seconds()))
                return route(rec), []

        async def process(events: list[Any]) -> None:
            items: list[tuple[str, Any]] = []
            outgoing: list[Outgoing] = []
            for event in events:
                routed_items, rejected = routed(event.key, event.value)
                items.extend(routed_items)
                outgoing.extend(rejected)
            # One record per destination partition (core/bundles.py), not one per item.
            outgoing.extend(bundles(out, items))
            await self._send_all(outgoing, lane)

        async def agent(stream: Any) -> None:
            await self._open_lane(lane, [out, self.dlq])
            await for_each_batch(stream, process)

        agent.__name__ = f"route_{spec.name.replace('.', '_')}"
        return agent

    def _stateful(
        self,
        apply: Callable[[str, Any], list[tuple[str, Any]]],
        name: str,
        stores: list[StagedStore],
        output: Any,
        records_out: Tally,
        publish: Callable[[str, Any], Outgoing],
        published: Callable[[str, Any, bool], None],
        flush: Callable[[], list[tuple[str, Any]]] | None = None,
        discard: Callable[[], None] | None = None,
    ) -> Callable[[Any], Awaitable[None]]:
        """An agent applying each routed item of a batch; a failing item goes to the DLQ.

        `apply` gives the records to publish for an item, as (key, result) pairs; `flush`,
        called once every item of the batch is applied, gives more (records that stand for
        several items; a `Failed` in place of one is dead-lettered), and `discard` forgets
        what `flush` would have given when the batch's staged writes are dropped. Records go
        to `output` (counted in `records_out`); `published` is told of each once its batch
        is committed (with whether debug lines are written).

        The state changes of a batch are staged, each with the record (event) that made it;
        they are applied once every output of the batch is acknowledged, each in its record's
        table partition, together with those of the other batches held until the next state
        write (`faustapp.HeldState`, at most `state_commit_ms` apart); if publishing raises,
        the batch's own changes are dropped and nothing is acked.
        """

        def one(k: str, routed: Any) -> tuple[Outgoing | None, list[tuple[str, Any]]]:
            """Apply one item (writes staged); (dead letter, []) when it fails."""
            marks = [store.savepoint() for store in stores]
            try:
                return None, apply(k, routed)
            except Exception as exc:  # a bad item must never stop the agent
                for store, mark in zip(stores, marks, strict=True):
                    store.rollback_to(mark)
                article_id = routed.get("article_id") if isinstance(routed, dict) else None
                log.exception("tracking_failed", stage=name, key=k, article_id=article_id)
                detail = f"{type(exc).__name__}: {exc}"
                return self._dead_letter(
                    name, "tracking_failed", detail, item_bytes(k, routed), None
                ), []

        def drop() -> None:
            for store in stores:
                store.rollback()
            if discard is not None:
                discard()

        async def process(events: list[Any]) -> None:
            # Staged after the writes of the batches held before it (HeldState); a batch that
            # fails takes back its own writes only.
            with batch_of(stores, discard):
                await compute_and_send(events)

        async def compute_and_send(events: list[Any]) -> None:
            outgoing: list[Outgoing] = []
            results: list[tuple[str, Any]] = []
            for event in events:
                try:
                    items = unbundle(event.key, event.value)
                except ValueError as exc:
                    outgoing.append(
                        self._dead_letter(name, "invalid_record", str(exc), event.value, None)
                    )
                    continue
                for store in stores:
                    store.owner = event
                # Every item of the record maps to its partition: their table writes land in
                # that partition's changelog (core/bundles.py).
                with event_context(event):
                    for k, routed in items:
                        rejected, published_here = one(k, routed)
                        if rejected is not None:
                            outgoing.append(rejected)
                        for key, result in published_here:
                            outgoing.append(publish(key, result))
                            results.append((key, result))
            if flush is not None:
                for key, result in flush():
                    if isinstance(result, Failed):
                        # One series date or actor that failed: dead-lettered, the rest goes on.
                        log.error("tracking_failed", stage=name, key=key, error=result.error)
                        outgoing.append(
                            self._dead_letter(
                                name,
                                "tracking_failed",
                                result.error,
                                item_bytes(key, result.payload),
                                result.article_id,
                            )
                        )
                        continue
                    outgoing.append(publish(key, result))
                    results.append((key, result))
            await self._send_all(outgoing, name)
            if results:
                records_out.inc(len(results))
                # Asked once per batch: a debug line below the level still costs the logger.
                now, debug = utcnow(), _debug_enabled()
                for key, result in results:
                    self._observe(result, now)
                    published(key, result, debug)

        async def agent(stream: Any) -> None:
            # The tables' changelogs (a CachedTable holds its Faust table as `table`).
            tables: list[Any] = [getattr(store.table, "table", None) for store in stores]
            changelogs = [t.changelog_topic for t in tables if hasattr(t, "changelog_topic")]
            await self._open_lane(name, [output, self.dlq, *changelogs])
            held = HeldState(
                lambda: commit_staged(self.app, stores, lane=name),
                drop,
                state_commit_interval(self.app),
            )
            await for_each_batch(stream, process, max_size=BUNDLES_PER_BATCH, state=held)

        agent.__name__ = f"track_{name}"
        return agent

    # -- stateful agents --------------------------------------------------------------------
    def _series_agent(self) -> Callable[[Any], Awaitable[None]]:
        def publish(sid: str, update: MetricUpdate) -> Outgoing:
            return self.metrics_out, sid, self.series.encode(update)

        def published(sid: str, update: MetricUpdate, debug: bool) -> None:
            m.export_series_value(sid, update.metric, update.unit, update.points[-1].value)
            if debug:
                log.debug(
                    "series_updated",
                    series_id=sid,
                    as_of=str(update.as_of),
                    value=update.value,
                    previous=update.previous_value,
                    corroboration=update.corroboration,
                )

        stores = [self.staged["series"], self.staged["series-reports"]]
        apply, flush, discard = series_hooks(self.series, self.settings.metrics_coalesce)
        return self._stateful(
            apply,
            "series",
            stores,
            self.metrics_out,
            produced(topics.METRICS.name),
            publish,
            published,
            flush=flush,
            discard=discard,
        )

    def _actors_agent(self) -> Callable[[Any], Awaitable[None]]:
        def publish(actor_id: str, rec: ActorSalience) -> Outgoing:
            return self.actors_out, actor_id, serde.encode(rec)

        def published(actor_id: str, rec: ActorSalience, debug: bool) -> None:
            if debug:
                log.debug(
                    "actor_updated",
                    actor=actor_id,
                    update=rec.update,
                    mentions=rec.mentions,
                    articles=rec.articles,
                )

        # Each actor's sightings of a batch counted together, its record built after them.
        return self._stateful(
            staged_only(self.actors.stage),
            "actors",
            [self.staged["actors"], self.staged["actor-articles"]],
            self.actors_out,
            produced(topics.ACTORS.name),
            publish,
            published,
            flush=self.actors.flush,
            discard=self.actors.discard,
        )

    def _tone_agent(self) -> Callable[[Any], Awaitable[None]]:
        def publish(pair: str, rec: RelationTone) -> Outgoing:
            # news.actors is keyed by actor id (topics.ACTORS.key_field), for tone records too.
            return self.actors_out, rec.actor.id, serde.encode(rec)

        def published(pair: str, rec: RelationTone, debug: bool) -> None:
            m.export_relation_tone(rec.actor.name, rec.target.name, rec.goldstein_mean)
            if debug:
                log.debug("tone_updated", pair=pair, events=rec.events, mean=rec.goldstein_mean)

        return self._stateful(
            as_pairs(self.tone.apply),
            "tone",
            [self.staged["tone"]],
            self.actors_out,
            produced(topics.ACTORS.name),
            publish,
            published,
        )

    @staticmethod
    def _observe(rec: MetricUpdate | ActorSalience | RelationTone, now: dt.datetime) -> None:
        if rec.ingested_at is not None:
            _LATENCY.observe(max(0.0, (now - rec.ingested_at).total_seconds()))


def _debug_enabled() -> bool:
    """Whether this module's debug lines are written (asked once per batch: a call below the
    level still costs the logger's processing)."""
    return logging.getLogger(__name__).isEnabledFor(logging.DEBUG)


def as_pairs(
    apply: Callable[[str, Any], Any | None],
) -> Callable[[str, Any], list[tuple[str, Any]]]:
    """An `apply` giving one result or None, as (key, result) pairs."""

    def pairs(key: str, item: Any) -> list[tuple[str, Any]]:
        result = apply(key, item)
        return [] if result is None else [(key, result)]

    return pairs


def staged_only(stage: Callable[[str, Any], Any]) -> Callable[[str, Any], list[tuple[str, Any]]]:
    """A `stage` that only stages an item, as an `apply` that publishes nothing: its records
    come from the agent's `flush` after the batch."""

    def pairs(key: str, item: Any) -> list[tuple[str, Any]]:
        stage(key, item)
        return []

    return pairs


SeriesHooks = tuple[
    Callable[[str, Any], list[tuple[str, Any]]],
    Callable[[], list[tuple[str, Any]]] | None,
    Callable[[], None] | None,
]


def series_hooks(series: SeriesTracker, coalesce: str) -> SeriesHooks:
    """The series stage's (apply, flush, discard) for the setting `metrics_coalesce`:
    "none", a record per report that changed a series; "unchanged", a record at once per
    report that moved a date's value and one per date after the batch for the others; "all",
    one per changed date after the batch."""
    if coalesce == "none":
        return as_pairs(series.apply), None, None
    if coalesce == "unchanged":
        return as_pairs(series.apply_moved), series.flush, series.discard
    if coalesce == "all":
        return staged_only(series.stage), series.flush, series.discard
    raise ValueError(f"metrics_coalesce: {coalesce!r} is not none, unchanged or all")


def run(settings: Settings) -> None:
    """Run the tracker in the foreground (`newsmon run tracker`)."""
    service = TrackerService(settings)
    internal = [t.get_topic_name() for t in [service.by_series, service.by_actor, service.by_pair]]
    run_worker(service.app, "tracker", settings, internal_topics=internal)
