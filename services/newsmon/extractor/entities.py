"""Canonical entities: the spaCy/ruler spans of a parsed article mapped onto catalogue actors
(one entity per real-world actor, with every mention), unknown actors kept with stable slugs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span, Token

from newsmon.core.ids import slugify
from newsmon.core.models import Entity, Mention
from newsmon.extractor.catalogue import Actor, ActorCatalogue, normalise_surface
from newsmon.extractor.nlp import ROLE_LABEL

KEPT_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC"})
#: Positions in which a capital stands for its government ("Tehran announced", "accused
#: Washington"), unless the verb is a physical one ("visited Ankara", "shelled Kyiv").
_ACTOR_DEPS = frozenset({"nsubj", "nsubjpass", "poss", "dobj"})
_PHYSICAL_LEMMAS = frozenset(
    {"visit", "reach", "enter", "leave", "arrive", "travel", "fly", "return", "attack", "strike",
     "shell", "bomb", "hit", "target", "besiege", "capture", "seize", "evacuate", "flee",
     "surround", "occupy", "raid", "bombard", "liberate", "tour", "move", "relocate"}
)  # fmt: skip
#: Names the model tags as organisations that are only a generic institution: they stand for
#: the state named just before them ("Qatar's Foreign Ministry") or for nothing.
GENERIC_INSTITUTIONS = frozenset(
    {"foreign ministry", "ministry", "army", "defence", "defense", "military", "government",
     "health ministry", "interior ministry", "defence ministry", "defense ministry", "cabinet",
     "police", "navy", "air force", "parliament", "presidency", "state media", "foreign office",
     "war cabinet", "security cabinet", "ministry of foreign affairs", "ministry of health",
     "ministry of defence", "ministry of defense", "armed forces", "coast guard", "senate",
     "congress", "state department", "foreign affairs"}
)  # fmt: skip
#: Head words that make "<demonym> ... <head>" an organisation's name ("Palestinian
#: Prisoners' Society"), not a demonym followed by words.
ORG_HEADS = frozenset(
    {"society", "authority", "council", "committee", "association", "union", "front",
     "movement", "party", "brigades", "agency", "organization", "organisation", "commission",
     "crescent", "foundation", "institute", "federation", "league", "network", "centre",
     "center", "coalition", "alliance", "syndicate", "bank", "company", "corporation"}
)  # fmt: skip


@dataclass
class ResolvedEntity:
    """An entity being built: identity plus its mentions (offsets into the body)."""

    id: str
    name: str
    type: str
    actor_type: str | None
    country: str | None
    known: bool
    capital_of: str | None = None
    mentions: list[tuple[str, int, int]] = field(default_factory=list)

    def to_model(self) -> Entity:
        seen: set[tuple[int, int]] = set()
        mentions = []
        for text, start, end in sorted(self.mentions, key=lambda m: m[1]):
            if (start, end) not in seen:
                seen.add((start, end))
                mentions.append(Mention(text=text, start=start, end=end))
        return Entity(
            id=self.id,
            name=self.name,
            type=self.type,
            actor_type=self.actor_type,
            country=self.country,
            known=self.known,
            mentions=mentions,
        )


@dataclass
class EntityIndex:
    """The article's entities and, for the event and quantity stages, which entity each token
    belongs to."""

    entities: dict[str, ResolvedEntity]
    by_token: dict[int, str]

    def at(self, token: Token) -> ResolvedEntity | None:
        eid = self.by_token.get(token.i)
        return self.entities.get(eid) if eid else None

    def models(self) -> list[Entity]:
        ordered = sorted(self.entities.values(), key=lambda e: min(m[1] for m in e.mentions))
        return [e.to_model() for e in ordered]


def _is_generic(text: str) -> bool:
    """ "Foreign Ministry", "the Army": an institution without a name of its own."""
    low = text.lower()
    return low in GENERIC_INSTITUTIONS or (
        low.split(" ", 1)[0] in {"foreign", "health", "defence", "defense", "interior"}
        and low.split(" ", 1)[-1] in GENERIC_INSTITUTIONS
    )


def _is_metonymic(span: Span) -> bool:
    """A capital used as a party to an action stands for its government."""
    root = span.root
    if root.dep_ in _ACTOR_DEPS:
        return root.dep_ != "dobj" or root.head.lemma_.lower() not in _PHYSICAL_LEMMAS
    return root.dep_ == "pobj" and root.head.dep_ == "agent"


def _org_name_after_demonym(span: Span) -> Span | None:
    """ "Palestinian Prisoners' Society": a demonym that starts an organisation's name."""
    doc = span.doc
    j = span.end
    while j < len(doc) and (doc[j].is_title or doc[j].text in {"'", "’", "'s", "’s", "of", "for"}):
        j += 1
    while j > span.end and not doc[j - 1].is_title:
        j -= 1
    if j > span.end and doc[j - 1].lower_.rstrip("'’") in ORG_HEADS:
        return doc[span.start : j]
    return None


def _next_is_person(span: Span) -> bool:
    """A role title directly followed by a name ("Turkish Foreign Minister Hakan Fidan" or
    "The Iraqi Prime Minister, Mohammed Shia al-Sudani") is the name's title."""
    doc = span.doc
    i = span.end
    while i < len(doc) and doc[i].is_punct and doc[i].text in {",", "—", "–"}:
        i += 1
    return i < len(doc) and doc[i].ent_type_ == "PERSON" and doc[i].ent_iob_ == "B"


