"""Actors over time: first sighting, mention and article counts, co-occurrence, salience.

An `ActorSalience` record is published when an actor is first seen and when its salience
changes materially: its article count reaches a new power of two (2, 4, 8, ...) or its
mention count at least doubles (by 3 or more) since the last published record. Counting is
idempotent: an article counts once per actor however often it is replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, MutableMapping
from typing import Any

from newsmon.core.bundles import partition_of
from newsmon.core.models import ActorRef, ActorSalience, ArticleEntities, SourcedEvidence, utcnow

#: Co-occurring actors kept per actor (the most frequent; up to twice as many between two
#: trims), and how many a record lists.
MAX_CO_OCCURRING = 50
CO_OCCURRING_SHOWN = 10
#: Companions counted per sighting: the article's most mentioned other actors.
CO_PER_SIGHTING = 15
#: Mentions quoted as evidence of a first sighting.
EVIDENCE_MENTIONS = 3

ActorState = dict[str, Any]
Sighting = dict[str, Any]


def route_entities(rec: ArticleEntities) -> list[tuple[str, Sighting]]:
    """The article's sightings grouped by partition (the repartition step): one item per
    partition its actors fall in, keyed by its first actor's id.

    A group carries what counting needs, no more: the article's fields once, its companions
    once -- the CO_PER_SIGHTING + 1 most mentioned actors as [id, name] pairs; an actor's
    companions are those other than itself -- and per actor its mention count and first
    mentions (evidence of a first sighting). Grouping sends the article's fields and
    companions once per partition rather than once per actor: they were most of the bytes the
    routers wrote and the stateful agent decoded, and the dedup entry is per article and
    partition anyway (`counted_key`).
    """
    ingested = rec.ingested_at or rec.extracted_at
    # The article's most mentioned actors are its companions (an article can name dozens,
    # and every sighting listed them: the re-keyed records grew with the square of that).
    salient = sorted(rec.entities, key=lambda e: (-len(e.mentions), e.id))[: CO_PER_SIGHTING + 1]
    refs = [[e.id, e.name] for e in salient]
    published, ingested_at = rec.published_at.isoformat(), ingested.isoformat()
    groups: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    for ent in rec.entities:
        entity = {
            "id": ent.id,
            "name": ent.name,
            "type": ent.type,
            "actor_type": ent.actor_type,
            "known": ent.known,
            "mentions": len(ent.mentions),
            "evidence": [
                {"text": m.text, "start": m.start, "end": m.end}
                for m in ent.mentions[:EVIDENCE_MENTIONS]
            ],
        }
        groups.setdefault(partition_of(ent.id), (ent.id, []))[1].append(entity)
    return [
        (
            key,
            {
                "article_id": rec.article_id,
                "source": rec.source,
                "published_at": published,
                "ingested_at": ingested_at,
                "co": refs,
                "entities": entities,
            },
        )
        for key, entities in groups.values()
    ]


def counted_key(article_id: str, actor_id: str) -> str:
    """The dedup entry of an article's actors that share `actor_id`'s partition.

    'article#p<partition>' lists the actors of that partition the article was counted for: one
    entry (one table write, one changelog record) per article and partition rather than per
    actor -- those writes were most of the tracker's table writes. The partition is in the key
    because the entry lives in that partition's store.
    """
    return f"{article_id}#p{partition_of(actor_id)}"


def _by_count(item: tuple[str, list[Any]]) -> tuple[int, str]:
    return (-item[1][1], item[0])


def _evidence(ent: dict[str, Any], article_id: str) -> list[dict[str, Any]]:
    """A sighting's first mentions as the evidence of a first sighting."""
    return [
        {"text": m["text"], "start": m["start"], "end": m["end"], "article_id": article_id}
        for m in ent["evidence"]
    ]


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def material_change(published: dict[str, int], mentions: int, articles: int) -> bool:
    """Whether salience moved enough since the last published record to publish again."""
    if articles > published["articles"] and _is_power_of_two(articles):
        return True
    return mentions >= 2 * published["mentions"] and mentions - published["mentions"] >= 3


