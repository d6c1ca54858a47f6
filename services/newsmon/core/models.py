"""The event contracts: one pydantic v2 model per topic value (see ARCHITECTURE.md).

Every model forbids unknown fields, uses timezone-aware datetimes and carries a
`schema_version`. Field names here are read by tools outside the code: keep them stable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1

EntityType = Literal["PERSON", "ORG", "GPE", "LOC", "NORP", "FAC"]
ActorType = Literal[
    "state",
    "government",
    "armed_group",
    "igo",
    "ngo",
    "person",
    "political_party",
    "media",
    "company",
    "group",
    "place",
    "other",
]
Period = Literal["daily", "cumulative", "planned", "baseline", "point"]
AlertKind = Literal["threshold", "change", "new_actor", "diplomatic_action", "tone_shift"]
Severity = Literal["info", "warning", "critical"]


def utcnow() -> dt.datetime:
    """Now, timezone-aware (UTC)."""
    return dt.datetime.now(dt.UTC)


class Contract(BaseModel):
    """Base of every boundary model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(Contract):
    """The sentence that proves a fact, with character offsets into the article body."""

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class SourcedEvidence(Evidence):
    """Evidence together with the article it comes from (used in alerts and series)."""

    article_id: str


class Mention(Contract):
    """One occurrence of an entity in the article body."""

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Article(Contract):
    """A news article as published on `news.articles.raw` (key: `id`)."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1)
    url: str | None = None
    title: str
    published_at: AwareDatetime
    body: str = Field(min_length=1)
    language: str = "en"
    ingested_at: AwareDatetime


class Position(Contract):
    """Where a rejected input came from."""

    file: str | None = None
    line: int | None = None


class DeadLetter(Contract):
    """A rejected input on `news.articles.dlq`, with the reason and the original payload."""

    schema_version: int = SCHEMA_VERSION
    id: str
    stage: Literal["ingester", "extractor", "tracker", "alerter"]
    reason: str = Field(description="A short machine-readable reason code, e.g. 'empty_body'.")
    detail: str = Field(description="A human explanation of what is wrong and what to do.")
    source: str | None = None
    position: Position | None = None
    article_id: str | None = None
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_truncated: bool = False
    failed_at: AwareDatetime


class Entity(Contract):
    """A canonical actor or place mentioned in an article."""

    id: str = Field(description="Canonical slug, stable across articles.")
    name: str = Field(description="Canonical name, e.g. 'Antony Blinken'.")
    type: EntityType
    actor_type: ActorType | None = None
    country: str | None = None
    known: bool = Field(description="True when the actor is in the curated catalogue.")
    mentions: list[Mention]


class ArticleRecord(Contract):
    """The header of the extractor's per-article records: which article, from where, when."""

    schema_version: int = SCHEMA_VERSION
    article_id: str
    source: str
    published_at: AwareDatetime
    extracted_at: AwareDatetime
    ingested_at: AwareDatetime | None = Field(
        default=None,
        description="When the article entered the pipeline, carried for end-to-end latency.",
    )


class ArticleEntities(ArticleRecord):
    """Value on `news.entities` (key: `article_id`): every entity of one article."""

    entities: list[Entity]


class Observation(Contract):
    """A reported figure: a quantity of a counted thing at a date, with its hedge and meaning."""

    id: str = Field(description="Deterministic: article id + evidence offsets + metric.")
    metric: str = Field(description="Metric id from the catalogue, or 'count_<unit>' when unknown.")
    unit: str = Field(description="Singular unit noun, e.g. 'truck', 'litre', 'hostage'.")
    value: float
    approximate: bool = False
    as_of: dt.date = Field(description="The date the figure refers to.")
    as_of_text: str | None = Field(default=None, description="The words the date came from.")
    period: Period
    location: str | None = Field(default=None, description="Canonical place id, e.g. 'gaza'.")
    qualifiers: list[str] = Field(default_factory=list)
    claimant: str | None = None
    raw: str = Field(description="The figure as written, e.g. 'approximately 30'.")
    linked_to: str | None = Field(
        default=None, description="Id of the other end of a change statement ('from 100 to 30')."
    )
    evidence: Evidence


class ArticleObservations(ArticleRecord):
    """Value on `news.observations` (key: `article_id`): every observation of one article."""

    observations: list[Observation]


class ActorRef(Contract):
    """A canonical entity referred to by id and name."""

    id: str
    name: str


class Event(Contract):
    """A diplomatic action: actor, CAMEO-coded action, target, with its evidence."""

    id: str
    actor: ActorRef
    target: ActorRef | None = None
    action: str = Field(description="The verb phrase, e.g. 'withdrew its ambassador'.")
    cameo: str = Field(pattern=r"^\d{2,4}$")
    quad_class: int = Field(ge=1, le=4)
    goldstein: float = Field(ge=-10.0, le=10.0)
    date: dt.date
    negated: bool = False
    evidence: Evidence


class ArticleEvents(ArticleRecord):
    """Value on `news.events` (key: `article_id`): every event of one article."""

    events: list[Event]


