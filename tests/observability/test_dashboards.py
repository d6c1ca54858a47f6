"""Grafana provisioning and dashboards are well formed; every metric they and rules use exists."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.observability.monitoring import (
    GRAFANA_DIR,
    ROOT,
    dashboards,
    missing_metrics,
    panel_queries,
    panels,
    registered_metrics,
    rules,
    selectors,
)

PANEL_TYPES = {"row", "text", "timeseries", "stat", "table", "bargauge", "gauge", "barchart"}


def _datasource() -> dict[str, Any]:
    config = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/prometheus.yml").read_text())
    (ds,) = config["datasources"]
    return dict(ds)


def test_dashboards_exist() -> None:
    """There is a Pipeline and a Situation dashboard."""
    titles = {d["title"] for d in dashboards().values()}
    assert {"newsmon / Pipeline", "newsmon / Situation"} <= titles, titles


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_is_well_formed(name: str) -> None:
    """A dashboard has a uid, schemaVersion 39, unique panel ids, grid positions and refIds."""
    dash = dashboards()[name]
    assert dash["uid"] and len(dash["uid"]) <= 40
    assert dash["schemaVersion"] == 39
    assert dash.get("id") is None, "provisioned dashboards must not carry a database id"
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"
    for panel in panels(dash):
        where = f"{name} / {panel.get('title')}"
        assert panel["type"] in PANEL_TYPES, where
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, where
        if panel["type"] in {"row", "text"}:
            continue
        assert panel["targets"], f"{where} has no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        for target in panel["targets"]:
            assert target["expr"].strip(), where
            assert selectors(target["expr"]), f"{where}: no metric in {target['expr']!r}"


def test_dashboards_use_the_provisioned_datasource() -> None:
    """Every panel and query names the datasource uid that provisioning creates."""
    ds = _datasource()
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    for name, dash in dashboards().items():
        for panel in panels(dash):
            if panel["type"] in {"row", "text"}:
                continue
            for obj in [panel, *panel["targets"]]:
                assert obj["datasource"] == {"type": "prometheus", "uid": ds["uid"]}, (
                    f"{name} / {panel['title']}"
                )


def test_compose_mounts_the_provisioning() -> None:
    """docker-compose mounts provisioning and dashboards where the dashboard provider looks."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/newsmon.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert f"./deploy/grafana/dashboards:{path}:ro" in volumes


def test_every_referenced_metric_is_exported() -> None:
    """Each metric (and label) a panel or rule selects is registered by newsmon's code or Faust."""
    exprs = [(str(q), q.expr) for q in panel_queries()]
    exprs += [(r.get("alert") or r["record"], r["expr"]) for r in rules()]
    problems = missing_metrics(exprs, registered_metrics())
    assert not problems, "\n".join(problems)


def test_metric_name_check_catches_a_typo() -> None:
    """The check reports a panel metric that nobody exports and a label a metric lacks."""
    exported = registered_metrics()
    problems = missing_metrics(
        [
            ("typo", "sum(rate(newsmon_records_consumd_total[1m]))"),
            ("label", 'newsmon_records_consumed_total{stage="x"}'),
            ("ok", "sum by (job) (rate(newsmon_records_consumed_total[$__rate_interval]))"),
        ],
        exported,
    )
    assert len(problems) == 2, problems
    assert "newsmon_records_consumd_total" in problems[0] and "stage" in problems[1]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.9, sum by (stage, le) (rate(x_bucket{a="b,c}"}[5m])))',
            {"x_bucket"},
        ),
        ("(sum(rate(a_total[1m])) or vector(0)) / on (job) group_left b", {"a_total", "b"}),
        (
            "job_topic:lag:records > 1000 and ignoring (topic) up offset 5m",
            {"job_topic:lag:records", "up"},
        ),
        ("topk(5, sum without (instance) (c)) unless d == bool 1e3", {"c", "d"}),
    ],
)
def test_selectors_finds_metric_names(expr: str, names: set[str]) -> None:
    """Metric names are told apart from functions, keywords, label lists and label values."""
    assert {s.name for s in selectors(expr)} == names
