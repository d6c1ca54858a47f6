"""The docker-compose file is valid and in step with the topic module and the services."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from newsmon.core.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_passes_docker_compose_config() -> None:
    """`docker-compose config -q` (Debian's docker-compose) accepts the file."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: run `make system-deps`")
    res = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_compose_runs_every_service_and_creates_topics_from_the_module() -> None:
    """Each service runs `newsmon run <service>` after `newsmon topics create` succeeded."""
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert services["topic-init"]["command"] == ["topics", "create"]
    for svc in SERVICES:
        assert services[svc]["command"] == ["run", svc]
        deps = services[svc]["depends_on"]
        assert deps["topic-init"]["condition"] == "service_completed_successfully"
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")
    assert {"prometheus", "grafana"} <= set(services)