def _text_at(doc: Doc, i: int, n: int) -> str:
    """The `n` characters of the text from token `i` on: `doc.text[doc[i].idx :][:n]` without
    joining the whole document's text, which spaCy rebuilds on every `Doc.text`."""
    parts: list[str] = []
    size = 0
    while i < len(doc) and size < n:
        part = doc[i].text_with_ws
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts)[:n]


class EntityResolver:
    """Maps a parsed Doc's entity spans onto canonical entities."""

    def __init__(self, actors: ActorCatalogue) -> None:
        self.actors = actors

    def _from_actor(self, out: dict[str, ResolvedEntity], actor: Actor) -> ResolvedEntity:
        ent = out.get(actor.id)
        if ent is None:
            ent = ResolvedEntity(
                id=actor.id,
                name=actor.name,
                type=actor.type,
                actor_type=actor.actor_type,
                country=actor.country,
                known=True,
                capital_of=actor.capital_of,
            )
            out[actor.id] = ent
        return ent

    @staticmethod
    def _owner_before(
        span: Span, by_token: dict[int, str], out: dict[str, ResolvedEntity]
    ) -> ResolvedEntity | None:
        """The state named just before a generic institution ("Qatar's Foreign Ministry")."""
        i = span.start - 1
        if i >= 0 and span.doc[i].text in {"'s", "’s", "'", "’"}:
            i -= 1
        if i >= 0 and i in by_token:
            ent = out.get(by_token[i])
            if ent is not None and ent.actor_type == "state":
                return ent
        for t in span:
            if t.i in by_token:
                return out.get(by_token[t.i])
        return None

    def resolve(self, doc: Doc, day: dt.date) -> EntityIndex:
        out: dict[str, ResolvedEntity] = {}
        by_token: dict[int, str] = {}
        unknown_people: dict[str, str] = {}  # surname -> id of an unknown full-named person
        titled: list[Span] = []  # role titles that precede a name

        def add(ent: ResolvedEntity, span: Span, start_tok: int | None = None) -> None:
            s = doc[start_tok if start_tok is not None else span.start : span.end]
            if s.text.lower().startswith("the "):
                s = s[1:]
            # drop a trailing possessive ("US’s") from the mention
            if len(s) > 1 and s[-1].text in {"'s", "’s", "'", "’"}:
                s = s[:-1]
            if not len(s):
                return
            ent.mentions.append((s.text, s.start_char, s.end_char))
            for t in s:
                by_token[t.i] = ent.id

        claimed_until = -1
        for span in doc.ents:
            if span.start < claimed_until:
                continue  # inside an organisation name built from a demonym
            label = span.label_
            if label == ROLE_LABEL:
                _, title, of, prefix_len = span.ent_id_.split("|")
                owner = self.actors.get(of)
                n = int(prefix_len)
                if owner is not None and n:
                    prefix = doc.char_span(span.start_char, span.start_char + n, "X")
                    if prefix is not None:
                        add(self._from_actor(out, owner), prefix)
                if _next_is_person(span):
                    titled.append(span[len(_text_at(doc, span.start, n).split()) if n else 0 :])
                    continue
                holder = self.actors.holder(title, of, day)
                if holder is not None:
                    add(self._from_actor(out, holder), span)
                continue
            if label not in KEPT_LABELS:
                continue
            actor = self.actors.get(span.ent_id_) if span.ent_id_ else None
            if actor is not None and label == "NORP" and span.text in actor.demonyms:
                org = _org_name_after_demonym(span)
                if org is not None:
                    actor, span, label = None, org, "ORG"
                    claimed_until = org.end
            if actor is None:
                actor = self.actors.lookup(span.text)
            if actor is not None:
                if actor.capital_of and _is_metonymic(span):
                    actor = self.actors.get(actor.capital_of) or actor
                add(self._from_actor(out, actor), span)
                continue
            text = normalise_surface(span.text)
            if _is_generic(text):
                institution_of = self._owner_before(span, by_token, out)
                if institution_of is not None:
                    add(institution_of, span)
                continue
            if (
                len(text) < 2
                or not any(c.isupper() for c in text)
                or any(c.isdigit() for c in text)
            ):
                continue  # lowercase or numeric NER spans are model noise, not actors
            if label == "PERSON":
                parts = text.split()
                if len(parts) == 1 and parts[0] in unknown_people:
                    add(out[unknown_people[parts[0]]], span)
                    continue
            eid = slugify(text)
            ent = out.get(eid)
            if ent is None:
                ent = ResolvedEntity(
                    id=eid,
                    name=text,
                    type=label,
                    actor_type="person" if label == "PERSON" else None,
                    country=None,
                    known=False,
                )
                out[eid] = ent
                if label == "PERSON" and len(text.split()) > 1:
                    unknown_people.setdefault(text.split()[-1], eid)
            add(ent, span)
        for role_span in titled:
            # "The Iraqi Prime Minister, Mohammed Shia al-Sudani, traveled": the title's head
            # token stands for the named person in the parse
            i = role_span.end
            while i < len(doc) and doc[i].is_punct:
                i += 1
            person = by_token.get(i)
            if person is not None:
                for t in role_span:
                    by_token.setdefault(t.i, person)
        return EntityIndex(entities=out, by_token=by_token)