class ActorRegistry:
    """Every actor seen so far, in mappings (Faust tables in the service, dicts in tests).

    `store` maps actor id to its state; `seen` lists, per article and partition, the actors
    the article was already counted for (`counted_key`), so that an article counts once per
    actor.
    """

    def __init__(self, store: MutableMapping[str, Any], seen: MutableMapping[str, Any]) -> None:
        self.store = store
        self.seen = seen

    def apply(self, key: str, item: Sighting) -> list[tuple[str, ActorSalience]]:
        """Count a routed item: an article's sightings in one partition (`route_entities`),
        or one sighting as routed by an earlier version. The records to publish, by actor id.
        """
        if "entities" not in item:
            # Companions were {"id", "name"} objects in the first versions, [id, name] after.
            co = [(r["id"], r["name"]) if isinstance(r, dict) else r for r in item["co"]]
            return self._count_article(item, [item["entity"]], lambda ent: co)
        return self._count_article(
            item,
            item["entities"],
            lambda ent: [r for r in item["co"] if r[0] != ent["id"]][:CO_PER_SIGHTING],
        )

    def _count_article(
        self,
        s: Sighting,
        entities: list[dict[str, Any]],
        companions: Callable[[dict[str, Any]], list[Any]],
    ) -> list[tuple[str, ActorSalience]]:
        """Count the article `s`'s sightings of `entities` (one partition's) that its dedup
        entry does not list yet, each once; the records to publish, by actor id."""
        if not entities:
            return []
        counted_at = counted_key(s["article_id"], entities[0]["id"])
        listed = self.seen.get(counted_at) or []
        counted = set(listed)
        fresh = []
        for ent in entities:
            if ent["id"] not in counted:
                counted.add(ent["id"])
                fresh.append(ent)
        if not fresh:
            return []
        self.seen[counted_at] = [*listed, *(e["id"] for e in fresh)]
        out = []
        for ent in fresh:
            result = self._count(ent["id"], s, ent, companions(ent))
            if result is not None:
                out.append((ent["id"], result))
        return out

    def _count(
        self, actor_id: str, s: Sighting, ent: dict[str, Any], co_refs: list[Any]
    ) -> ActorSalience | None:
        """Count one sighting of `actor_id` (`ent`, in the article `s`, not counted before);
        the record to publish, or None."""
        mentions = ent["mentions"]
        if isinstance(mentions, list):  # a sighting routed by an earlier version
            ent = {**ent, "mentions": len(mentions), "evidence": mentions[:EVIDENCE_MENTIONS]}
        state: ActorState | None = self.store.get(actor_id)
        first = state is None
        if state is None:
            state = {
                "id": actor_id,
                "name": ent["name"],
                "type": ent["type"],
                "actor_type": ent.get("actor_type"),
                "known": ent["known"],
                "first_seen": s["published_at"],
                "first_article_id": s["article_id"],
                "evidence": _evidence(ent, s["article_id"]),
                "mentions": 0,
                "articles": 0,
                "co": {},
                "published": {"mentions": 0, "articles": 0},
            }
        else:
            state = dict(state)
        if dt.datetime.fromisoformat(s["published_at"]) < dt.datetime.fromisoformat(
            state["first_seen"]
        ):
            # A late article that was published earlier moves the first sighting back.
            state.update(
                first_seen=s["published_at"],
                first_article_id=s["article_id"],
                evidence=_evidence(ent, s["article_id"]),
            )
        state["mentions"] += max(1, ent["mentions"])
        state["articles"] += 1
        co = dict(state["co"])
        for ref_id, ref_name in co_refs:
            known = co.get(ref_id)
            co[ref_id] = [ref_name, 1] if known is None else [known[0], known[1] + 1]
        if len(co) > 2 * MAX_CO_OCCURRING:
            # Trimmed back to the most frequent when twice the bound: sorting on every
            # sighting cost more than the rest of the update.
            co = dict(sorted(co.items(), key=_by_count)[:MAX_CO_OCCURRING])
        state["co"] = co

        publish = first or material_change(state["published"], state["mentions"], state["articles"])
        if publish:
            state["published"] = {"mentions": state["mentions"], "articles": state["articles"]}
        self.store[actor_id] = state  # reassign: a Faust table only logs assignments
        if not publish:
            return None
        return self.record(state, "first_seen" if first else "salience", s)

    @staticmethod
    def record(state: ActorState, update: str, s: Sighting) -> ActorSalience:
        top = sorted(state["co"].items(), key=_by_count)[:CO_OCCURRING_SHOWN]
        return ActorSalience(
            update=update,
            actor=ActorRef(id=state["id"], name=state["name"]),
            type=state["type"],
            actor_type=state["actor_type"],
            known=state["known"],
            first_seen=dt.datetime.fromisoformat(state["first_seen"]),
            first_article_id=state["first_article_id"],
            mentions=state["mentions"],
            articles=state["articles"],
            co_occurring=[ActorRef(id=k, name=v[0]) for k, v in top],
            evidence=[SourcedEvidence(**e) for e in state["evidence"]],
            event_time=dt.datetime.fromisoformat(s["published_at"]),
            updated_at=utcnow(),
            ingested_at=dt.datetime.fromisoformat(s["ingested_at"]),
        )

    def process(self, rec: ArticleEntities) -> list[ActorSalience]:
        """Route and apply one article's entities (what the two Faust stages do together)."""
        return [r for key, item in route_entities(rec) for _, r in self.apply(key, item)]
