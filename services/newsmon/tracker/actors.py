"""Actors over time: first sighting, mention and article counts, co-occurrence, salience.

An `ActorSalience` record is published when an actor is first seen and when its salience
changes materially: its article count reaches a new power of two (2, 4, 8, ...) or its
mention count at least doubles (by 3 or more) since the last published record. Counting is
idempotent: an article counts once per actor however often it is replayed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import MutableMapping
from itertools import islice
from typing import Any

from newsmon.core import lean
from newsmon.core.bundles import partition_of
from newsmon.core.dlq import Failed
from newsmon.core.models import ActorRef, ActorSalience, ArticleEntities, SourcedEvidence, utcnow
from newsmon.core.tables import Scope, within

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


#: The model the tracker's router decodes `news.entities` with: the contract's, with the
#: items it nests as dicts (core/lean.py).
ROUTED = lean.lean_model(ArticleEntities)


def _salience(ent: dict[str, Any]) -> tuple[int, str]:
    return (-len(ent["mentions"]), ent["id"])


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
    entities = lean.items(rec.entities)
    # The article's most mentioned actors are its companions (an article can name dozens,
    # and every sighting listed them: the re-keyed records grew with the square of that).
    salient = sorted(entities, key=_salience)[: CO_PER_SIGHTING + 1]
    refs = [[e["id"], e["name"]] for e in salient]
    published, ingested_at = rec.published_at.isoformat(), ingested.isoformat()
    groups: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    for ent in entities:
        mentions = ent["mentions"]
        entity = {
            "id": ent["id"],
            "name": ent["name"],
            "type": ent["type"],
            "actor_type": ent["actor_type"],
            "known": ent["known"],
            "mentions": len(mentions),
            # A mention is text, start, end: the evidence as it is.
            "evidence": mentions[:EVIDENCE_MENTIONS],
        }
        groups.setdefault(partition_of(ent["id"]), (ent["id"], []))[1].append(entity)
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


def _evidence_of(mentions: list[dict[str, Any]], article_id: str) -> list[dict[str, Any]]:
    """A sighting's first mentions as the evidence of a first sighting."""
    return [
        {"text": m["text"], "start": m["start"], "end": m["end"], "article_id": article_id}
        for m in mentions
    ]


def material_change(published: dict[str, int], mentions: int, articles: int) -> bool:
    """Whether salience moved enough since the last published record to publish again: the
    article count reached a power of two (2, 4, 8, ...) it had not reached then -- counted
    one article at a time, the moment it equals one; a batch's articles may pass it -- or the
    mention count at least doubled, by 3 or more."""
    before = published["articles"]
    if articles >= 2 and articles > before and articles.bit_length() > before.bit_length():
        return True
    return mentions >= 2 * published["mentions"] and mentions - published["mentions"] >= 3


class _Tally:
    """One actor's sightings of a batch, folded: what its state gains from them."""

    __slots__ = (
        "articles", "co", "earliest", "ent", "ingested", "last_published", "mentions", "names",
    )  # fmt: skip

    def __init__(self, ent: dict[str, Any]) -> None:
        self.ent = ent  # its first sighting's entity (name, type, ... of a new actor)
        self.mentions = 0
        self.articles = 0
        # (published, its time, article id, evidence) of the earliest published sighting.
        self.earliest: tuple[dt.datetime, str, str, list[dict[str, Any]]] | None = None
        # Companion id: sightings with it, in the order first counted. Counted a whole
        # sighting at a time (`Counter.update`): one step per companion was the actors
        # stage's largest cost.
        self.co: Counter[str] = Counter()
        # Companion id: its name as the first sighting that counted it gave it.
        self.names: dict[str, str] = {}
        self.last_published = ""  # of the last sighting folded in (the record's event time)
        self.ingested: tuple[dt.datetime, str] | None = None  # the earliest ingest time

    def count(self, co_ids: list[str], names: dict[str, str]) -> None:
        """Count one sighting's companions (`names`: the article's, by id)."""
        co = self.co
        before = len(co)
        co.update(co_ids)
        # The companions new to the tally are the last ones counted (a Counter keeps the
        # order keys came in): only those need a name.
        for ref_id in islice(reversed(co), len(co) - before):
            self.names[ref_id] = names[ref_id]

    def companions(self) -> dict[str, list[Any]]:
        """Companion id: [name, sightings]."""
        return {ref_id: [self.names[ref_id], n] for ref_id, n in self.co.items()}


