"""Builders of alerter inputs: metric updates, actor records, tone records, events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from newsmon.alerter.rules import RuleSet, parse_rules
from newsmon.core.models import (
    ActorRef,
    ActorSalience,
    ArticleEvents,
    Event,
    Evidence,
    MetricUpdate,
    RelationTone,
    SeriesPoint,
    SourcedEvidence,
)

T0 = dt.datetime(2023, 11, 13, 9, 0, tzinfo=dt.UTC)
SID = "aid_trucks_entered@gaza/daily"


def day(n: int) -> dt.date:
    return dt.date(2023, 11, n)


def point(n: int, value: float, approx: bool = False, article: str = "a1") -> SeriesPoint:
    return SeriesPoint(
        as_of=day(n),
        value=value,
        approximate=approx,
        corroboration=1,
        sources=["guardian"],
        article_ids=[article],
        evidence=[
            SourcedEvidence(
                text=f"{value:g} trucks", start=int(value), end=int(value) + 9, article_id=article
            )
        ],
    )


def update(
    points: list[SeriesPoint],
    as_of: int | None = None,
    metric: str = "aid_trucks_entered",
    period: str = "daily",
    event_time: dt.datetime = T0,
) -> MetricUpdate:
    at = day(as_of) if as_of else points[-1].as_of
    i = next(k for k, p in enumerate(points) if p.as_of == at)
    p, prev = points[i], points[i - 1] if i else None
    return MetricUpdate(
        series_id=f"{metric}@gaza/{period}",
        metric=metric,
        unit="truck",
        location="gaza",
        qualifiers=[],
        period=period,  # type: ignore[arg-type]
        as_of=p.as_of,
        value=p.value,
        approximate=p.approximate,
        previous_value=prev.value if prev else None,
        previous_as_of=prev.as_of if prev else None,
        change_abs=None,
        change_pct=None,
        sources=p.sources,
        article_ids=p.article_ids,
        corroboration=1,
        evidence=p.evidence,
        points=points,
        event_time=event_time,
        updated_at=event_time,
        ingested_at=event_time,
    )


def salience(
    actor: str = "hakan-fidan",
    name: str = "Hakan Fidan",
    type_: str = "PERSON",
    actor_type: str | None = "person",
    mentions: int = 1,
    update_: str = "first_seen",
) -> ActorSalience:
    return ActorSalience(
        update=update_,  # type: ignore[arg-type]
        actor=ActorRef(id=actor, name=name),
        type=type_,  # type: ignore[arg-type]
        actor_type=actor_type,  # type: ignore[arg-type]
        known=True,
        first_seen=T0,
        first_article_id="a1",
        mentions=mentions,
        articles=1,
        evidence=[SourcedEvidence(text=name, start=0, end=len(name), article_id="a1")],
        event_time=T0,
        updated_at=T0,
    )


def ev(
    cameo: str = "161",
    goldstein: float = -4.0,
    actor: str = "turkey",
    target: str | None = "israel",
    negated: bool = False,
    date: int = 11,
    eid: str = "e1",
) -> Event:
    return Event(
        id=eid,
        actor=ActorRef(id=actor, name=actor.capitalize()),
        target=ActorRef(id=target, name=target.capitalize()) if target else None,
        action="withdrew its ambassador from",
        cameo=cameo,
        quad_class=4,
        goldstein=goldstein,
        date=day(date),
        negated=negated,
        evidence=Evidence(text="Turkey withdrew its ambassador from Israel", start=5, end=47),
    )


def events(*evs: Event, article: str = "a1") -> ArticleEvents:
    return ArticleEvents(
        article_id=article, source="guardian", published_at=T0, extracted_at=T0, events=list(evs)
    )


def tone(mean: float, previous: float | None, events_: int = 2) -> RelationTone:
    return RelationTone(
        actor=ActorRef(id="turkey", name="Turkey"),
        target=ActorRef(id="israel", name="Israel"),
        window_days=7,
        window_end=day(11),
        events=events_,
        goldstein_sum=mean * events_,
        goldstein_mean=mean,
        previous_mean=previous,
        last_event=ev(),
        article_ids=["a0", "a1"],
        event_time=T0,
        updated_at=T0,
    )


def rules(*docs: dict[str, Any], labels: dict[str, str] | None = None) -> RuleSet:
    return parse_rules({"rules": list(docs), "labels": labels or {}})
