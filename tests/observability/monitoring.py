"""What the observability tests read: dashboards, rules, the metric names a PromQL query uses,
and the metric names newsmon's code registers (import as `tests.observability.monitoring`)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"

#: Grafana's built-in variables, replaced the way Grafana would for a short time range.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
}

#: Series Prometheus makes itself (not exported by any service).
PROMETHEUS_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<braces>\{(?:[^}"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\})
  | (?P<range>\[[^\]]*\])
  | (?P<number>0x[0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<paren>\()
  | (?P<other>\S)
    """,
    re.VERBOSE,
)
_MATCHER = re.compile(
    r"""([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|'[^']*')"""
)


@dataclass(frozen=True)
class Selector:
    """A metric name used in a query, with the label names its matchers use."""

    name: str
    labels: frozenset[str]


def selectors(expr: str) -> list[Selector]:
    """The metric selectors of a PromQL expression (functions, keywords, label lists skipped)."""
    expr = substitute_grafana_variables(expr)
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr)]
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident":
            if text in _GROUPING and nxt[0] == "paren":
                i = _skip_parens(tokens, i + 1)
                continue
            if nxt[0] == "paren" or text in _KEYWORDS or text in _GROUPING or text in _AGGREGATIONS:
                i += 1
                continue
            labels: frozenset[str] = frozenset()
            if nxt[0] == "braces":
                labels = frozenset(_MATCHER.findall(nxt[1]))
                i += 1
            found.append(Selector(text, labels))
        i += 1
    return found


_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
}  # fmt: skip


def _skip_parens(tokens: list[tuple[str | None, str]], start: int) -> int:
    """Index after the parenthesised group that opens at `start`."""
    depth = 0
    for j in range(start, len(tokens)):
        if tokens[j][0] == "paren":
            depth += 1
        elif tokens[j][1] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tokens)


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr)}


def substitute_grafana_variables(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value).replace("${" + var[1:] + "}", value)
    return expr


# --- dashboards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} [{self.ref_id}]: {self.expr}"


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON of deploy/grafana/dashboards, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries() -> list[PanelQuery]:
    """Every Prometheus query of every panel of every dashboard."""
    out = []
    for name, dash in dashboards().items():
        for panel in panels(dash):
            for target in panel.get("targets", []):
                if target.get("hide"):
                    continue
                out.append(PanelQuery(name, panel["title"], target["refId"], target["expr"]))
    return out


# --- rules -------------------------------------------------------------------------------------


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> list[dict[str, Any]]:
    """Every recording and alerting rule of deploy/prometheus/rules."""
    out = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def recording_rules() -> dict[str, str]:
    """Recorded series name -> the expression that computes it."""
    return {r["record"]: r["expr"] for r in rules() if "record" in r}


def base_selectors(expr: str, recorded: dict[str, str] | None = None) -> list[Selector]:
    """The selectors of `expr` with recorded series replaced by what their rules select."""
    recorded = recording_rules() if recorded is None else recorded
    out: list[Selector] = []
    for sel in selectors(expr):
        if sel.name in recorded:
            out.extend(base_selectors(recorded[sel.name], recorded))
        else:
            out.append(sel)
    return out


# --- what the code registers -------------------------------------------------------------------


def registered_metrics() -> dict[str, frozenset[str] | None]:
    """Exposed sample name -> label names (None: not known statically) for every metric that
    newsmon's modules, Faust's Prometheus sensor and prometheus_client's default collectors
    register. Every module of the `newsmon` package is imported so that module-level metrics exist.
    """
    from faust.sensors.prometheus import FaustMetrics
    from prometheus_client import REGISTRY, CollectorRegistry

    import newsmon

    for mod in pkgutil.walk_packages(newsmon.__path__, "newsmon."):
        importlib.import_module(mod.name)
    faust_registry = CollectorRegistry()
    FaustMetrics.create(faust_registry, "newsmon_faust")  # as newsmon.core.faustapp names them

    out: dict[str, frozenset[str] | None] = {}
    for registry in (REGISTRY, faust_registry):
        collectors = list(registry._collector_to_names)  # no public API lists the collectors
        for collector in collectors:
            labelnames = getattr(collector, "_labelnames", None)
            describe = getattr(collector, "describe", None)
            for family in (describe() if describe else []) or collector.collect():
                labels = None if labelnames is None else frozenset(labelnames)
                for name in _exposed_names(family.name, family.type):
                    if family.type == "histogram" and labels is not None:
                        out[name] = labels | {"le"} if name.endswith("_bucket") else labels
                    elif family.type == "info":
                        out[name] = None  # the info's keys are its labels
                    else:
                        out[name] = labels
    return out


def _exposed_names(name: str, kind: str) -> list[str]:
    """The sample names prometheus_client writes for a family (the text format, not OpenMetrics)."""
    suffixes = {
        "counter": ["_total", "_created"],
        "histogram": ["_bucket", "_count", "_sum", "_created"],
        "gaugehistogram": ["_bucket", "_gcount", "_gsum"],
        "summary": ["", "_count", "_sum", "_created"],
        "info": ["_info"],
    }.get(kind, [""])
    return [name + s for s in suffixes]


def missing_metrics(
    exprs: list[tuple[str, str]], exported: dict[str, frozenset[str] | None]
) -> list[str]:
    """Problems with (where, expr) pairs: names nobody exports, label names a metric lacks."""
    recorded = recording_rules()
    problems = []
    for where, expr in exprs:
        for sel in base_selectors(expr, recorded):
            if sel.name in PROMETHEUS_SERIES:
                continue
            if sel.name not in exported:
                problems.append(f"{where}: no service exports {sel.name!r}")
                continue
            known = exported[sel.name]
            if known is None:
                continue
            unknown = sel.labels - known - {"job", "instance", "__name__"}
            if unknown:
                problems.append(
                    f"{where}: {sel.name} has no label(s) {sorted(unknown)} "
                    f"(it has {sorted(known)})"
                )
    return problems
