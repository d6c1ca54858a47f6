"""The extractor service: `news.articles.raw` in; `news.entities`, `news.observations` and
`news.events` out (one record each per article, keyed by article id); failures to the DLQ."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import faust
from pydantic import ValidationError

from newsmon.core import serde, topics
from newsmon.core.config import Settings
from newsmon.core.dlq import dead_letter
from newsmon.core.faustapp import (
    Emit,
    await_deliveries,
    event_context,
    faust_topic,
    for_each_batch,
    make_app,
    run_worker,
    send_started,
    table_options,
)
from newsmon.core.intake.validation import text_problem
from newsmon.core.logs import bound_article, get_logger
from newsmon.core.metrics import PIPELINE_LATENCY, consumed, produced
from newsmon.core.models import Article, utcnow
from newsmon.extractor import metrics as m
from newsmon.extractor.pipeline import STAGES, Extraction, Extractor
from newsmon.extractor.runner import ExtractionRunner

log = get_logger(__name__)


@dataclass
class _Batch:
    """What one batch sent (deliveries to await) and the articles it finished (markers)."""

    deliveries: list[Awaitable[Any] | None] = field(default_factory=list)
    markers: list[tuple[Any, str, str]] = field(default_factory=list)


_BATCH: ContextVar[_Batch] = ContextVar("extractor_batch")


class ExtractorService:
    """Wires the source topic, the processed-articles table, the runner and the agent."""

    def __init__(
        self,
        settings: Settings,
        extractor: Extractor | None = None,
        app: faust.App | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings
        self.app = app or make_app("extractor", settings, **overrides)
        self.source = faust_topic(self.app, topics.ARTICLES_RAW, settings)
        self.entities_out = faust_topic(self.app, topics.ENTITIES, settings)
        self.observations_out = faust_topic(self.app, topics.OBSERVATIONS, settings)
        self.events_out = faust_topic(self.app, topics.EVENTS, settings)
        self.dlq = faust_topic(self.app, topics.ARTICLES_DLQ, settings)
        # Article ids already extracted; a marker is written while its own record is the
        # stream's current event, so it lands in the changelog partition of the article's
        # source partition (same partition count, `topics.PARTITIONS`).
        self.processed = self.app.Table(
            "processed-articles",
            default=None,
            partitions=topics.PARTITIONS,
            schema=faust.Schema(key_serializer="raw", value_serializer="json"),
            help="Article ids already extracted (value: extraction time)",
            options=table_options(self.app),
        )
        self.runner = ExtractionRunner(settings, extractor)
        self.emit: Emit = send_started
        # One agent instance per worker process keeps the pool busy; each instance handles
        # one record at a time so that table writes belong to that record's partition.
        self.agent = self.app.agent(
            self.source, name="extract", concurrency=max(1, settings.extractor_processes)
        )(self._agent)
        self.app.task(self._warm_up)

    async def _warm_up(self) -> None:
        started = time.perf_counter()
        try:
            await self.runner.warm_up()
        except Exception:  # the first article loads the model instead; never crash the app
            log.exception("warm_up_failed")
            return
        log.info("extractor_ready", seconds=round(time.perf_counter() - started, 2))

    async def _emit(self, topic: Any, key: str, value: bytes) -> None:
        """Send a record of the batch in progress; `process` awaits every delivery."""
        _BATCH.get().deliveries.append(await self.emit(topic, key, value))

    # ------------------------------------------------------------------ the agent
    async def _agent(self, stream: Any) -> None:
        # Batches through nlp.pipe in the worker. Inputs are acked only once their records are
        # out; each record's table write is made under its own event (event_context), so it
        # lands in its own changelog partition.
        async def batch(events: list[Any]) -> None:
            await self.process([(e.key, e.value) for e in events], events)

        await for_each_batch(stream, batch, max_size=self.settings.extractor_batch_size)

    async def process(
        self, records: list[tuple[Any, bytes]], events: list[Any] | None = None
    ) -> None:
        """Validate, de-duplicate, extract and publish a batch of raw article records.

        Every output (results and dead letters) is sent, then all are awaited; only then are
        the articles marked as processed (each in its own record's event context) and, by the
        caller, the inputs acknowledged. A failed delivery raises: the batch is processed
        again, and nothing was marked.
        """
        # Per agent task (the agent may run several instances): a context variable.
        batch = _Batch()
        token = _BATCH.set(batch)
        try:
            await self._process(records, events)
            await await_deliveries(batch.deliveries)
        finally:
            _BATCH.reset(token)
        for event, article_id, when in batch.markers:
            with event_context(event):
                self.processed[article_id] = when

    async def _process(
        self, records: list[tuple[Any, bytes]], events: list[Any] | None = None
    ) -> None:
        batch: list[tuple[Article, bytes, Any]] = []
        seen: set[str] = set()
        for i, (key, value) in enumerate(records):
            event = events[i] if events else None
            consumed(topics.ARTICLES_RAW.name).inc()
            key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            try:
                article = Article.model_validate_json(value)
            except (ValidationError, ValueError) as exc:
                await self._reject(
                    "invalid_article", f"not a valid Article: {exc}", value, key_text
                )
                continue
            problem = text_problem(article.body)
            if problem:
                await self._reject("pathological_text", problem, value, article.id)
                continue
            if article.id in seen or self.processed.get(article.id) is not None:
                m.ARTICLES_SKIPPED.inc()
                with bound_article(article.id):
                    log.info("article_skipped", reason="already_processed")
                continue
            seen.add(article.id)
            batch.append((article, value, event))
        if not batch:
            return
        try:
            results = await self.runner.extract_many([a for a, _, _ in batch])
        except Exception as exc:  # isolate the bad article: retry one by one
            log.warning("batch_failed", error=type(exc).__name__, articles=len(batch))
            for article, value, event in batch:
                with event_context(event):
                    await self._one(article, value, event)
            return
        for (article, _, event), extraction in zip(batch, results, strict=True):
            with event_context(event):
                await self._publish(article, extraction, event)

    async def _one(self, article: Article, value: bytes, event: Any) -> None:
        with bound_article(article.id):
            try:
                (extraction,) = await self.runner.extract_many([article])
            except TimeoutError:
                await self._reject(
                    "extraction_timeout",
                    f"extraction took longer than {self.settings.extractor_timeout_s}s; "
                    "raise NEWSMON_EXTRACTOR_TIMEOUT_S or shorten the article",
                    value,
                    article.id,
                )
                return
            except Exception as exc:  # any failure of one article must not stop the service
                log.exception("extraction_failed")
                await self._reject(
                    "extraction_failed", f"{type(exc).__name__}: {exc}", value, article.id
                )
                return
        await self._publish(article, extraction, event)

    async def _publish(self, article: Article, extraction: Extraction, event: Any) -> None:
        with bound_article(article.id):
            now = utcnow()
            # all three records, even when empty: downstream reads them as "processed"
            for spec, topic, record in zip(
                (topics.ENTITIES, topics.OBSERVATIONS, topics.EVENTS),
                (self.entities_out, self.observations_out, self.events_out),
                extraction.records(article, now),
                strict=True,
            ):
                await self._emit(topic, article.id, serde.encode(record))
                produced(spec.name).inc()
            _BATCH.get().markers.append((event, article.id, now.isoformat()))
            for stage in STAGES:
                m.STAGE_SECONDS.labels(stage=stage).observe(extraction.timings.get(stage, 0.0))
            m.ARTICLES_PROCESSED.inc()
            m.ENTITIES_EMITTED.inc(len(extraction.entities))
            m.OBSERVATIONS_EMITTED.inc(len(extraction.observations))
            m.EVENTS_EMITTED.inc(len(extraction.events))
            PIPELINE_LATENCY.labels(stage="extractor").observe(
                max(0.0, (now - article.ingested_at).total_seconds())
            )
            log.info(
                "article_extracted",
                entities=len(extraction.entities),
                observations=len(extraction.observations),
                events=len(extraction.events),
            )

    async def _reject(
        self, reason: str, detail: str, payload: bytes, article_id: str | None
    ) -> None:
        m.FAILURES.labels(reason=reason).inc()
        with bound_article(article_id):
            log.warning("article_rejected", reason=reason, detail=detail[:300])
        letter = dead_letter(
            "extractor",
            reason,
            detail,
            payload,
            source=topics.ARTICLES_RAW.name,
            article_id=article_id,
        )
        await self._emit(self.dlq, letter.id, serde.encode(letter))
        produced(topics.ARTICLES_DLQ.name).inc()


def run(settings: Settings) -> None:
    """Run the extractor in the foreground (`newsmon run extractor`)."""
    # Faust creates its datadir but not the parents (a fresh state folder has none).
    (settings.service_dir("extractor") / "tables").mkdir(parents=True, exist_ok=True)
    service = ExtractorService(settings)
    try:
        run_worker(service.app, "extractor", settings)
    finally:
        service.runner.close()
