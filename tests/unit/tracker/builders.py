"""Builders of tracker input records (per-article observations, entities, events)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

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

PUBLISHED = dt.datetime(2023, 11, 13, 9, 0, tzinfo=dt.UTC)


def observation(
    value: float,
    as_of: dt.date,
    *,
    metric: str = "aid_trucks_entered",
    period: str = "daily",
    location: str | None = "gaza",
    approximate: bool = False,
    claimant: str | None = None,
    qualifiers: list[str] | None = None,
    start: int = 0,
) -> Observation:
    return Observation(
        id=f"obs-{metric}-{as_of}-{value}-{start}",
        metric=metric,
        unit="truck",
        value=value,
        approximate=approximate,
        as_of=as_of,
        period=period,  # type: ignore[arg-type]
        location=location,
        qualifiers=qualifiers or [],
        claimant=claimant,
        raw=str(value),
        evidence=Evidence(text=f"{value} trucks", start=start, end=start + 10),
    )


def article_observations(
    article_id: str, *obs: Observation, source: str = "guardian", published: dt.datetime = PUBLISHED
) -> ArticleObservations:
    return ArticleObservations(
        article_id=article_id,
        source=source,
        published_at=published,
        extracted_at=published,
        ingested_at=published,
        observations=list(obs),
    )


def entity(eid: str, name: str, type_: str = "PERSON", mentions: int = 1, **kw: Any) -> Entity:
    return Entity(
        id=eid,
        name=name,
        type=type_,  # type: ignore[arg-type]
        known=kw.pop("known", True),
        mentions=[
            Mention(text=name, start=i * 100, end=i * 100 + len(name)) for i in range(mentions)
        ],
        **kw,
    )


def article_entities(
    article_id: str, *ents: Entity, published: dt.datetime = PUBLISHED
) -> ArticleEntities:
    return ArticleEntities(
        article_id=article_id,
        source="guardian",
        published_at=published,
        extracted_at=published,
        entities=list(ents),
    )


def event(
    eid: str,
    date: dt.date,
    goldstein: float,
    cameo: str = "161",
    actor: str = "turkey",
    target: str | None = "israel",
    negated: bool = False,
) -> Event:
    return Event(
        id=eid,
        actor=ActorRef(id=actor, name=actor.capitalize()),
        target=ActorRef(id=target, name=target.capitalize()) if target else None,
        action="withdrew its ambassador",
        cameo=cameo,
        quad_class=4,
        goldstein=goldstein,
        date=date,
        negated=negated,
        evidence=Evidence(text="Turkey withdrew its ambassador from Israel", start=5, end=47),
    )


def article_events(
    article_id: str, *evs: Event, published: dt.datetime = PUBLISHED
) -> ArticleEvents:
    return ArticleEvents(
        article_id=article_id,
        source="guardian",
        published_at=published,
        extracted_at=published,
        events=list(evs),
    )


_PARTITION: contextvars.ContextVar[Any] = contextvars.ContextVar("partition", default=None)


class PartitionedStore(dict[str, Any]):
    """A store that, like a Faust RocksDB table, reads a key only in the partition of the
    current record when there is one (`in_partition`); `partition(key)` says where a key
    lives. Its `owner` is the record being processed, as on a `StagedStore`."""

    owner: Any = None

    def __init__(self, partition: Callable[[str], Any]) -> None:
        super().__init__()
        self.partition = partition

    def _here(self, key: str) -> bool:
        current = _PARTITION.get()
        return current is None or self.partition(key) == current

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, default) if self._here(key) else default

    def __getitem__(self, key: str) -> Any:
        if not self._here(key):
            raise KeyError(key)
        return super().__getitem__(key)


@contextlib.contextmanager
def in_partition(partition: Any) -> Iterator[None]:
    """The current record is in `partition` (Faust's current event, for `PartitionedStore`)."""
    token = _PARTITION.set(partition)
    try:
        yield
    finally:
        _PARTITION.reset(token)
