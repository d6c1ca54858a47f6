"""Prometheus's configs and rules as promtool sees them: valid, and the rules' unit tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.observability.monitoring import PROMETHEUS_DIR, RULE_TESTS_DIR, rule_files

from newsmon.core.config import Settings
from newsmon.ops.stack import render_prometheus_config

pytestmark = pytest.mark.prometheus


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; fail (not skip) when it is missing, since `make test` installs it."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run `make system-deps` (Debian package prometheus)")
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_local_config_is_valid(tmp_path: Path) -> None:
    """The config `newsmon up` renders for the local stack passes `promtool check config`."""
    config = render_prometheus_config(Settings(state_dir=tmp_path), scrape_interval="1s")
    res = promtool("check", "config", str(config))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(rule_files())} rule files found" in res.stdout + res.stderr


def test_compose_config_is_valid(tmp_path: Path) -> None:
    """The docker-compose config, with its rules folder mounted, passes `promtool check config`."""
    text = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert "/etc/prometheus/rules/*.yml" in text, "compose mounts deploy/prometheus/rules there"
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/etc/prometheus/rules", str(PROMETHEUS_DIR / "rules")))
    res = promtool("check", "config", str(config))
    assert res.returncode == 0, res.stdout + res.stderr


def test_rules_are_valid() -> None:
    """Every rule file passes `promtool check rules`."""
    files = rule_files()
    assert files, "no rule files in deploy/prometheus/rules"
    res = promtool("check", "rules", *map(str, files))
    assert res.returncode == 0, res.stdout + res.stderr


def test_rule_unit_tests_pass() -> None:
    """The `promtool test rules` unit tests of deploy/prometheus/tests pass."""
    tests = sorted(p.name for p in RULE_TESTS_DIR.glob("*.yml"))
    assert tests, "no rule unit tests in deploy/prometheus/tests"
    res = promtool("test", "rules", *tests, cwd=RULE_TESTS_DIR)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_rule_has_a_unit_test() -> None:
    """Each alerting rule and each recording rule is exercised by a promtool unit test."""
    import yaml
    from tests.observability.monitoring import rules

    wanted = {r.get("alert") or r["record"] for r in rules()}
    tested: set[str] = set()
    for path in RULE_TESTS_DIR.glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested |= {t["alertname"] for t in case.get("alert_rule_test", [])}
            tested |= {t["expr"] for t in case.get("promql_expr_test", [])}
    assert wanted <= tested, f"rules without a unit test: {sorted(wanted - tested)}"
