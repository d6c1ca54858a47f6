"""Scores the extractor against the hand-written test articles in tests/data/articles.

Each `NN_name.txt` (seed format) has a `NN_name.yaml` with the expected entities (the complete
list of entity ids), observations and events. An observation matches on metric (or
`alt_metric`) and value, and is correct only if every other field written down matches too;
an event matches on actor, target, CAMEO prefix and negation. `optional: true` expectations
count neither as misses nor as false positives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsmon.core.models import Article, Event, Observation
from newsmon.extractor.pipeline import Extraction, Extractor
from newsmon.extractor.sources import parse_seed_text

ARTICLES = Path(__file__).resolve().parents[2] / "data" / "articles"


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_cases() -> list[tuple[Article, dict[str, Any]]]:
    cases = []
    for txt in sorted(ARTICLES.glob("*.txt")):
        article = parse_seed_text(txt.read_text(encoding="utf-8"), txt.name)
        expected = yaml.safe_load(txt.with_suffix(".yaml").read_text(encoding="utf-8"))
        cases.append((article, expected))
    return cases


def _obs_ok(o: Observation, exp: dict[str, Any]) -> bool:
    checks = {
        "as_of": lambda: (
            o.as_of
            == (
                exp["as_of"]
                if isinstance(exp["as_of"], dt.date)
                else dt.date.fromisoformat(exp["as_of"])
            )
        ),
        "approximate": lambda: o.approximate == exp["approximate"],
        "period": lambda: o.period == exp["period"],
        "claimant": lambda: o.claimant == exp["claimant"],
        "linked": lambda: (o.linked_to is not None) == exp["linked"],
        "unit": lambda: o.unit == exp["unit"],
        "location": lambda: o.location == exp["location"],
    }
    return all(check() for key, check in checks.items() if key in exp)


def _obs_key_match(o: Observation, exp: dict[str, Any]) -> bool:
    metrics = {exp["metric"], exp.get("alt_metric")}
    return o.metric in metrics and abs(o.value - float(exp["value"])) < 1e-6


def _event_match(e: Event, exp: dict[str, Any]) -> bool:
    target = e.target.id if e.target else None
    return (
        e.actor.id == exp["actor"]
        and target == exp.get("target")
        and e.cameo.startswith(str(exp["cameo"]))
        and e.negated == bool(exp.get("negated", False))
    )


def score(extractor: Extractor) -> tuple[dict[str, Score], list[tuple[Article, Extraction]]]:
    cases = load_cases()
    results = extractor.extract_many([a for a, _ in cases])
    scores = {"entities": Score(), "observations": Score(), "events": Score()}
    for (article, exp), res in zip(cases, results, strict=True):
        name = article.source
        got = {e.id for e in res.entities}
        want = set(exp.get("entities") or [])
        s = scores["entities"]
        s.tp += len(got & want)
        s.fp += len(got - want)
        s.fn += len(want - got)
        s.misses += [f"{name}: missing entity {x}" for x in sorted(want - got)]
        s.misses += [f"{name}: extra entity {x}" for x in sorted(got - want)]
        for kind, items, match, ok in (
            ("observations", res.observations, _obs_key_match, _obs_ok),
            ("events", res.events, _event_match, lambda _i, _e: True),
        ):
            s = scores[kind]
            used: set[int] = set()
            for e in exp.get(kind) or []:
                found = [i for i, it in enumerate(items) if i not in used and match(it, e)]
                good = [i for i in found if ok(items[i], e)]
                if good:
                    used.add(good[0])
                    if not e.get("optional"):
                        s.tp += 1
                    continue
                if found:
                    used.add(found[0])  # matched but with wrong details: a miss and an error
                    if not e.get("optional"):
                        s.fn += 1
                        s.fp += 1
                        s.misses.append(
                            f"{name}: wrong {kind[:-1]} {e} -> {items[found[0]]!r}"[:400]
                        )
                    continue
                if not e.get("optional"):
                    s.fn += 1
                    s.misses.append(f"{name}: missing {kind[:-1]} {e}")
            for i, it in enumerate(items):
                if i not in used:
                    s.fp += 1
                    if isinstance(it, Observation):
                        brief = f"{it.metric}={it.value}"
                    else:
                        target = it.target.id if it.target else None
                        brief = f"{it.actor.id}->{target} {it.cameo} neg={it.negated}"
                    s.misses.append(f"{name}: extra {kind[:-1]} {brief}")
    return scores, list(zip([a for a, _ in cases], results, strict=True))


if __name__ == "__main__":  # pragma: no cover - `python -m tests.unit.extractor.testset`
    from newsmon.core.config import Settings

    scores, _ = score(Extractor.from_settings(Settings()))
    for kind, s in scores.items():
        print(f"{kind:13s} P={s.precision:.2f} R={s.recall:.2f} (tp={s.tp} fp={s.fp} fn={s.fn})")
    for s in scores.values():
        for line in s.misses:
            print("  ", line)
