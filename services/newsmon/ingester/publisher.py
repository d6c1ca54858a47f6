"""Publishing to Kafka: accepted articles to `news.articles.raw`, rejections to `news.articles.dlq`.

One idempotent producer (acks=all, see `core.kafka.producer_kwargs`). An article's key is its
id and its record timestamp its published_at, except for articles dated ahead of the clock:
Kafka 4 refuses record times more than an hour in the future by default
(`log.message.timestamp.after.max.ms`), so those get the ingestion time as record time (their
value still carries the real published_at).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.dlq import dead_letter
from newsmon.core.intake.records import Rejection
from newsmon.core.kafka import producer_kwargs
from newsmon.core.logs import bound_article, get_logger
from newsmon.core.metrics import produced
from newsmon.core.models import Article, DeadLetter
from newsmon.core.serde import encode
from newsmon.core.textsafe import clean
from newsmon.ingester import metrics

log = get_logger("newsmon.ingester.publisher")


class PublishError(Exception):
    """Kafka could not be reached or did not acknowledge; the message says what to do."""


class ArticleSink(Protocol):
    """Where validated articles and rejections go (the Kafka publisher, or a list in tests)."""

    async def publish(self, article: Article, channel: str) -> None: ...

    async def reject(self, rejection: Rejection, channel: str) -> None: ...


def record_time_ms(published_at: dt.datetime, now: dt.datetime | None = None) -> int:
    """The Kafka record timestamp of an article: published_at, or now if that lies ahead."""
    now = now or dt.datetime.now(dt.UTC)
    return int(min(published_at, now).timestamp() * 1000)


def to_dead_letter(rejection: Rejection) -> DeadLetter:
    """The DLQ record of a rejection (also counts it in newsmon_dead_letters_total)."""
    return dead_letter(
        stage="ingester",
        reason=rejection.reason.value,
        detail=rejection.detail,
        payload=rejection.payload,
        source=rejection.source,
        file=rejection.origin.file,
        line=rejection.origin.line,
    )


class KafkaPublisher:
    """The ingester's producer. `enqueue` pipelines sends; `publish`/`reject` wait for the ack."""

    def __init__(self, settings: Settings, **producer_overrides: Any) -> None:
        self.settings = settings
        self.raw_topic = topics.topic_name(topics.ARTICLES_RAW, settings.topic_prefix)
        self.dlq_topic = topics.topic_name(topics.ARTICLES_DLQ, settings.topic_prefix)
        self._kwargs = {**producer_kwargs(settings), **producer_overrides}
        self._producer: AIOKafkaProducer | None = None

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connect, or raise PublishError saying where we tried and what to do."""
        producer = AIOKafkaProducer(**self._kwargs)
        try:
            await producer.start()
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            await producer.stop()
            raise PublishError(
                f"cannot connect to Kafka at {self.settings.bootstrap}: {exc}; start the "
                "local broker with `newsmon broker start`, or set NEWSMON_KAFKA_BOOTSTRAP to "
                "a reachable cluster"
            ) from exc
        self._producer = producer

    async def start_with_retry(self, stop: asyncio.Event, max_delay_s: float = 30.0) -> bool:
        """Keep trying to connect (services start before the broker sometimes); False if stopped."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self.start()
                return True
            except PublishError as exc:
                log.warning("kafka_unavailable", error=str(exc), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, max_delay_s)
        return False

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise PublishError("the publisher is not started")
        return self._producer

    async def enqueue(self, article: Article, channel: str) -> asyncio.Future[Any]:
        """Hand an article to the producer; the returned future resolves on Kafka's ack.

        Metrics are updated when the ack (or the error) arrives.
        """
        producer = self._require()
        value = encode(article)
        started = time.perf_counter()
        fut: asyncio.Future[Any] = await producer.send(
            self.raw_topic,
            value=value,
            key=article.id.encode("utf-8"),
            timestamp_ms=record_time_ms(article.published_at),
        )

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or f.exception() is not None:
                metrics.PUBLISH_ERRORS.labels(topic=topics.ARTICLES_RAW.name).inc()
                return
            metrics.PUBLISH_LATENCY.observe(time.perf_counter() - started)
            metrics.ARTICLES_PUBLISHED.labels(
                channel=channel, source=metrics.SOURCE_LABEL(article.source)
            ).inc()
            metrics.BYTES_PUBLISHED.labels(channel=channel).inc(len(value))
            produced(topics.ARTICLES_RAW.name).inc()

        fut.add_done_callback(done)
        return fut

    async def publish(self, article: Article, channel: str) -> None:
        """Publish one article and wait until Kafka has acknowledged it."""
        with bound_article(article.id):
            try:
                await (await self.enqueue(article, channel))
            except KafkaError as exc:
                log.error("publish_failed", error=str(exc))
                raise PublishError(f"Kafka did not accept article {article.id}: {exc}") from exc
            log.debug("article_published", source=clean(article.source, single_line=True))

    async def reject(self, rejection: Rejection, channel: str) -> None:
        """Send a rejection to the dead-letter topic (and count and log it)."""
        producer = self._require()
        letter = to_dead_letter(rejection)
        metrics.ARTICLES_REJECTED.labels(channel=channel, reason=rejection.reason.value).inc()
        log.warning(
            "article_rejected",
            reason=rejection.reason.value,
            source=clean(rejection.source or "", single_line=True, limit=100) or None,
            file=rejection.origin.file,
            line=rejection.origin.line,
            detail=clean(rejection.detail, single_line=True, limit=300),
        )
        try:
            await (
                await producer.send(
                    self.dlq_topic, value=encode(letter), key=letter.id.encode("utf-8")
                )
            )
        except KafkaError as exc:
            metrics.PUBLISH_ERRORS.labels(topic=topics.ARTICLES_DLQ.name).inc()
            raise PublishError(f"Kafka did not accept a dead letter: {exc}") from exc
        produced(topics.ARTICLES_DLQ.name).inc()

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def stop(self) -> None:
        """Flush what is pending and disconnect."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()  # stop() flushes pending batches first
