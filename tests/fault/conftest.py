"""Fixtures of the fault tests: stacks that are always torn down, private brokers, figures.

Every fault test records its measured figures (times, counts, memory) with `figures`; they are
printed at the end of the run and written to `<pytest basetemp>/fault-figures.json` (and to
`$NEWSMON_FAULT_REPORT` when set) for the issue note.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from newsmon.core.config import Settings
from tests.fault.support import FaultStack
from tests.helpers import free_port

_FIGURES: dict[str, dict[str, Any]] = {}
_REPORT: list[Path] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict for this test's measured figures (reported even when the test fails)."""
    name = request.node.name
    _FIGURES[name] = {}
    return _FIGURES[name]


@pytest.fixture(autouse=True, scope="session")
def _figures_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    _REPORT.append(tmp_path_factory.getbasetemp() / "fault-figures.json")
    if os.environ.get("NEWSMON_FAULT_REPORT"):
        _REPORT.append(Path(os.environ["NEWSMON_FAULT_REPORT"]))
    yield
    if _FIGURES:
        for path in _REPORT:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_FIGURES, indent=2, sort_keys=True, default=str) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fault test figures")
    for test, values in _FIGURES.items():
        terminalreporter.write_line(f"{test}: {json.dumps(values, sort_keys=True, default=str)}")
    for path in _REPORT:
        terminalreporter.write_line(f"(written to {path})")


@pytest.fixture
def stacks(request: pytest.FixtureRequest) -> Iterator[Callable[[Settings], FaultStack]]:
    """Make FaultStacks; all of them are closed (and their leftover processes ended) at teardown.

    With `NEWSMON_FAULT_LOGS=DIR` the services' logs are kept in DIR/<test>/<prefix>/ (pytest
    keeps only its last three temporary folders, which parallel runs rotate away quickly).
    """
    made: list[FaultStack] = []

    def make(settings: Settings) -> FaultStack:
        s = FaultStack(settings)
        made.append(s)
        return s

    try:
        yield make
    finally:
        for s in reversed(made):
            s.close()
        keep = os.environ.get("NEWSMON_FAULT_LOGS")
        if keep:
            for s in made:
                logs = s.settings.state_dir / "logs"
                dest = (
                    Path(keep)
                    / request.node.name
                    / f"{s.settings.topic_prefix}{s.settings.state_dir.name}"
                )
                if logs.is_dir():
                    shutil.copytree(logs, dest, dirs_exist_ok=True)


@pytest.fixture
def fast_group_timeouts(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Faust reads these from the environment of the service processes started by the test:
    a killed group member is declared dead after 10 s instead of Faust's default 60 s."""
    values = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def private_broker(
    tmp_path: Path, kafka_settings: Callable[..., Settings]
) -> Iterator[Callable[..., Settings]]:
    """A broker of this test alone (it may be stopped and killed), and Settings for it.

    Yields `make(**overrides)`: Settings for services on that broker with the contract topics
    created. The session broker is never touched.
    """
    from newsmon.ops import broker
    from newsmon.ops.topics import ensure_topics

    broker_settings = Settings(
        state_dir=tmp_path / "private-broker",
        broker_port=free_port(),
        controller_port=free_port(),
        broker_heap="512m",
    )
    addr = broker.start(broker_settings, quiet=True)

    def make(**overrides: Any) -> Settings:
        settings = kafka_settings(kafka_bootstrap=addr, **overrides)
        asyncio.run(ensure_topics(settings))
        return settings

    make.broker_settings = broker_settings  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        broker.stop(broker_settings, timeout=20, kill=True)