def _tally_payload(actor_id: str, tally: _Tally) -> dict[str, Any]:
    """What a dead letter of an actor's tally carries: enough to count it again by hand."""
    return {
        "actor_id": actor_id,
        "entity": tally.ent,
        "mentions": tally.mentions,
        "articles": tally.articles,
        "first_article_id": tally.earliest[2] if tally.earliest else None,
        "first_seen": tally.earliest[1] if tally.earliest else None,
        "co": tally.companions(),
    }


class ActorRegistry:
    """Every actor seen so far, in mappings (Faust tables in the service, dicts in tests).

    `store` maps actor id to its state; `seen` lists, per article and partition, the actors
    the article was already counted for (`counted_key`), so that an article counts once per
    actor.

    Sightings are counted in two steps: `stage` folds an item's new sightings into a tally per
    actor (and lists them in `seen`); `flush` applies each actor's tally to its state once and
    gives the records to publish. An actor named in a thousand articles of a batch costs one
    state update, not a thousand, and gets one record at most: its first sighting, or its
    salience after the batch when that changed materially. The counts are those of one
    sighting at a time; only the co-occurring actors kept may differ at the trim (see
    `_fold`).
    """

    def __init__(
        self,
        store: MutableMapping[str, Any],
        seen: MutableMapping[str, Any],
        scope: Scope | None = None,
    ) -> None:
        self.store = store
        self.seen = seen
        # Enters the context of the record that sighted an actor while `flush` reads and
        # writes its state: a Faust table reads a key only in the partition of the current
        # event, and after a batch that is the batch's last record (core/tables.py). Without
        # it, an actor of another partition that is not in the table's cache -- after a
        # restart -- would be read as new and its counts started again.
        self.scope = scope
        # Actor id: its tally and the record (Faust event) whose state its writes belong to,
        # in the order first sighted.
        self._batch: dict[str, tuple[_Tally, Any]] = {}

    def apply(self, key: str, item: Sighting) -> list[tuple[str, ActorSalience]]:
        """Count a routed item at once (`stage` then `flush`); the records to publish, by
        actor id."""
        if self._batch:
            raise RuntimeError("apply() with sightings pending: flush() them first")
        self.stage(key, item)
        out = []
        for actor_id, result in self.flush():
            if isinstance(result, Failed):
                raise RuntimeError(f"actor {actor_id}: {result.error}")
            out.append((actor_id, result))
        return out

    def stage(self, key: str, item: Sighting) -> None:
        """Fold a routed item -- an article's sightings in one partition (`route_entities`),
        or one sighting as routed by an earlier version -- into the batch's tallies."""
        if "entities" not in item:
            # Companions were {"id", "name"} objects in the first versions, [id, name] after.
            co = [(r["id"], r["name"]) if isinstance(r, dict) else r for r in item["co"]]
            self._stage_article(item, [item["entity"]], co, own_excluded=False)
            return
        self._stage_article(item, item["entities"], item["co"], own_excluded=True)

    def discard(self) -> None:
        """Forget the pending tallies (their batch's writes were dropped)."""
        self._batch.clear()

    def _stage_article(
        self,
        s: Sighting,
        entities: list[dict[str, Any]],
        refs: list[Any],
        own_excluded: bool,
    ) -> None:
        """Fold the article `s`'s sightings of `entities` (one partition's) that its dedup
        entry does not list yet, each once. `refs` are the article's companions as [id, name]
        pairs: an actor's are the first CO_PER_SIGHTING of them other than itself
        (`own_excluded`), or all of them (a sighting routed by an earlier version, listed
        without it). Everything taken from the item is read before anything is folded: an item
        that does not parse changes nothing."""
        if not entities:
            return
        counted_at = counted_key(s["article_id"], entities[0]["id"])
        listed = self.seen.get(counted_at) or []
        counted = set(listed)
        fresh = []
        for ent in entities:
            if ent["id"] not in counted:
                counted.add(ent["id"])
                fresh.append(ent)
        if not fresh:
            return
        published = s["published_at"]
        published_at = dt.datetime.fromisoformat(published)
        ingested = (dt.datetime.fromisoformat(s["ingested_at"]), s["ingested_at"])
        article_id = s["article_id"]
        ids = [r[0] for r in refs]
        names = {r[0]: r[1] for r in reversed(refs)}  # an id listed twice: its first name
        parsed = []
        for ent in fresh:
            mentions = ent["mentions"]
            if isinstance(mentions, list):  # a sighting routed by an earlier version
                ent = {**ent, "mentions": len(mentions), "evidence": mentions[:EVIDENCE_MENTIONS]}
            if not own_excluded:
                co_ids = ids
            elif ent["id"] in names:
                at = ids.index(ent["id"])
                co_ids = [*ids[:at], *ids[at + 1 :]][:CO_PER_SIGHTING]
            else:
                co_ids = ids[:CO_PER_SIGHTING]
            parsed.append((ent, max(1, int(ent["mentions"])), co_ids))
        self.seen[counted_at] = [*listed, *(e["id"] for e in fresh)]
        owner = getattr(self.store, "owner", None)
        batch = self._batch
        for ent, mentions, co_ids in parsed:
            held = batch.get(ent["id"])
            if held is None:
                tally = _Tally(ent)
                batch[ent["id"]] = (tally, owner)
            else:
                tally = held[0]
            tally.mentions += mentions
            tally.articles += 1
            if tally.earliest is None or published_at < tally.earliest[0]:
                tally.earliest = (published_at, published, article_id, ent["evidence"])
            if tally.ingested is None or ingested[0] < tally.ingested[0]:
                tally.ingested = ingested
            tally.last_published = published
            if co_ids:
                tally.count(co_ids, names)

    def flush(self) -> list[tuple[str, ActorSalience | Failed]]:
        """Apply each actor's tally to its state (written in the partition of a record that
        sighted it); the records to publish, by actor id, in the order first sighted. An
        actor whose tally cannot be applied gives a `Failed` (its tally) and the others go
        on; its state is left as it was."""
        out: list[tuple[str, ActorSalience | Failed]] = []
        has_owner = hasattr(self.store, "owner")
        for actor_id, (tally, owner) in self._batch.items():
            if has_owner:
                self.store.owner = owner  # type: ignore[attr-defined]
            try:
                with within(self.scope, owner):
                    result = self._fold(actor_id, tally)
            except Exception as exc:  # one actor's state must not stop the batch
                error = f"{type(exc).__name__}: {exc}"
                out.append((actor_id, Failed(error, _tally_payload(actor_id, tally))))
                continue
            if result is not None:
                out.append((actor_id, result))
        self._batch.clear()
        return out

    def _fold(self, actor_id: str, tally: _Tally) -> ActorSalience | None:
        """Apply one actor's tally to its state; the record to publish, or None.

        The companions kept are trimmed back to the MAX_CO_OCCURRING most frequent once they
        are more than twice that many, after the whole tally: counted one sighting at a time,
        the trim could fall between two sightings and drop a companion the next one brings.
        """
        assert tally.earliest is not None and tally.ingested is not None
        earliest_at, earliest, first_article, evidence = tally.earliest
        state: ActorState | None = self.store.get(actor_id)
        first = state is None
        if state is None:
            ent = tally.ent
            state = {
                "id": actor_id,
                "name": ent["name"],
                "type": ent["type"],
                "actor_type": ent.get("actor_type"),
                "known": ent["known"],
                "first_seen": earliest,
                "first_article_id": first_article,
                "evidence": _evidence_of(evidence, first_article),
                "mentions": 0,
                "articles": 0,
                "co": {},
                "published": {"mentions": 0, "articles": 0},
            }
        else:
            state = dict(state)
            if earliest_at < dt.datetime.fromisoformat(state["first_seen"]):
                # A late article that was published earlier moves the first sighting back.
                state.update(
                    first_seen=earliest,
                    first_article_id=first_article,
                    evidence=_evidence_of(evidence, first_article),
                )
        state["mentions"] += tally.mentions
        state["articles"] += tally.articles
        co = dict(state["co"])
        for ref_id, n in tally.co.items():
            known = co.get(ref_id)
            co[ref_id] = [tally.names[ref_id], n] if known is None else [known[0], known[1] + n]
        if len(co) > 2 * MAX_CO_OCCURRING:
            # Trimmed back to the most frequent when twice the bound: sorting on every
            # update cost more than the rest of it.
            co = dict(sorted(co.items(), key=_by_count)[:MAX_CO_OCCURRING])
        state["co"] = co

        publish = first or material_change(state["published"], state["mentions"], state["articles"])
        if publish:
            state["published"] = {"mentions": state["mentions"], "articles": state["articles"]}
        self.store[actor_id] = state  # reassign: a Faust table only logs assignments
        if not publish:
            return None
        context = {"published_at": tally.last_published, "ingested_at": tally.ingested[1]}
        return self.record(state, "first_seen" if first else "salience", context)

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
