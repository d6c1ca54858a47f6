"""Quantity observations: every countable figure of an article, with its unit, metric, date,
hedge, period, place and claimant, read off the dependency parse."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span, Token

from newsmon.core.ids import digest
from newsmon.core.models import Evidence, Observation, Period
from newsmon.extractor.catalogue import MetricCatalogue
from newsmon.extractor.dates import resolve_relative_date
from newsmon.extractor.entities import EntityIndex
from newsmon.extractor.numbers import FRACTIONS, NUMBER_WORDS, parse_number
from newsmon.extractor.sentences import Sentences

#: Nouns that measure time, size or share: figures of them are not counts of things.
NOT_COUNTED = frozenset(
    [
        "day",
        "week",
        "month",
        "year",
        "hour",
        "minute",
        "second",
        "night",
        "decade",
        "century",
        "time",
        "percent",
        "per",
        "cent",
        "%",
        "km",
        "kilometre",
        "kilometer",
        "mile",
        "metre",
        "meter",
        "foot",
        "inch",
        "age",
        "point",
        "round",
        "stage",
        "phase",
        "term",
        "resolution",
        "article",
        "paragraph",
        "page",
    ]
)
#: Subjects that stand for a count of something else ("the number of aid trucks fell").
COUNT_NOUNS = frozenset({"number", "total", "count", "figure", "tally", "toll", "amount"})
SKIP_ENT_TYPES = frozenset({"DATE", "TIME", "PERCENT", "ORDINAL", "MONEY"})
VAGUE_PLURALS = {"dozens": 24.0, "hundreds": 100.0, "thousands": 1000.0, "millions": 1e6,
                 "scores": 20.0, "tens": 10.0}  # fmt: skip

# Longest first, so "more than" wins over "than".
HEDGES = [
    ("as many as", "as_many_as"), ("upwards of", "more_than"), ("more than", "more_than"),
    ("fewer than", "fewer_than"), ("less than", "less_than"), ("at least", "at_least"),
    ("at most", "at_most"), ("up to", "up_to"), ("close to", "close_to"),
    ("an estimated", "estimated"), ("estimated", "estimated"), ("approximately", "approximately"),
    ("about", "about"), ("around", "around"), ("nearly", "nearly"), ("almost", "almost"),
    ("roughly", "roughly"), ("some", "about"), ("over", "more_than"), ("under", "less_than"),
    ("just over", "more_than"), ("just under", "less_than"), ("approx.", "approximately"),
    ("circa", "approximately"), ("an average of", "average"), ("on average", "average"),
]  # fmt: skip
_HEDGE_RE = re.compile(
    r"(?:^|\s)("
    + "|".join(re.escape(h) for h, _ in sorted(HEDGES, key=lambda x: -len(x[0])))
    + r")\s*$"
)
_HEDGE_NAME = dict(HEDGES)
_RATE_RE = re.compile(r"^\W*(?:\w+\W+){0,4}?(a|per|each|every)\s+day\b|^\W*(?:\w+\W+){0,3}?daily\b")
_RATE_BEFORE_RE = re.compile(r"\b(daily|a day|per day|each day|every day)\b")
_BASELINE_RE = re.compile(
    r"\b(before the (war|conflict|fighting|crisis|escalation|hostilities)|pre-war|prewar|"
    r"prior to the (war|conflict)|before october 7|normally|usually|typically|used to|"
    r"in normal times|before the start of)\b"
)
_CUMULATIVE_RE = re.compile(
    r"\b(so far|to date|in total|a total of|total of|cumulative|altogether|overall|in all|"
    r"since the (start|beginning|outbreak)|death toll|since)\b"
)
_PLANNED_LEMMAS = frozenset(
    {"expect", "plan", "agree", "pledge", "promise", "aim", "target", "schedule", "propose",
     "intend", "commit", "set", "hope", "seek", "want"}
)  # fmt: skip
_SPEECH_LEMMAS = frozenset(
    {"say", "report", "announce", "claim", "state", "estimate", "tell", "add", "confirm",
     "warn", "note", "according", "count", "record", "put", "document", "insist", "allege"}
)  # fmt: skip
_PLACE_TYPES = frozenset({"GPE", "LOC", "FAC"})
_LOC_PREPS = frozenset(
    {"in", "into", "to", "from", "inside", "across", "at", "throughout", "within", "out"}
)
_MOVE_LEMMAS = frozenset({"enter", "leave", "reach", "cross", "exit", "flee", "arrive"})
_FOLLOWING_RE = re.compile(r"\b(following|subsequent|next|ensuing|later)\s+days?\b")


@dataclass
class Figure:
    """A figure found in the text: its tokens, value and hedge."""

    span: Span
    value: float
    hedge: str | None = None
    hedge_start: int | None = None
    vague: str | None = None
    fraction: bool = False

    @property
    def root(self) -> Token:
        return self.span.root

    @property
    def raw_start(self) -> int:
        return self.hedge_start if self.hedge_start is not None else self.span.start_char


@dataclass
class DateMention:
    text: str
    start: int  # token index
    end: int
    date: dt.date | None
    since: bool = False
    following: bool = False


@dataclass
class Draft:
    figure: Figure
    unit: str
    metric: str
    qualifiers: list[str] = field(default_factory=list)
    period: Period = "point"
    as_of: dt.date | None = None
    as_of_text: str | None = None
    location: str | None = None
    claimant: str | None = None
    linked: Draft | None = None
    noun: Token | None = None
    lemma: str | None = None
    id: str = ""


def _singular(word: str) -> str:
    w = word.lower()
    if w in ("people", "persons"):
        return "person"
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def _noun_lemma(tok: Token) -> str:
    lem = tok.lemma_.lower()
    if lem == "toll":
        return "person"
    # multi-word units of the catalogue ("passport holder", "aid worker")
    prev = tok.doc[tok.i - 1] if tok.i > 0 else None
    lem = _singular(lem) if tok.pos_ == "PROPN" or lem.endswith("s") or lem == "people" else lem
    if prev is not None and prev.dep_ == "compound" and prev.head.i == tok.i:
        return f"{prev.lower_} {lem}" if f"{prev.lower_} {lem}" in _COMPOUND_UNITS else lem
    return lem


#: Words that refer back to a thing counted before ("29,000 others have been injured").
_ANAPHORIC = frozenset({"other", "others", "more", "them", "those"})
_COMPOUND_UNITS = frozenset({"passport holder", "aid worker", "crew member", "housing unit"})
#: Determiners that make a small number a reference, not a report ("the two leaders").
_REFERENCE_DETS = frozenset({"the", "these", "those", "both", "its", "their", "his", "her", "our"})


class QuantityExtractor:
    """Finds figures in a parsed Doc and turns them into observations."""

    def __init__(self, metrics: MetricCatalogue) -> None:
        self.metrics = metrics

    # ------------------------------------------------------------------ figures
    def figures(self, sent: Span, entities: EntityIndex) -> list[Figure]:
        out: list[Figure] = []
        i = sent.start
        doc = sent.doc
        while i < sent.end:
            tok = doc[i]
            low = tok.lower_
            if tok.ent_type_ in SKIP_ENT_TYPES or tok.i in entities.by_token:
                i += 1
                continue
            # "a third", "one-third", "half of"
            if low in ("a", "one") and i + 1 < sent.end and doc[i + 1].lower_ in FRACTIONS:
                fr = doc[i : i + 2]
                value = parse_number(fr.text)
                if value is not None:
                    out.append(Figure(fr, value, fraction=True))
                i += 2
                continue
            if low in VAGUE_PLURALS and any(
                c.dep_ == "prep" and c.lower_ == "of" for c in tok.children
            ):
                out.append(Figure(doc[i : i + 1], VAGUE_PLURALS[low], vague=low))
                i += 1
                continue
            if tok.like_num or low in NUMBER_WORDS:
                j = i + 1
                while (
                    j < sent.end
                    and (
                        doc[j].like_num
                        or doc[j].lower_ in NUMBER_WORDS
                        or doc[j].lower_ in ("-", "and")
                    )
                    and doc[j].ent_type_ not in SKIP_ENT_TYPES
                ):
                    j += 1
                while j > i + 1 and doc[j - 1].lower_ in ("-", "and"):
                    j -= 1
                span = doc[i:j]
                value = parse_number(span.text)
                if value is not None and not self._is_year(span, value):
                    frac = "/" in span.text or any(t.lower_ in FRACTIONS for t in span)
                    out.append(Figure(span, value, fraction=frac))
                i = j
                continue
            i += 1
        for fig in out:
            self._hedge(fig, sent)
        return out

    @staticmethod
    def _share_of_pronoun(fig: Figure) -> bool:
        """ "a third of them": a share of an unnamed whole is not a count."""
        if not fig.fraction:
            return False
        return any(
            c.dep_ == "prep" and c.lower_ == "of" and any(g.pos_ == "PRON" for g in c.children)
            for c in fig.root.children
        )

    @staticmethod
    def _is_reference(fig: Figure) -> bool:
        """ "the two leaders", "its three members": a written small number after a
        determiner names things already known rather than reporting a count."""
        start = fig.span.start
        if start == 0 or not fig.span.text.isalpha() or fig.value > 10:
            return False
        return fig.span.doc[start - 1].lower_ in _REFERENCE_DETS

    @staticmethod
    def _is_year(span: Span, value: float) -> bool:
        return (
            len(span) == 1 and span.text.isdigit() and 1900 <= value <= 2100 and len(span.text) == 4
        )

    @staticmethod
    def _hedge(fig: Figure, sent: Span) -> None:
        """The hedge just before the figure, within its sentence `sent`."""
        doc = fig.span.doc
        lo = max(sent.start, fig.span.start - 4)
        before = doc[lo : fig.span.start]
        m = _HEDGE_RE.search(before.text.lower())
        if m:
            fig.hedge = _HEDGE_NAME[m.group(1)]
            fig.hedge_start = before.start_char + m.start(1)

    # ------------------------------------------------------------------ units
    def _unit_noun(self, fig: Figure) -> Token | None:
        root = fig.root
        # "23 of 31 drones": the first figure counts the second's noun
        if root.dep_ == "quantmod" and root.head.like_num:
            root = root.head
        # "100 aid trucks": the figure modifies its noun
        if root.dep_ in ("nummod", "quantmod", "amod", "compound") and root.head.pos_ in (
            "NOUN",
            "PROPN",
        ):
            return root.head
        # "a third of the places", "thousands of people"; not "a third of them"
        for child in root.children:
            if child.dep_ == "prep" and child.lower_ == "of":
                objs = [c for c in child.children if c.dep_ == "pobj"]
                if objs and objs[0].pos_ in ("NOUN", "PROPN"):
                    return objs[0]
                if objs and objs[0].pos_ == "PRON" and fig.fraction:
                    return None
        if fig.fraction and root.head.pos_ == "NOUN":
            return root.head
        # "declined from 100 to 30": the clause subject ("the number of aid trucks"), or
        # "people killed ... at about 1,200": the noun the clause describes
        head = root
        for _ in range(4):
            if head.pos_ in ("VERB", "AUX") or head.head.i == head.i:
                break
            head = head.head
        if head.pos_ == "VERB" and head.dep_ in ("acl", "relcl") and head.head.pos_ == "NOUN":
            noun = head.head
            return self._count_of(noun) or noun
        for child in head.children:
            if child.dep_ in ("nsubj", "nsubjpass", "dobj") and child.i != root.i:
                counted = self._count_of(child)
                if counted is not None:
                    return counted
                if (
                    child.dep_ != "dobj"
                    and child.pos_ == "NOUN"
                    and child.lemma_.lower() not in COUNT_NOUNS
                ):
                    return child
        return None

    @staticmethod
    def _count_of(noun: Token) -> Token | None:
        """ "the number of aid trucks" -> trucks; "the death toll" -> toll."""
        if noun.lemma_.lower() not in COUNT_NOUNS:
            return None
        for child in noun.children:
            if child.dep_ == "prep" and child.lower_ == "of":
                objs = [c for c in child.children if c.dep_ == "pobj"]
                if objs:
                    return objs[0]
        return noun if noun.lemma_.lower() == "toll" else None

    def _unit_and_metric(
        self, noun: Token | None, lemma: str, context: set[str], fig: Figure
    ) -> tuple[str, str, list[str]] | None:
        if lemma in NOT_COUNTED or not lemma.replace(" ", "").isalpha():
            return None
        mods: set[str] = set()
        if noun is not None:
            mods = {
                c.lemma_.lower()
                for c in noun.children
                if c.dep_ in ("compound", "amod", "acl", "relcl")
            }
        # the verbs governing the figure weigh most ("76 wounded people were evacuated")
        verbs: set[str] = set()
        tok = noun if noun is not None else fig.root
        for _ in range(4):
            if tok.pos_ in ("VERB",):
                verbs.add(tok.lemma_.lower())
                # phrasal verbs: "shot down" is an interception, not a launch
                verbs |= {
                    c.lower_
                    for c in tok.children
                    if c.dep_ in ("prt", "advmod") and c.lower_ in ("down", "off", "out")
                }
            if tok.head.i == tok.i:
                break
            tok = tok.head
        if noun is not None:
            verbs |= {c.lemma_.lower() for c in noun.children if c.dep_ in ("acl", "relcl")}
        metric = self.metrics.match(lemma, context, mods, verbs)
        qualifiers: list[str] = []
        if metric is not None:
            unit = metric.unit
            if unit == "person" and lemma not in ("person", unit):
                qualifiers.append(lemma)
            return unit, metric.id, qualifiers
        return lemma, f"count_{lemma}", qualifiers

    # ------------------------------------------------------------------ dates
    @staticmethod
    def _dates(sent: Span, ents: list[Span], ref: dt.date) -> list[DateMention]:
        """The dates of `sent`, whose entities are `ents`."""
        out: list[DateMention] = []
        for ent in ents:
            if ent.label_ not in ("DATE", "TIME"):
                continue
            prev = sent.doc[ent.start - 1].lower_ if ent.start > sent.start else ""
            text = ent.text
            since = prev in ("since", "from") or text.lower().startswith("since")
            # "since fighting erupted on April 15": the date of a since-clause
            anc = ent.root
            for _ in range(3):
                if anc.head.i == anc.i:
                    break
                anc = anc.head
                if anc.lower_ == "since" or any(
                    c.lower_ == "since" and c.dep_ in ("mark", "prep") for c in anc.children
                ):
                    since = True
                    break
                if anc.pos_ == "VERB" and anc.dep_ not in ("advcl",):
                    break
            following = bool(_FOLLOWING_RE.search(text.lower()))
            out.append(
                DateMention(
                    text, ent.start, ent.end, resolve_relative_date(text, ref), since, following
                )
            )
        # "in subsequent days" is often not tagged as a date by the model
        for m in _FOLLOWING_RE.finditer(sent.text.lower()):
            span = sent.doc.char_span(
                sent.start_char + m.start(), sent.start_char + m.end(), alignment_mode="expand"
            )
            if span is not None and not any(d.start <= span.start < d.end for d in out):
                out.append(DateMention(span.text, span.start, span.end, None, False, True))
        return sorted(out, key=lambda d: d.start)

    # ------------------------------------------------------------------ main
    def extract(
        self, doc: Doc, article_id: str, ref: dt.date, entities: EntityIndex
    ) -> list[Observation]:
        # one pass for the sentences and one for the text: spaCy rebuilds both on each access
        sentences = Sentences(doc)
        text = doc.text
        drafts: list[Draft] = []
        previous: Draft | None = None
        for sent in sentences:
            figs = self.figures(sent, entities)
            if not figs:
                continue
            context = {t.lemma_.lower() for t in sent} | {t.lower_ for t in sent}
            dates = self._dates(sent, sentences.ents(sent), ref)
            sent_low = sent.text.lower()
            claimant = self._claimant(sent, entities)
            sent_drafts: list[Draft] = []
            for fig in figs:
                if self._is_reference(fig) or self._share_of_pronoun(fig):
                    continue
                noun = self._unit_noun(fig)
                lemma = _noun_lemma(noun) if noun is not None else None
                if lemma in _ANAPHORIC:
                    noun, lemma = None, None
                if (
                    lemma is None
                    and previous is not None
                    and sentences.of(previous.figure.span.start).start >= sent.start - 80
                ):
                    # "before the war, about 500 a day", "29,000 others": the thing just counted
                    lemma = previous.lemma
                if lemma is None:
                    continue
                um = self._unit_and_metric(noun, lemma, context, fig)
                if um is None:
                    continue  # a duration or a measure, not a count
                unit, metric, quals = um
                if (
                    fig.span.root.dep_ == "nummod"
                    and noun is not None
                    and noun.ent_type_ in ("PERSON", "ORG")
                ):
                    continue
                d = Draft(fig, unit, metric, quals, claimant=claimant, noun=noun, lemma=lemma)
                if fig.hedge:
                    d.qualifiers.append(fig.hedge)
                if fig.vague:
                    d.qualifiers.append(fig.vague)
                if fig.fraction:
                    d.qualifiers.append("share")
                sent_drafts.append(d)
            if not sent_drafts:
                continue
            self._link_changes(sent_drafts)
            self._assign_dates(sent_drafts, dates, ref, sent)
            for d in sent_drafts:
                d.period = self._period(d, sent, sent_low, text, dates, sent_drafts)
                d.location = self._location(d.figure, d.noun, sent, entities)
                if d.period == "cumulative":
                    for dm in dates:
                        if dm.since and dm.date:
                            d.qualifiers.append(f"since:{dm.date.isoformat()}")
                            break
            drafts.extend(sent_drafts)
            previous = sent_drafts[-1]
        return self._finish(drafts, article_id, ref, sentences, text)

    def _claimant(self, sent: Span, entities: EntityIndex) -> str | None:
        low = sent.text.lower()
        if "according to" in low:
            for tok in sent:
                if tok.lower_ == "according":
                    for t in tok.subtree:
                        ent = entities.at(t)
                        if ent is not None:
                            return ent.name
        root = sent.root
        if root.lemma_.lower() in _SPEECH_LEMMAS:
            for child in root.children:
                if child.dep_ in ("nsubj", "nsubjpass"):
                    for t in child.subtree:
                        ent = entities.at(t)
                        if ent is not None:
                            return ent.name
                    if child.pos_ in ("NOUN", "PROPN") and child.lemma_.lower() not in (
                        "it",
                        "official",
                    ):
                        phrase = " ".join(t.text for t in child.subtree if t.dep_ != "det")
                        if len(phrase.split()) <= 6:
                            return phrase
        return None

    @staticmethod
    def _link_changes(drafts: list[Draft]) -> None:
        for a in drafts:
            ra = a.figure.root
            if ra.head.lower_ != "from":
                continue
            for b in drafts:
                rb = b.figure.root
                if b is not a and rb.head.lower_ == "to" and rb.head.head.i == ra.head.head.i:
                    a.linked, b.linked = b, a
                    if b.unit == a.unit or b.metric.startswith("count_"):
                        b.unit, b.metric = a.unit, a.metric

    @staticmethod
    def _assign_dates(
        drafts: list[Draft], dates: list[DateMention], ref: dt.date, sent: Span
    ) -> None:
        if not dates:
            return
        starts = [d.figure.span.start for d in drafts]
        anchor: dt.date | None = None
        used: set[int] = set()
        for k, d in enumerate(drafts):
            lo = drafts[k - 1].figure.span.end if k else sent.start
            hi = starts[k + 1] if k + 1 < len(drafts) else sent.end
            # dates between the previous and the next figure; those after this figure first
            inside = [
                (
                    abs(dm.start - d.figure.span.end)
                    if dm.start >= d.figure.span.end
                    else 100 + d.figure.span.start - dm.end,
                    j,
                )
                for j, dm in enumerate(dates)
                if lo <= dm.start < hi and not dm.since and (dm.date or dm.following)
            ]
            chosen = None
            if inside:
                chosen = dates[min(inside)[1]]
            else:
                # a date elsewhere in the sentence times the whole clause ("On Wednesday,
                # 76 wounded were evacuated ... in 40 ambulances"): the nearest one
                near = [
                    (min(abs(dm.start - d.figure.span.start), abs(dm.end - d.figure.span.end)), j)
                    for j, dm in enumerate(dates)
                    if not dm.since and dm.date and not dm.following
                ]
                if near:
                    chosen = dates[min(near)[1]]
            if chosen is None:
                continue
            used.add(dates.index(chosen))
            day = chosen.date
            if chosen.following:
                day = resolve_relative_date(chosen.text, ref, anchor) if anchor else None
            if day is not None:
                d.as_of, d.as_of_text = day, chosen.text
                anchor = day

    @staticmethod
    def _nearest_figure(char: int, d: Draft, siblings: list[Draft]) -> bool:
        """Whether `d` is the figure of its sentence closest to a phrase at `char`."""

        def dist(x: Draft) -> int:
            s = x.figure.span
            return min(abs(char - s.start_char), abs(char - s.end_char))

        return all(dist(d) <= dist(o) for o in siblings)

    def _period(
        self,
        d: Draft,
        sent: Span,
        sent_low: str,
        text: str,
        dates: list[DateMention],
        siblings: list[Draft],
    ) -> Period:
        """The period of the draft's figure, from its clause and its sentence `sent`, which
        is `sent_low` in lower case; `text` is the whole document's."""
        fig = d.figure
        # the clause of the figure: its head chain up to the first verb
        verbs: list[Token] = []
        head = fig.root
        for _ in range(6):
            if head.pos_ in ("VERB", "AUX"):
                verbs.append(head)
            if head.head.i == head.i:
                break
            head = head.head
        planned = False
        for v in verbs:
            if v.lemma_.lower() in _PLANNED_LEMMAS:
                planned = True
            if any(
                c.dep_ == "aux" and c.lower_ in ("will", "would", "shall", "'ll")
                for c in v.children
            ):
                planned = True
        if fig.hedge == "up_to" and any(v.lemma_.lower() in _PLANNED_LEMMAS for v in verbs):
            planned = True
        if planned:
            return "planned"
        m = _BASELINE_RE.search(sent_low)
        if m and self._nearest_figure(m.start() + sent.start_char, d, siblings):
            return "baseline"
        after = text[fig.span.end_char : fig.span.end_char + 40].lower()
        if _RATE_RE.search(after) or _RATE_BEFORE_RE.search(
            text[max(sent.start_char, fig.span.start_char - 12) : fig.span.start_char].lower()
        ):
            return "daily"
        if _CUMULATIVE_RE.search(sent_low) and (
            any(dm.since for dm in dates) or "since" not in sent_low
        ):
            return "cumulative"
        metric = next((m for m in self.metrics.metrics if m.id == d.metric), None)
        if metric is not None and metric.flow and d.as_of_text:
            return "daily"
        return "point"

    def _location(
        self, fig: Figure, noun: Token | None, sent: Span, entities: EntityIndex
    ) -> str | None:
        """Where the figure is: a place named in its noun phrase ("aid trucks entering Gaza"),
        else in its clause, else the nearest place its sentence `sent` puts things
        in/into/from."""

        def place(tok: Token) -> str | None:
            ent = entities.at(tok)
            if (
                ent is None
                or ent.type not in _PLACE_TYPES
                or ent.actor_type not in ("place", "state")
            ):
                return None
            if ent.actor_type == "state" and not (
                (tok.dep_ == "pobj" and tok.head.lower_ in _LOC_PREPS)
                or (tok.dep_ == "dobj" and tok.head.lemma_.lower() in _MOVE_LEMMAS)
                or tok.dep_ == "compound"
            ):
                return None
            return ent.id

        scopes: list[Token] = []
        if noun is not None:
            scopes.append(noun)
        head = fig.root
        for _ in range(4):
            if head.pos_ in ("VERB", "AUX"):
                scopes.append(head)
                break
            if head.head.i == head.i:
                break
            head = head.head
        for scope in scopes:
            for tok in scope.subtree:
                found = place(tok)
                if found:
                    return found
        best: tuple[int, str] | None = None
        for tok in sent:
            found = place(tok)
            if found is None or not (tok.dep_ == "pobj" and tok.head.lower_ in _LOC_PREPS):
                continue
            dist = tok.i - fig.span.end
            key = dist if dist >= 0 else 1000 - dist
            if best is None or key < best[0]:
                best = (key, found)
        return best[1] if best else None

    @staticmethod
    def _finish(
        drafts: list[Draft], article_id: str, ref: dt.date, sentences: Sentences, text: str
    ) -> list[Observation]:
        for d in drafts:
            sent = sentences.of(d.figure.span.start)
            d.id = digest(
                article_id, sent.start_char, sent.end_char, d.figure.span.start_char, d.metric
            )
        out: list[Observation] = []
        for d in drafts:
            sent = sentences.of(d.figure.span.start)
            raw = text[d.figure.raw_start : d.figure.span.end_char]
            out.append(
                Observation(
                    id=d.id,
                    metric=d.metric,
                    unit=d.unit,
                    value=round(d.figure.value, 6),
                    approximate=bool(d.figure.hedge or d.figure.vague),
                    as_of=d.as_of or ref,
                    as_of_text=d.as_of_text,
                    period=d.period,
                    location=d.location,
                    qualifiers=list(dict.fromkeys(d.qualifiers)),
                    claimant=d.claimant,
                    raw=raw,
                    linked_to=d.linked.id if d.linked else None,
                    evidence=Evidence(text=sent.text, start=sent.start_char, end=sent.end_char),
                )
            )
        return out
