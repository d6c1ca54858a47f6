"""The extractor's curated catalogues (actors, metrics, verbs), loaded from YAML data files.

`catalogue_dir` in the settings may point at a folder with replacement files of the same
names; otherwise the files shipped in `newsmon/extractor/data/` are used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from newsmon.core.ids import slugify

DATA_DIR = Path(__file__).parent / "data"

_ENTITY_TYPES = {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC"}


class CatalogueError(Exception):
    """A catalogue file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Role:
    """A title held by a person on behalf of an actor between two dates."""

    title: str
    of: str
    start: dt.date | None
    end: dt.date | None
    bare: bool = False

    def held_on(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)


@dataclass(frozen=True)
class Actor:
    """One canonical real-world actor."""

    id: str
    name: str
    type: str
    actor_type: str
    country: str | None = None
    aliases: tuple[str, ...] = ()
    demonyms: tuple[str, ...] = ()
    capital_of: str | None = None
    roles: tuple[Role, ...] = ()


@dataclass
class ActorCatalogue:
    """Actors by id and by surface form, plus the titles of roles."""

    actors: dict[str, Actor]
    titles: dict[str, tuple[str, ...]]
    by_alias: dict[str, str] = field(default_factory=dict)
    by_alias_folded: dict[str, str] = field(default_factory=dict)
    by_demonym: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for actor in self.actors.values():
            for alias in (actor.name, *actor.aliases):
                self.by_alias.setdefault(alias, actor.id)
                self.by_alias_folded.setdefault(alias.casefold(), actor.id)
            for dem in actor.demonyms:
                self.by_demonym.setdefault(dem, actor.id)

    def get(self, actor_id: str) -> Actor | None:
        return self.actors.get(actor_id)

    def lookup(self, text: str) -> Actor | None:
        """The actor a surface form names (exact first, then case-insensitive), if any."""
        norm = normalise_surface(text)
        actor_id = (
            self.by_alias.get(text.strip())
            or self.by_alias.get(norm)
            or self.by_demonym.get(norm)
            or self.by_alias_folded.get(norm.casefold())
        )
        return self.actors.get(actor_id) if actor_id else None

    def holder(self, title: str, of: str, day: dt.date) -> Actor | None:
        """Who held `title` for actor `of` on `day` (None when unknown or ambiguous)."""
        found = [
            a
            for a in self.actors.values()
            for r in a.roles
            if r.title == title and r.of == of and r.held_on(day)
        ]
        return found[0] if len(found) == 1 else None

    def role_patterns(self) -> list[tuple[str, str, str, str]]:
        """(surface text, title key, actor of the role, prefix text) of every role mention."""
        out: list[tuple[str, str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        for actor in self.actors.values():
            for role in actor.roles:
                if (role.title, role.of) in seen:
                    continue
                seen.add((role.title, role.of))
                owner = self.actors[role.of]
                prefixes = {owner.name, *owner.aliases, *owner.demonyms[:1]}
                prefixes |= {f"{p}{s}" for p in (owner.name, *owner.aliases) for s in ("'s", "’s")}
                titles = self.titles.get(role.title, ())
                for title in titles:
                    variants = {title, title.lower()}
                    for t in variants:
                        for p in prefixes:
                            out.append((f"{p} {t}", role.title, role.of, p))
                        if role.bare and t[:1].isupper():
                            out.append((t, role.title, role.of, ""))
        return out


@dataclass(frozen=True)
class MetricDef:
    """One tracked metric: which unit nouns and context words select it."""

    id: str
    unit: str
    nouns: frozenset[str]
    context: frozenset[str]
    requires_context: bool = False
    requires_also: frozenset[str] = frozenset()
    flow: bool = False


@dataclass(frozen=True)
class MetricCatalogue:
    """Metrics and the nouns that count people."""

    metrics: tuple[MetricDef, ...]
    people: frozenset[str]

    def match(
        self,
        noun: str,
        context: set[str],
        modifiers: set[str] = frozenset(),  # type: ignore[assignment]
        verbs: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> MetricDef | None:
        """The best metric for a unit noun (lemma): context words in the governing verbs count
        three times, in the noun's modifiers five times, elsewhere in the sentence once."""
        best: tuple[int, int, MetricDef] | None = None
        everything = context | modifiers | verbs
        for i, m in enumerate(self.metrics):
            if noun not in m.nouns:
                continue
            hits = m.context & everything
            if m.requires_context and not hits:
                continue
            if m.requires_also and not (m.requires_also & everything):
                continue
            score = 5 * len(m.context & modifiers) + 3 * len(m.context & verbs) + len(hits)
            # on a tie the earlier (more specific) entry wins
            if best is None or (score, -i) > best[:2]:
                best = (score, -i, m)
        if best is None and noun in self.people and noun != "person":
            # "90,000 Israelis have been evacuated": any noun that counts people
            return self.match("person", context, modifiers, verbs)
        return best[2] if best else None


@dataclass(frozen=True)
class VerbRule:
    """A verb (or event noun) that expresses a CAMEO-coded action."""

    lemma: str
    code: str
    prt: str | None = None
    objects: frozenset[str] = frozenset()
    target_preps: tuple[str, ...] = ()
    requires_prep: tuple[str, ...] = ()
    requires_words: frozenset[str] = frozenset()
    needs_target: bool = True


@dataclass(frozen=True)
class CameoCode:
    code: str
    label: str
    goldstein: float
    quad_class: int


@dataclass
class VerbLexicon:
    """CAMEO codes with Goldstein values and quad classes, and the words that express them."""

    codes: dict[str, CameoCode]
    verbs: dict[str, list[VerbRule]]
    nouns: dict[str, list[VerbRule]]

    def code(self, code: str) -> CameoCode:
        return self.codes[code]


def normalise_surface(text: str) -> str:
    """Strip a leading article, a possessive and surrounding punctuation from a mention."""
    t = text.strip().strip(".,;:\"'“”‘’()")
    for suffix in ("'s", "’s", "'", "’"):
        if t.endswith(suffix):
            t = t[: -len(suffix)]
            break
    if t[:4].lower() == "the ":
        t = t[4:]
    return t.strip()


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise CatalogueError(f"{where}: bad date {value!r}") from exc


def _read(name: str, directory: Path | None) -> Any:
    path = (directory or DATA_DIR) / name
    if not path.is_file():
        path = DATA_DIR / name
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc


def parse_actors(data: dict[str, Any], where: str = "actors.yaml") -> ActorCatalogue:
    """Build the actor catalogue from the parsed YAML, checking ids and references."""
    titles = {k: tuple(v) for k, v in (data.get("titles") or {}).items()}
    actors: dict[str, Actor] = {}
    for i, raw in enumerate(data.get("actors") or []):
        at = f"{where}: actors[{i}]"
        try:
            actor_id, name, type_ = raw["id"], raw["name"], raw["type"]
        except (KeyError, TypeError) as exc:
            raise CatalogueError(f"{at}: needs id, name and type") from exc
        if actor_id != slugify(actor_id):
            raise CatalogueError(f"{at}: id {actor_id!r} is not a slug")
        if actor_id in actors:
            raise CatalogueError(f"{at}: duplicate id {actor_id!r}")
        if type_ not in _ENTITY_TYPES:
            raise CatalogueError(f"{at}: type {type_!r} not one of {sorted(_ENTITY_TYPES)}")
        roles = []
        for r in raw.get("roles") or []:
            if r.get("title") not in titles:
                raise CatalogueError(f"{at}: role title {r.get('title')!r} is not in titles")
            roles.append(
                Role(
                    title=r["title"],
                    of=r["of"],
                    start=_date(r.get("from"), at),
                    end=_date(r.get("to"), at),
                    bare=bool(r.get("bare", False)),
                )
            )
        aliases = []
        for a in raw.get("aliases") or []:
            a = str(a)
            # "the X" is covered by "X"; mentions never include the article
            aliases.append(a[4:] if a.startswith("the ") else a)
        actors[actor_id] = Actor(
            id=actor_id,
            name=name,
            type=type_,
            actor_type=raw.get("actor_type", "other"),
            country=raw.get("country"),
            aliases=tuple(dict.fromkeys(aliases)),
            demonyms=tuple(raw.get("demonyms") or ()),
            capital_of=raw.get("capital_of"),
            roles=tuple(roles),
        )
    for actor in actors.values():
        for ref in [actor.capital_of, *(r.of for r in actor.roles)]:
            if ref is not None and ref not in actors:
                raise CatalogueError(f"{where}: {actor.id} refers to unknown actor {ref!r}")
    return ActorCatalogue(actors=actors, titles=titles)


def parse_metrics(data: dict[str, Any]) -> MetricCatalogue:
    metrics = []
    for i, raw in enumerate(data.get("metrics") or []):
        try:
            metrics.append(
                MetricDef(
                    id=raw["id"],
                    unit=raw["unit"],
                    nouns=frozenset(raw["nouns"]),
                    context=frozenset(raw.get("context") or ()),
                    requires_context=bool(raw.get("requires_context", False)),
                    requires_also=frozenset(raw.get("requires_also") or ()),
                    flow=bool(raw.get("flow", False)),
                )
            )
        except (KeyError, TypeError) as exc:
            raise CatalogueError(f"metrics.yaml: metrics[{i}] needs id, unit, nouns") from exc
    return MetricCatalogue(tuple(metrics), frozenset(data.get("people") or ()))


def _word(value: Any) -> str:
    """A word from YAML: unquoted `on`/`off` are YAML 1.1 booleans, and mean the particles."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    return str(value)


def _words(values: Any) -> tuple[str, ...]:
    return tuple(_word(v) for v in values or ())


def _rules(items: list[dict[str, Any]], codes: dict[str, CameoCode]) -> dict[str, list[VerbRule]]:
    out: dict[str, list[VerbRule]] = {}
    for raw in items:
        code = str(raw["code"])
        if code not in codes:
            raise CatalogueError(f"verbs.yaml: {raw['lemma']!r} uses unknown code {code!r}")
        rule = VerbRule(
            lemma=raw["lemma"],
            code=code,
            prt=_word(raw["prt"]) if "prt" in raw else None,
            objects=frozenset(_words(raw.get("objects"))),
            target_preps=_words(raw.get("target_preps")),
            requires_prep=_words(raw.get("requires_prep")),
            requires_words=frozenset(_words(raw.get("requires_words"))),
            needs_target=bool(raw.get("needs_target", True)),
        )
        out.setdefault(rule.lemma, []).append(rule)
    # specific rules (particle, objects) are tried before generic ones
    for rules in out.values():
        rules.sort(key=lambda r: (r.prt is None, not r.objects))
    return out


def parse_verbs(data: dict[str, Any]) -> VerbLexicon:
    roots = data["roots"]
    codes: dict[str, CameoCode] = {}
    for root, info in roots.items():
        codes[root] = CameoCode(root, info["label"], float(info["goldstein"]), int(info["quad"]))
    for code, info in (data.get("codes") or {}).items():
        root = roots.get(code[:2])
        if root is None:
            raise CatalogueError(f"verbs.yaml: code {code!r} has no root category")
        codes[code] = CameoCode(code, info["label"], float(info["goldstein"]), int(root["quad"]))
    return VerbLexicon(
        codes=codes,
        verbs=_rules(data.get("verbs") or [], codes),
        nouns=_rules(data.get("nouns") or [], codes),
    )


@dataclass(frozen=True)
class Catalogues:
    actors: ActorCatalogue
    metrics: MetricCatalogue
    verbs: VerbLexicon


@cache
def load_catalogues(directory: Path | None = None) -> Catalogues:
    """Load and check the three catalogues (cached per directory)."""
    return Catalogues(
        actors=parse_actors(_read("actors.yaml", directory)),
        metrics=parse_metrics(_read("metrics.yaml", directory)),
        verbs=parse_verbs(_read("verbs.yaml", directory)),
    )
