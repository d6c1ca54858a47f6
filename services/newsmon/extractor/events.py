"""Diplomatic events: actor–action–target triples read off the dependency parse, coded with
the CAMEO verb lexicon, with negation and non-events (hypotheticals, refusals) handled."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from newsmon.core.ids import digest
from newsmon.core.models import ActorRef, Event, Evidence
from newsmon.extractor.catalogue import VerbLexicon, VerbRule
from newsmon.extractor.dates import resolve_relative_date
from newsmon.extractor.entities import EntityIndex, ResolvedEntity
from newsmon.extractor.sentences import Sentences

#: Verbs whose complement did not happen ("refrained from severing", "refused to meet").
NEGATING_LEMMAS = frozenset({"refrain", "refuse", "decline", "fail", "avoid", "stop", "reject",
                             "resist", "deny", "halt", "abandon", "oppose", "veto"})  # fmt: skip
#: Verbs whose infinitive complement happened ("decided to recall its ambassador").
REALIS_LEMMAS = frozenset({"decide", "move", "vote", "begin", "start", "proceed", "go",
                           "continue", "choose", "manage", "opt", "resolve"})  # fmt: skip
MODALS = frozenset({"could", "might", "may", "would", "should", "can", "must", "ought"})
CONDITIONAL_MARKS = frozenset({"if", "unless", "whether"})
FIRST_PERSON = frozenset({"i", "we", "us", "me"})
THIRD_PERSON = frozenset({"he", "she", "him", "her"})
SPEECH_LEMMAS = frozenset({"say", "declare", "exclaim", "tell", "add", "state", "announce",
                           "write", "insist", "warn", "stress", "tweet", "post"})  # fmt: skip
#: Prepositions of a verb's object that name the other party ("rejected talks with the RSF").
_OBJECT_PREPS = frozenset({"with", "against", "to", "from"})
#: Nouns whose of-complement is who acts or is acted on ("the government of Israel").
_REPRESENTATIVES = frozenset(
    {"government", "leader", "leadership", "people", "president", "minister", "army", "force",
     "ministry", "authority", "state", "embassy", "ambassador", "envoy", "delegation",
     "representative", "official", "member", "head", "chief", "spokesman", "spokesperson",
     "foreign", "king", "emir", "prime", "troop", "militia", "wing", "office", "citizen"}
)  # fmt: skip
#: Subject positions a pronoun's antecedent is looked for in.
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})


@dataclass
class Candidate:
    verb: Token
    rule: VerbRule
    actor: ResolvedEntity
    target: ResolvedEntity | None
    negated: bool


class EventExtractor:
    """Finds CAMEO-coded events in a parsed Doc."""

    def __init__(self, lexicon: VerbLexicon) -> None:
        self.lexicon = lexicon

    # --------------------------------------------------------------- entities
    def _entity_in(
        self, tok: Token, entities: EntityIndex, depth: int = 0
    ) -> ResolvedEntity | None:
        """The entity a noun phrase headed by `tok` refers to: the head itself, then its
        compounds/appositions, then an of-complement ("the government of Israel")."""
        ent = entities.at(tok)
        if ent is not None:
            return ent
        if depth > 2:
            return None
        children = sorted(tok.children, key=lambda c: c.dep_ != "appos")
        for child in children:
            if child.dep_ in ("appos", "compound", "amod", "nmod"):
                ent = entities.at(child)
                if ent is not None:
                    return ent
        for child in tok.children:
            if child.dep_ == "poss" and tok.lemma_.lower() in _REPRESENTATIVES:
                # "Iran's ambassador", "Israel's army"
                found = self._entity_in(child, entities, depth + 1)
                if found is not None:
                    return found
            if (
                child.dep_ == "prep"
                and child.lower_ == "of"
                and tok.lemma_.lower() in _REPRESENTATIVES
            ):
                for obj in child.children:
                    if obj.dep_ == "pobj":
                        return self._entity_in(obj, entities, depth + 1)
            if child.dep_ in ("appos", "conj"):
                found = self._entity_in(child, entities, depth + 1)
                if found is not None:
                    return found
        return None

    def _pronoun(
        self, tok: Token, entities: EntityIndex, exclude: str | None
    ) -> ResolvedEntity | None:
        """he/she/him/her: the person who was last the subject of a clause (other than
        `exclude`), else the person mentioned last."""
        if tok.pos_ != "PRON" or tok.lower_ not in THIRD_PERSON:
            return None
        fallback: ResolvedEntity | None = None
        for i in range(tok.i - 1, max(-1, tok.i - 200), -1):
            t = tok.doc[i]
            ent = entities.at(t)
            if ent is None or ent.type != "PERSON" or ent.id == exclude:
                continue
            head = t
            while head.dep_ in ("compound", "appos", "flat") and head.head.i != head.i:
                head = head.head
            if head.dep_ in _SUBJECT_DEPS:
                return ent
            fallback = fallback or ent
        return fallback

    def _as_actor(self, ent: ResolvedEntity | None, entities: EntityIndex) -> ResolvedEntity | None:
        """A capital city acting stands for its state."""
        if ent is not None and ent.capital_of and ent.capital_of in entities.entities:
            return entities.entities[ent.capital_of]
        return ent

    def _actor(self, verb: Token, entities: EntityIndex) -> ResolvedEntity | None:
        """The entity acting: the clause subject (climbing out of infinitives, participles and
        quotes), the agent of a passive, or the noun a participle modifies. Coordinated
        subjects ("Germany and the UK suspended...") are left in `_co_actors`."""
        self._co_actors: list[ResolvedEntity] = []
        head = verb
        quoted = False
        for _ in range(5):
            for child in head.children:
                if child.dep_ in ("nsubj", "csubj"):
                    if child.pos_ == "PRON" and child.lower_ in FIRST_PERSON:
                        quoted = True
                        break  # a quoted speaker: the subject of the verb of saying acts
                    if quoted and head.lemma_.lower() not in SPEECH_LEMMAS:
                        break
                    ent = self._entity_in(child, entities) or self._pronoun(child, entities, None)
                    self._co_actors = [
                        e
                        for c in child.conjuncts
                        if (e := self._entity_in(c, entities)) is not None
                    ]
                    return ent
                if child.dep_ == "agent":
                    for obj in child.children:
                        if obj.dep_ == "pobj":
                            return self._entity_in(obj, entities)
            # "with President Raisi urging Modi": the modified noun acts
            if head.dep_ in ("acl", "relcl") and head.head.pos_ in ("PROPN", "NOUN"):
                return self._entity_in(head.head, entities)
            if (
                head.dep_ in ("xcomp", "conj", "advcl", "ccomp", "pcomp", "acl")
                and head.head.i != head.i
            ):
                head = head.head
                if head.pos_ not in ("VERB", "AUX"):
                    # "Following a meeting with X, Blinken will attend": climb to the clause verb
                    while head.pos_ not in ("VERB", "AUX") and head.head.i != head.i:
                        head = head.head
                continue
            if head.dep_ in ("pobj", "prep") and head.head.i != head.i:
                head = head.head
                continue
            break
        return None

    def _target(
        self, verb: Token, rule: VerbRule, entities: EntityIndex, actor: ResolvedEntity
    ) -> ResolvedEntity | None:
        candidates: list[Token] = []
        for child in verb.children:
            if child.dep_ in ("dobj", "dative", "attr", "nsubjpass") and child.dep_ != "nsubjpass":
                candidates.append(child)
        for child in verb.children:
            if child.dep_ == "prep" and child.lower_ in rule.target_preps:
                candidates += [c for c in child.children if c.dep_ == "pobj"]
            if child.dep_ == "prt" and child.lower_ in rule.target_preps:
                candidates += [c for c in child.children if c.dep_ == "pobj"]
        # the other party of any action: "rejected new talks with the RSF"
        for child in verb.children:
            if (
                child.dep_ == "prep"
                and child.lower_ in ("with", "against")
                and child.lower_ not in rule.target_preps
            ):
                candidates += [c for c in child.children if c.dep_ == "pobj"]
        # the object's own complements: "withdrew its ambassador from Israel",
        # "announced a conference with Saudi Arabia"
        for child in list(verb.children):
            if child.dep_ == "dobj":
                for gc in child.children:
                    if gc.dep_ == "prep" and (
                        gc.lower_ in rule.target_preps or gc.lower_ in _OBJECT_PREPS
                    ):
                        candidates += [c for c in gc.children if c.dep_ == "pobj"]
        for cand in candidates:
            ent = self._entity_in(cand, entities) or self._pronoun(cand, entities, actor.id)
            if ent is not None and ent.actor_type == "place" and ent.country is None:
                continue  # a region ("the Middle East") is not a party to an event
            if ent is not None and ent.id != actor.id:
                physical = rule.code[:2] in ("15", "17", "18", "19", "20")
                if not physical and ent.capital_of and ent.capital_of in entities.entities:
                    return entities.entities[ent.capital_of]  # visiting Tehran is visiting Iran
                return ent
            if rule.objects and cand.dep_ == "dobj":
                continue
        return None

    # --------------------------------------------------------------- matching
    def _match(
        self, verb: Token, table: dict[str, list[VerbRule]], sentences: Sentences
    ) -> VerbRule | None:
        rules = table.get(verb.lemma_.lower())
        if not rules:
            return None
        prts = {c.lower_ for c in verb.children if c.dep_ == "prt"}
        preps = {c.lower_ for c in verb.children if c.dep_ in ("prep", "prt")}
        objs = {
            c.lemma_.lower()
            for c in verb.children
            if c.dep_ in ("dobj", "nsubjpass", "pobj", "attr")
        }
        for c in verb.children:
            if c.dep_ == "prep":
                objs |= {g.lemma_.lower() for g in c.children if g.dep_ == "pobj"}
        # compounds of the object ("communication blackout" -> blackout)
        for c in verb.children:
            if c.dep_ in ("dobj", "nsubjpass"):
                objs |= {g.lemma_.lower() for g in c.children if g.dep_ == "compound"}
        window: set[str] | None = None  # the sentence's lemmas, read once a rule needs them
        for rule in rules:
            if rule.prt and rule.prt not in prts:
                continue
            if rule.objects and not (rule.objects & objs):
                continue
            if rule.requires_prep and not (set(rule.requires_prep) & preps):
                continue
            if rule.requires_words:
                if window is None:
                    window = {t.lemma_.lower() for t in sentences.of(verb.i)}
                if not (rule.requires_words & window):
                    continue
            return rule
        return None

    def _modality(self, verb: Token) -> tuple[bool, bool]:
        """(skip, negated): whether the verb reports no actual event, and whether it is denied."""
        negated = False
        tok = verb
        for level in range(6):
            children = list(tok.children)
            if any(c.dep_ == "neg" for c in children):
                negated = not negated if level == 0 else True
            if any(c.dep_ == "aux" and c.lower_ in MODALS for c in children):
                return True, negated
            if any(c.dep_ == "mark" and c.lower_ in CONDITIONAL_MARKS for c in children):
                return True, negated
            if level > 0 and tok.lemma_.lower() in NEGATING_LEMMAS:
                return False, True
            if level > 0 and tok.lower_ == "short" and tok.head.lemma_.lower() == "stop":
                return False, True
            infinitive = any(c.dep_ == "aux" and c.lower_ == "to" for c in children)
            if infinitive and tok.dep_ in ("xcomp", "acl", "advcl", "relcl", "ccomp"):
                head_lemma = tok.head.lemma_.lower()
                if head_lemma in NEGATING_LEMMAS:
                    return False, True
                if head_lemma not in REALIS_LEMMAS:
                    return True, negated
            if tok.dep_ in ("ROOT",) or tok.head.i == tok.i:
                break
            # stop at a clause of saying: "X said Y would..." keeps Y's own modality only
            if tok.dep_ in ("ccomp",) and level > 0:
                break
            tok = tok.head
        return False, negated

    # --------------------------------------------------------------- dates
    @staticmethod
    def _date(verb: Token, sent: Span, ents: list[Span], ref: dt.date) -> dt.date:
        """The date of the verb's clause; `sent` is the verb's sentence, `ents` its entities."""
        best: tuple[int, dt.date] | None = None
        for ent in ents:
            if ent.label_ not in ("DATE", "TIME"):
                continue
            prev = sent.doc[ent.start - 1].lower_ if ent.start > sent.start else ""
            if prev == "since":
                continue
            root = ent.root
            # "Saturday morning": climb to the head of the whole time expression
            while (
                root.head.i != root.i
                and root.head.ent_type_ in ("DATE", "TIME")
                and root.dep_ in ("compound", "nmod", "amod", "npadvmod")
            ):
                root = root.head
            # only dates that time a clause ("on Saturday", "Monday"), not noun modifiers
            # ("the October 7 attacks")
            if root.dep_ == "pobj":
                clause = root.head.head
            elif root.dep_ in ("npadvmod", "tmod", "advmod", "obl"):
                clause = root.head
            else:
                continue
            if clause.pos_ not in ("VERB", "AUX"):
                continue
            day = resolve_relative_date(ent.text, ref)
            if day is None:
                continue
            attached = clause.i == verb.i
            key = (0 if attached else 100) + abs(ent.start - verb.i)
            if best is None or key < best[0]:
                best = (key, day)
        return best[1] if best else ref

    # --------------------------------------------------------------- main
    def extract(
        self, doc: Doc, article_id: str, ref: dt.date, entities: EntityIndex
    ) -> list[Event]:
        out: list[Event] = []
        seen: set[tuple[str, str | None, str, bool, int]] = set()
        sentences = Sentences(doc)  # once: spaCy rebuilds the sentences on each `.sent`
        for sent in sentences:
            ents = sentences.ents(sent)
            for tok in sent:
                for cand in self._candidates(tok, entities, sentences):
                    self._add(cand, sent, ents, seen, out, article_id, ref)
        return out

    def _add(
        self,
        cand: Candidate,
        sent: Span,
        ents: list[Span],
        seen: set[tuple[str, str | None, str, bool, int]],
        out: list[Event],
        article_id: str,
        ref: dt.date,
    ) -> None:
        if True:
            if True:
                key = (
                    cand.actor.id,
                    cand.target.id if cand.target else None,
                    cand.rule.code,
                    cand.negated,
                    sent.start,
                )
                if key in seen:
                    return
                seen.add(key)
                out.append(self._event(cand, article_id, ref, sent, ents))

    def _candidates(
        self, tok: Token, entities: EntityIndex, sentences: Sentences
    ) -> list[Candidate]:
        self._co_actors = []
        if tok.pos_ in ("VERB", "AUX"):
            rule = self._match(tok, self.lexicon.verbs, sentences)
            if rule is None:
                return []
            skip, negated = self._modality(tok)
            if skip:
                return []
            actor = self._actor(tok, entities)
        elif tok.pos_ == "NOUN":
            rule = self._match(tok, self.lexicon.nouns, sentences)
            if rule is None:
                return []
            negated = False
            actor = None
            head = tok.head
            while head.pos_ not in ("VERB", "AUX") and head.head.i != head.i:
                head = head.head
            if (
                head.pos_ in ("VERB", "AUX")
                and self._match(head, self.lexicon.verbs, sentences) is not None
            ):
                return []  # the governing verb is the event ("rejected new talks with X")
            if head.pos_ in ("VERB", "AUX"):
                skip, negated = self._modality(head)
                if skip:
                    return []
                # "rejected new talks with the RSF": the talks did not happen
                if head.lemma_.lower() in NEGATING_LEMMAS:
                    negated = True
            for child in tok.children:
                if child.dep_ == "poss":
                    actor = self._entity_in(child, entities) or self._pronoun(child, entities, None)
            if actor is None and head.pos_ in ("VERB", "AUX"):
                actor = self._actor(head, entities)
        else:
            return []
        out = []
        for who in [actor, *self._co_actors]:
            who = self._as_actor(who, entities)
            if who is None or who.type not in ("PERSON", "ORG", "GPE", "NORP"):
                continue
            if who.actor_type == "place" and not who.capital_of:
                continue
            target = self._target(tok, rule, entities, who)
            if target is None and rule.needs_target:
                continue
            out.append(Candidate(tok, rule, who, target, negated))
        return out

    def _event(
        self, cand: Candidate, article_id: str, ref: dt.date, sent: Span, ents: list[Span]
    ) -> Event:
        """The event of a candidate found in `sent`, whose entities are `ents`."""
        code = self.lexicon.code(cand.rule.code)
        verb = cand.verb
        # the action as written: the verb with its particle, negation and object
        parts = [t for t in verb.children if t.dep_ in ("neg", "prt", "dobj")]
        toks = sorted([verb, *parts], key=lambda t: t.i)
        words = []
        for t in toks:
            if t.dep_ == "dobj" and t.ent_type_:
                continue
            if t.dep_ == "dobj":
                words.append(" ".join(x.text for x in t.subtree if x.i <= t.i and x.dep_ != "det"))
            else:
                words.append(t.text)
        action = " ".join(words)
        return Event(
            id=digest(
                article_id,
                cand.rule.code,
                cand.actor.id,
                cand.target.id if cand.target else "",
                verb.idx,
            ),
            actor=ActorRef(id=cand.actor.id, name=cand.actor.name),
            target=ActorRef(id=cand.target.id, name=cand.target.name) if cand.target else None,
            action=action,
            cameo=code.code,
            quad_class=code.quad_class,
            goldstein=code.goldstein,
            date=self._date(verb, sent, ents, ref),
            negated=cand.negated,
            evidence=Evidence(text=sent.text, start=sent.start_char, end=sent.end_char),
        )
