"""The one place that declares newsmon's Kafka topics (a contract, see ARCHITECTURE.md).

Faust topics, topic creation, JSON schemas, the AsyncAPI document and the compose file are
all derived from `TOPICS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from newsmon.core import models

#: Every stream topic that a Faust table reads from has this many partitions, and so do the
#: tables' changelogs; changing it on a live cluster needs a migration.
PARTITIONS = 4


@dataclass(frozen=True)
class TopicSpec:
    """How one topic is laid out and what it carries."""

    name: str
    partitions: int
    key_field: str
    value_model: type[BaseModel] | Any
    cleanup_policy: Literal["delete", "compact"]
    description: str
    retention_ms: int = -1  # keep news forever by default; operators can change it
    extra_config: tuple[tuple[str, str], ...] = ()

    def adapter(self) -> TypeAdapter[Any]:
        """A validator/serializer of this topic's values (works for unions too)."""
        return TypeAdapter(self.value_model)

    def config(self) -> dict[str, str]:
        """Topic-level Kafka configuration."""
        cfg: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete":
            cfg["retention.ms"] = str(self.retention_ms)
        cfg.update(self.extra_config)
        return cfg


#: How long every `news.metrics` record is kept before compaction may remove it.
METRICS_COMPACTION_LAG_MS = 7 * 24 * 3600 * 1000

ARTICLES_RAW = TopicSpec(
    "news.articles.raw",
    PARTITIONS,
    "id",
    models.Article,
    "delete",
    "Articles accepted by the ingester, keyed by article id; record time is published_at.",
    # The ingester accepts articles dated up to a few days ahead (time zones, embargoes);
    # Kafka's default refuses record times more than an hour in the future.
    extra_config=(("message.timestamp.after.max.ms", str(3 * 24 * 3600 * 1000)),),
)
ARTICLES_DLQ = TopicSpec(
    "news.articles.dlq",
    1,
    "id",
    models.DeadLetter,
    "delete",
    "Rejected input from any stage, with the reason and the original payload.",
)
ENTITIES = TopicSpec(
    "news.entities",
    PARTITIONS,
    "article_id",
    models.ArticleEntities,
    "delete",
    "Canonical entities of each article (one record per article, possibly empty).",
)
OBSERVATIONS = TopicSpec(
    "news.observations",
    PARTITIONS,
    "article_id",
    models.ArticleObservations,
    "delete",
    "Quantity observations of each article (one record per article, possibly empty).",
)
EVENTS = TopicSpec(
    "news.events",
    PARTITIONS,
    "article_id",
    models.ArticleEvents,
    "delete",
    "CAMEO-coded diplomatic events of each article (one record per article, possibly empty).",
)
METRICS = TopicSpec(
    "news.metrics",
    PARTITIONS,
    "series_id",
    models.MetricUpdate,
    "compact",
    "Series updates from the tracker; each record carries the points within "
    "metrics_window_days of the date it changed and the series' latest point; the records of "
    "a series merged in order give the whole series.",
    # Compaction keeps a series' latest record only; without a lag the log cleaner could drop
    # updates a lagging consumer (an alerter back after an outage) has not read yet, and their
    # change alerts with them. Every update is kept for a week at least.
    extra_config=(("min.compaction.lag.ms", str(METRICS_COMPACTION_LAG_MS)),),
)
ACTORS = TopicSpec(
    "news.actors",
    PARTITIONS,
    "actor.id",
    models.ActorRecord,
    "delete",
    "First-seen and salience updates of actors, and relation tone of actor pairs.",
)
ALERTS = TopicSpec(
    "news.alerts",
    1,
    "id",
    models.Alert,
    "delete",
    "Alerts for subscribers; one partition so that every subscriber sees one order.",
)

TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (ARTICLES_RAW, ARTICLES_DLQ, ENTITIES, OBSERVATIONS, EVENTS, METRICS, ACTORS, ALERTS)
}


def topic_name(spec: TopicSpec, prefix: str = "") -> str:
    """The topic's name on the cluster (a prefix lets test stacks share one broker)."""
    return f"{prefix}{spec.name}"
