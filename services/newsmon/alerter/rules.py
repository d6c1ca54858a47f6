"""Alert rules: the YAML rules file, its models, and validation with errors naming rule and field.

The default file `rules.yaml` ships with the package; `settings.rules_path` replaces it.
"""

from __future__ import annotations

import fnmatch
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from newsmon.core.config import ConfigError
from newsmon.core.models import ActorType, EntityType, Period, Severity

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
Direction = Literal["down", "up", "any"]


class RulesError(ConfigError):
    """The rules file is wrong; the message names the file, the rule and the field."""


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    description: str = ""
    severity: Severity = "warning"
    enabled: bool = True
    suppress_s: float | None = Field(
        default=None, ge=0, description="Suppression window; default settings.alert_suppression_s."
    )


class _SeriesRule(_Rule):
    metrics: list[str] = Field(default=["*"], min_length=1, description="fnmatch patterns.")
    locations: list[str] | None = None
    # Planned and baseline figures are not actuals: rules leave them out unless asked.
    periods: list[Period] = ["daily", "point"]

    def matches(self, metric: str, location: str | None, period: str) -> bool:
        return (
            any(fnmatch.fnmatchcase(metric, p) for p in self.metrics)
            and (self.locations is None or location in self.locations)
            and period in self.periods
        )


class ThresholdRule(_SeriesRule):
    """The latest value of a series crosses a bound."""

    kind: Literal["threshold"]
    below: float | None = None
    above: float | None = None
    resolve: bool = Field(default=False, description="Send a resolved alert when it recovers.")

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdRule:
        if (self.below is None) == (self.above is None):
            raise ValueError("set exactly one of 'below' or 'above'")
        return self

    def holds(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        return self.above is not None and value > self.above


class ChangeRule(_SeriesRule):
    """A change between consecutive points, or over a window of days, in one direction."""

    kind: Literal["change"]
    direction: Direction = "any"
    min_pct: float | None = Field(default=None, gt=0)
    min_abs: float | None = Field(default=None, gt=0)
    window_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> ChangeRule:
        if self.min_pct is None and self.min_abs is None:
            raise ValueError("set 'min_pct' or 'min_abs' (or both)")
        return self

    def holds(self, before: float, after: float) -> bool:
        delta = after - before
        if (self.direction == "down" and delta >= 0) or (self.direction == "up" and delta <= 0):
            return False
        if delta == 0:
            return False
        if self.min_abs is not None and abs(delta) < self.min_abs:
            return False
        if self.min_pct is not None:
            if before == 0:
                return False
            if abs(100.0 * delta / before) < self.min_pct:
                return False
        return True


class NewActorRule(_Rule):
    """An actor seen for the first time, filtered by type and minimum salience."""

    kind: Literal["new_actor"]
    types: list[EntityType] | None = None
    actor_types: list[ActorType] | None = None
    known: bool | None = None
    min_mentions: int = Field(default=1, ge=1)
    min_articles: int = Field(default=1, ge=1)


class DiplomaticActionRule(_Rule):
    """An event whose CAMEO code has a watched prefix or whose Goldstein value is low enough."""

    kind: Literal["diplomatic_action"]
    cameo_prefixes: list[Annotated[str, Field(pattern=r"^\d{1,4}$")]] = []
    goldstein_at_most: float | None = Field(default=None, ge=-10, le=10)
    actors: list[str] | None = Field(
        default=None, description="Only events whose actor and target are both in this list."
    )
    include_negated: bool = False

    @model_validator(mode="after")
    def _one_condition(self) -> DiplomaticActionRule:
        if not self.cameo_prefixes and self.goldstein_at_most is None:
            raise ValueError("set 'cameo_prefixes' or 'goldstein_at_most'")
        return self


class ToneShiftRule(_Rule):
    """A pair's rolling Goldstein mean moves by more than a bound."""

    kind: Literal["tone_shift"]
    min_shift: float = Field(gt=0)
    direction: Direction = "down"
    min_events: int = Field(default=2, ge=1)
    actors: list[str] | None = None


AlertRule = Annotated[
    ThresholdRule | ChangeRule | NewActorRule | DiplomaticActionRule | ToneShiftRule,
    Field(discriminator="kind"),
]
_RULE: TypeAdapter[Any] = TypeAdapter(AlertRule)


class RuleSet(BaseModel):
    """The validated rules file: the rules and human labels of metrics for alert titles."""

    model_config = ConfigDict(frozen=True)

    rules: list[Any]
    labels: dict[str, str] = {}
    source: str = "<defaults>"

    def of_kind(self, kind: str) -> list[Any]:
        return [r for r in self.rules if r.kind == kind and r.enabled]

    def get(self, name: str) -> Any | None:
        return next((r for r in self.rules if r.name == name), None)


def _where(loc: tuple[Any, ...]) -> str:
    # The discriminator ('change', ...) is the first part of the location; it is not a field.
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in _KINDS else [str(p) for p in loc]
    return ".".join(parts) or "(rule)"


_KINDS = ("threshold", "change", "new_actor", "diplomatic_action", "tone_shift")


def parse_rules(data: Any, source: str = "<rules>") -> RuleSet:
    """Validate a parsed rules document; RulesError lists every problem by rule and field."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{source}: expected a mapping with a 'rules:' list")
    unknown = set(data) - {"rules", "labels"}
    if unknown:
        raise RulesError(f"{source}: unknown top-level keys {sorted(unknown)}; use rules, labels")
    problems: list[str] = []
    rules: list[Any] = []
    names: set[str] = set()
    for i, raw in enumerate(data["rules"], start=1):
        name = raw.get("name", f"#{i}") if isinstance(raw, dict) else f"#{i}"
        try:
            rule = _RULE.validate_python(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = "kind" if err["type"].startswith("union_tag") else _where(err["loc"])
                got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
                problems.append(f"  rule {name!r} (#{i}), field {where!r}: {err['msg']}{got}")
            continue
        if rule.name in names:
            problems.append(f"  rule {name!r} (#{i}), field 'name': duplicate rule name")
        names.add(rule.name)
        rules.append(rule)
    labels = data.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        problems.append("  labels: expected a mapping of metric id to title text")
    if problems:
        raise RulesError(f"invalid rules in {source}:\n" + "\n".join(problems))
    return RuleSet(rules=rules, labels=labels, source=source)


def default_rules_text() -> str:
    return resources.files("newsmon.alerter").joinpath("rules.yaml").read_text("utf-8")


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules at `path`, or the shipped defaults; RulesError when anything is wrong."""
    if path is None:
        text, source = default_rules_text(), "newsmon/alerter/rules.yaml"
    else:
        if not path.is_file():
            raise RulesError(f"rules_path={path}: no such file (NEWSMON_RULES_PATH)")
        text, source = path.read_text("utf-8"), str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: cannot parse YAML: {exc}") from exc
    return parse_rules(data, source)
