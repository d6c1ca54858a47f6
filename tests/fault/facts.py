"""Extractor output made up once, fed straight to the tracker's input topics.

The stream is built so that its final results do not depend on the order in which Kafka
interleaves partitions (a restart changes that order, and the test compares a restarted run with
an uninterrupted one):

* actors appear in many articles on every partition, so their first sighting, mention and
  article counts exercise the tables — the tracker keeps the earliest sighting and counts each
  article once, whatever the order;
* `people_displaced` series get reports of one date from several articles (corroboration and
  conflicting figures); no rule watches them;
* each `aid_trucks_entered` series comes from one article with two dates ("from X to Y"), so its
  change alert depends on nothing else; half of them drop by 70%;
* each event has its own actor pair, so suppression windows never decide between two causes.

`expected_alerts` says what the rules in `rules.yaml` must publish for it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsmon.core import topics
from newsmon.core.models import (
    ActorRef,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    Entity,
    Event,
    Evidence,
    Mention,
    Observation,
)

RULES = Path(__file__).with_name("rules.yaml")
T0 = dt.datetime(2024, 2, 1, 6, tzinfo=dt.UTC)
ACTOR_POOL = 48
HOSTILE = ("161", "130", "190", "172")
CAMEOS = (*HOSTILE, "040")  # 040 (consult) matches no rule

_TYPES: tuple[tuple[str, str], ...] = (("PERSON", "person"), ("ORG", "ngo"), ("GPE", "state"))


@dataclass(frozen=True)
class Fact:
    """One record for a tracker input topic."""

    spec: topics.TopicSpec
    key: str
    value: Any


def _evidence(text: str, start: int = 0) -> Evidence:
    return Evidence(text=text, start=start, end=start + len(text))


def _actor(k: int) -> Entity:
    type_, actor_type = _TYPES[k % len(_TYPES)]
    name = f"Actor {k:02d}"
    mentions = [Mention(text=name, start=10 * j, end=10 * j + len(name)) for j in range(1 + k % 3)]
    return Entity(
        id=f"actor-{k:02d}",
        name=name,
        type=type_,  # type: ignore[arg-type]
        actor_type=actor_type,  # type: ignore[arg-type]
        known=k % 2 == 0,
        mentions=mentions,
    )


def _observation(
    aid: str, n: int, metric: str, loc: str, day: dt.date, value: float
) -> Observation:
    text = f"{value:g} {metric} in {loc} on {day}"
    unit = "truck" if "truck" in metric else "person"
    return Observation(
        id=f"{aid}-o{n}",
        metric=metric,
        unit=unit,
        value=value,
        approximate=n % 3 == 0,
        as_of=day,
        period="daily",
        location=loc,
        raw=f"{value:g}",
        evidence=_evidence(text, 100 * n),
    )


def article_facts(i: int) -> list[Fact]:
    """The three records (entities, observations, events) the extractor would give article i."""
    aid = f"fact-{i:05d}"
    published = T0 + dt.timedelta(minutes=30 * i)
    common: dict[str, Any] = {
        "article_id": aid,
        "source": f"source-{i % 5}",
        "published_at": published,
        "extracted_at": published + dt.timedelta(minutes=1),
        "ingested_at": published + dt.timedelta(seconds=30),
    }
    ids = dict.fromkeys((i % ACTOR_POOL, (7 * i + 3) % ACTOR_POOL, (13 * i + 5) % ACTOR_POOL))
    entities = [_actor(k) for k in ids]

    day = (T0 + dt.timedelta(days=i // 6)).date()
    # Several articles report the same date of a town's series; some disagree.
    displaced = 1000 + 10 * (i // 6) + (5 if i % 4 == 0 else 0)
    obs = [_observation(aid, 0, "people_displaced", f"town-{i % 4}", day, displaced)]
    if i % 3 == 0:
        before = 100 + i
        after = round(before * 0.3) if (i // 3) % 2 == 0 else before - 10
        obs += [
            _observation(aid, 1, "aid_trucks_entered", f"crossing-{i}", day, before),
            _observation(
                aid, 2, "aid_trucks_entered", f"crossing-{i}", day + dt.timedelta(2), after
            ),
        ]

    events = []
    if i % 2 == 0:
        cameo = CAMEOS[(i // 2) % len(CAMEOS)]
        events.append(
            Event(
                id=f"{aid}-e0",
                actor=ActorRef(id=f"party-{i}-a", name=f"Party {i} A"),
                target=ActorRef(id=f"party-{i}-b", name=f"Party {i} B"),
                action=f"action {cameo}",
                cameo=cameo,
                quad_class=4 if cameo != "040" else 1,
                goldstein=-7.0 if cameo != "040" else 1.0,
                date=day,
                evidence=_evidence(f"Party {i} A did {cameo} to Party {i} B."),
            )
        )
    return [
        Fact(topics.ENTITIES, aid, ArticleEntities(**common, entities=entities)),
        Fact(topics.OBSERVATIONS, aid, ArticleObservations(**common, observations=obs)),
        Fact(topics.EVENTS, aid, ArticleEvents(**common, events=events)),
    ]


def stream(n: int) -> list[Fact]:
    """The records of n articles in publication order."""
    return [f for i in range(n) for f in article_facts(i)]


def expected_alerts(n: int) -> Counter[str]:
    """How many alerts of each kind the rules in rules.yaml publish for `stream(n)`."""
    kinds: Counter[str] = Counter()
    actors: set[str] = set()
    for fact in stream(n):
        v = fact.value
        if isinstance(v, ArticleEntities):
            actors.update(e.id for e in v.entities)
        elif isinstance(v, ArticleObservations):
            trucks = [o for o in v.observations if o.metric == "aid_trucks_entered"]
            if len(trucks) == 2 and trucks[1].value <= 0.5 * trucks[0].value:
                kinds["change"] += 1
        elif isinstance(v, ArticleEvents):
            kinds["diplomatic_action"] += sum(1 for e in v.events if e.cameo in HOSTILE)
    kinds["new_actor"] = len(actors)
    return kinds