class SeriesPoint(Contract):
    """One date of a tracked series, with every report of it."""

    as_of: dt.date
    value: float
    approximate: bool = False
    corroboration: int = Field(ge=1, description="How many distinct sources reported this value.")
    reports: int = Field(
        default=1, ge=1, description="How many articles reported this value for this date."
    )
    sources: list[str]
    article_ids: list[str] = Field(
        description="Articles that reported this value (the first 10 counted, sorted)."
    )
    claimants: list[str] = Field(default_factory=list)
    alternatives: list[float] = Field(
        default_factory=list, description="Conflicting values reported for the same date."
    )
    evidence: list[SourcedEvidence] = Field(
        default_factory=list,
        description="The sentences that reported the chosen value (the 3 earliest published).",
    )


class MetricUpdate(Contract):
    """Value on `news.metrics` (key: `series_id`): a series changed."""

    schema_version: int = SCHEMA_VERSION
    series_id: str
    metric: str
    unit: str
    location: str | None
    qualifiers: list[str]
    period: Period
    as_of: dt.date
    value: float
    approximate: bool
    previous_value: float | None
    previous_as_of: dt.date | None
    previous_approximate: bool | None = None
    change_abs: float | None
    change_pct: float | None
    sources: list[str]
    article_ids: list[str]
    corroboration: int
    evidence: list[SourcedEvidence]
    points: list[SeriesPoint] = Field(
        description=(
            "The series' points within `window_days` of `as_of`, at least the points just "
            "before and after it, and the series' latest point, ordered by as_of. Every "
            "change of a point is published with that point, so the records of a series "
            "merged in order (`merge_series`) give the whole series."
        )
    )
    points_total: int | None = Field(
        default=None, ge=1, description="How many dates the whole series has."
    )
    window_days: int | None = Field(
        default=None, ge=1, description="Days either side of `as_of` that `points` cover."
    )
    event_time: AwareDatetime = Field(description="published_at of the article that caused it.")
    updated_at: AwareDatetime
    ingested_at: AwareDatetime | None = Field(
        default=None,
        description="When the article entered the pipeline, carried for end-to-end latency.",
    )


def merge_series(updates: Iterable[MetricUpdate]) -> dict[str, MetricUpdate]:
    """The whole series from their `news.metrics` records, in the order they were published.

    Each record carries the point it changed and its neighbours at that moment, so a later
    record's points replace an earlier one's: the result is each series' last record with
    every point any of its records carried. (After the topic is compacted only a series'
    last record is left, hence only its window and latest point.)
    """
    merged: dict[str, dict[dt.date, SeriesPoint]] = {}
    last: dict[str, MetricUpdate] = {}
    for u in updates:
        points = merged.setdefault(u.series_id, {})
        for p in u.points:
            points[p.as_of] = p
        last[u.series_id] = u
    return {
        sid: u.model_copy(update={"points": [merged[sid][d] for d in sorted(merged[sid])]})
        for sid, u in last.items()
    }


class ActorSalience(Contract):
    """An actor's first sighting or a material change of its salience (on `news.actors`)."""

    schema_version: int = SCHEMA_VERSION
    record: Literal["actor"] = "actor"
    update: Literal["first_seen", "salience"]
    actor: ActorRef
    type: EntityType
    actor_type: ActorType | None = None
    known: bool
    first_seen: AwareDatetime
    first_article_id: str
    mentions: int
    articles: int
    co_occurring: list[ActorRef] = Field(default_factory=list)
    evidence: list[SourcedEvidence] = Field(default_factory=list)
    event_time: AwareDatetime
    updated_at: AwareDatetime
    ingested_at: AwareDatetime | None = Field(
        default=None,
        description="When the article entered the pipeline, carried for end-to-end latency.",
    )


class RelationTone(Contract):
    """The rolling Goldstein tone of an ordered pair of actors (on `news.actors`)."""

    schema_version: int = SCHEMA_VERSION
    record: Literal["tone"] = "tone"
    actor: ActorRef
    target: ActorRef
    window_days: int
    window_end: dt.date
    events: int
    goldstein_sum: float
    goldstein_mean: float
    previous_mean: float | None
    last_event: Event
    article_ids: list[str]
    event_time: AwareDatetime
    updated_at: AwareDatetime
    ingested_at: AwareDatetime | None = Field(
        default=None,
        description="When the article entered the pipeline, carried for end-to-end latency.",
    )


ActorRecord = Annotated[ActorSalience | RelationTone, Field(discriminator="record")]
ActorRecordAdapter: TypeAdapter[ActorSalience | RelationTone] = TypeAdapter(ActorRecord)


class SeriesValue(Contract):
    """A (date, value) pair quoted by a metric alert."""

    as_of: dt.date
    value: float
    approximate: bool = False


class Alert(Contract):
    """Value on `news.alerts` (key: `id`). Same cause ⇒ same `id`."""

    schema_version: int = SCHEMA_VERSION
    id: str
    kind: AlertKind
    status: Literal["firing", "resolved"] = "firing"
    severity: Severity
    title: str
    summary: str
    subject: str = Field(description="What the alert is about: a series id, actor id or pair.")
    rule: str
    event_time: AwareDatetime
    created_at: AwareDatetime
    article_ids: list[str]
    evidence: list[SourcedEvidence]
    metric: str | None = None
    values: list[SeriesValue] | None = None
    actor: ActorRef | None = None
    target: ActorRef | None = None
    cameo: str | None = None
    goldstein: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
