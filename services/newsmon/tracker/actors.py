"""Actors over time: first sighting, mention and article counts, co-occurrence, salience.

An `ActorSalience` record is published when an actor is first seen and when its salience
changes materially: its article count reaches a new power of two (2, 4, 8, ...) or its
mention count at least doubles (by 3 or more) since the last published record. Counting is
idempotent: an article counts once per actor however often it is replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
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
    """One sighting per entity of the article, keyed by actor id (the repartition step).

    A sighting carries what counting needs, no more: the mention count, the first mentions
    (evidence of a first sighting) and its companions as [id, name] pairs: the article's
    CO_PER_SIGHTING most mentioned other actors.
    """
    ingested = rec.ingested_at or rec.extracted_at
    # The article's most mentioned actors are its companions (an article can name dozens,
    # and every sighting lists them: the re-keyed records grew with the square of that).
    salient = sorted(rec.entities, key=lambda e: (-len(e.mentions), e.id))[: CO_PER_SIGHTING + 1]
    refs = [[e.id, e.name] for e in salient]
    published, ingested_at = rec.published_at.isoformat(), ingested.isoformat()
    out = []
    for ent in rec.entities:
        out.append(
            (
                ent.id,
                {
                    "article_id": rec.article_id,
                    "source": rec.source,
                    "published_at": published,
                    "ingested_at": ingested_at,
                    "entity": {
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
                    },
                    "co": [r for r in refs if r[0] != ent.id][:CO_PER_SIGHTING],
                },
            )
        )
    return out


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

    def apply(self, actor_id: str, s: Sighting) -> ActorSalience | None:
        """Count one sighting; the record to publish, or None."""
        key = counted_key(s["article_id"], actor_id)
        counted = self.seen.get(key) or []
        if actor_id in counted:
            return None
        self.seen[key] = [*counted, actor_id]
        ent = s["entity"]
        mentions = ent["mentions"]
        if isinstance(mentions, list):  # a sighting routed by an earlier version
            ent = {**ent, "mentions": len(mentions), "evidence": mentions[:EVIDENCE_MENTIONS]}
        evidence = [
            {"text": m["text"], "start": m["start"], "end": m["end"], "article_id": s["article_id"]}
            for m in ent["evidence"]
        ]
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
                "evidence": evidence,
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
                first_seen=s["published_at"], first_article_id=s["article_id"], evidence=evidence
            )
        state["mentions"] += max(1, ent["mentions"])
        state["articles"] += 1
        co = dict(state["co"])
        for ref in s["co"]:
            ref_id, ref_name = (ref["id"], ref["name"]) if isinstance(ref, dict) else ref
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
        out = []
        for actor_id, sighting in route_entities(rec):
            result = self.apply(actor_id, sighting)
            if result is not None:
                out.append(result)
        return out
