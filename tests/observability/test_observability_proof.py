"""The proof: a real Prometheus scrapes the four services while the seed flows through them, and
every panel of every dashboard gets data from it."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.helpers import ROOT, StackUnderTest, publish
from tests.observability.monitoring import (
    PROMETHEUS_SERIES,
    PanelQuery,
    base_selectors,
    panel_queries,
    rule_files,
    substitute_grafana_variables,
)

from newsmon.core import topics
from newsmon.core.config import SERVICES, Settings
from newsmon.ops import procs
from newsmon.ops import stack as ops

pytestmark = [pytest.mark.prometheus, pytest.mark.kafka, pytest.mark.e2e]

#: Bounded waits (seconds); the scrape and rule interval is 1 s.
PROMETHEUS_READY_S = 30.0
DATA_WAIT_S = 60.0
DRAIN_S = 150.0
INGEST_TOKEN = "observability-proof"
#: An article for the ingester's HTTP endpoint, so that its own panels have data too.
HTTP_ARTICLE = {
    "source": "observability-proof",
    "url": "https://example.org/observability-proof",
    "title": "Aid convoy reaches Khan Younis",
    "published_at": "2023-11-14T09:00:00+00:00",
    "body": "Twelve aid trucks entered Gaza through the Rafah crossing on 14 November, "
    "the Egyptian Red Crescent said.",
}


class PrometheusAPI:
    """The few endpoints of Prometheus's HTTP API the proof needs."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
            body = json.loads(resp.read().decode())
        assert body["status"] == "success", body
        return body["data"]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=substitute_grafana_variables(expr))
        result: list[dict[str, Any]] = data["result"]
        return result

    def metric_names(self) -> set[str]:
        return set(self.get("/api/v1/label/__name__/values"))


@pytest.fixture
def observed_stack(
    kafka_settings: Callable[..., Settings],
) -> Iterator[tuple[StackUnderTest, PrometheusAPI]]:
    """Prometheus (1 s scrapes, the project's rules) and the four services, stopped afterwards."""
    from newsmon.ops.topics import ensure_topics

    settings = kafka_settings(ingest_token=INGEST_TOKEN)
    asyncio.run(ensure_topics(settings))
    missing = [s for s in SERVICES if importlib.util.find_spec(f"newsmon.{s}.main") is None]
    if missing:
        pytest.fail(f"services not built yet (no newsmon.<svc>.main): {', '.join(missing)}")
    if ops.prometheus_binary() is None:
        pytest.fail("prometheus is not installed: run `make system-deps` (Debian package)")
    services = StackUnderTest(settings)
    prometheus: int | None = None
    try:
        prometheus = ops.start_prometheus(settings, scrape_interval="1s")
        assert prometheus is not None
        api = PrometheusAPI(f"http://{settings.bind_host}:{settings.prometheus_port}")
        deadline = time.monotonic() + PROMETHEUS_READY_S
        while not api.ready():
            if (
                not procs.pid_alive(prometheus, ops.PROMETHEUS_MARKER)
                or time.monotonic() > deadline
            ):
                log = settings.state_dir / "logs" / "prometheus.log"
                pytest.fail(f"Prometheus did not become ready; {log}:\n{_tail(log)}")
            time.sleep(0.2)
        services.start()
        yield services, api
    finally:
        services.close()
        if prometheus is not None:  # by pid: a lost pid file must not leave it running
            procs.terminate(prometheus, ops.PROMETHEUS_MARKER, timeout=20)


def _logged_errors(services: StackUnderTest, per_service: int = 5) -> str:
    """The last error lines of each service's log (JSON lines), for a failure message."""
    out = []
    for svc in SERVICES:
        errors = [line for line in services.log(svc).splitlines() if '"level": "error"' in line]
        out += [f"{svc}: {line[:400]}" for line in errors[-per_service:]]
    return "\n".join(out) or "(none)"


def _tail(path: Any, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def post_articles(settings: Settings, body: bytes) -> int:
    """POST a body to the ingester's /articles; the HTTP status."""
    request = urllib.request.Request(
        f"http://{settings.bind_host}:{settings.ingester_port}/articles",
        data=body,
        headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _unhealthy_rules(api: PrometheusAPI) -> list[str]:
    """Rules that failed their last evaluation (or never ran), and rule files not loaded."""
    groups = api.get("/api/v1/rules")["groups"]
    problems = [
        f"{r['name']}: {r['health']} {r.get('lastError', '')}"
        for g in groups
        for r in g["rules"]
        if r["health"] != "ok"
    ]
    loaded = {g["file"] for g in groups}
    problems += [f"{p} not loaded" for p in rule_files() if str(p) not in loaded]
    return problems


def _empty_queries(api: PrometheusAPI, queries: list[PanelQuery]) -> list[PanelQuery]:
    return [q for q in queries if not api.query(q.expr)]


def test_every_dashboard_panel_returns_data(
    observed_stack: tuple[StackUnderTest, PrometheusAPI],
) -> None:
    """After the seed flows through the services, every panel query returns at least one series."""
    services, api = observed_stack
    settings = services.settings

    res = services.replay(str(ROOT / "seeds"), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    # The ingester service's own channel: one article, and one body it must dead-letter.
    assert post_articles(settings, json.dumps(HTTP_ARTICLE).encode()) in (200, 201, 202)
    assert post_articles(settings, b"{not json") == 400
    # One record no extractor can read: the extractor's dead-letter and failure panels show it.
    publish(settings, topics.ARTICLES_RAW, b"{not an article", key="observability-proof")
    try:
        services.drain(timeout=DRAIN_S)
    except TimeoutError as exc:
        pytest.fail(f"{exc}; errors the services logged:\n{_logged_errors(services)}")

    # All four targets are scraped by the project's config, rendered for this stack's ports.
    targets = api.get("/api/v1/targets")["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    assert health == dict.fromkeys(SERVICES, "up"), targets

    # The config it runs with (rendered by `newsmon up`'s code) and its rules pass promtool.
    config = settings.state_dir / "prometheus" / "prometheus.yml"
    for args in (["check", "config", str(config)], ["check", "rules", *map(str, rule_files())]):
        res = subprocess.run(
            [shutil.which("promtool") or "promtool", *args], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stdout + res.stderr

    queries = panel_queries()
    empty, broken = queries, ["not evaluated yet"]
    deadline = time.monotonic() + DATA_WAIT_S
    while (empty or broken) and time.monotonic() < deadline:
        time.sleep(1.0)
        empty = _empty_queries(api, empty)
        broken = _unhealthy_rules(api)
    # Every rule of the project's files is loaded and evaluates without error.
    assert not broken, broken

    # A metric no service exports is the likeliest cause of an empty panel: name it first.
    scraped = api.metric_names() | PROMETHEUS_SERIES
    unexported = sorted(
        {
            f"{q.dashboard} / {q.panel}: {sel.name}"
            for q in queries
            for sel in base_selectors(q.expr)
            if sel.name not in scraped
        }
    )
    assert not unexported, "metrics no running service exports:\n" + "\n".join(unexported)
    assert not empty, f"panels without data after {DATA_WAIT_S:.0f}s:\n" + "\n".join(
        map(str, empty)
    )
