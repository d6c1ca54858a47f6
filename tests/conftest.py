"""Shared fixtures: a real Kafka broker for the session, unique topic prefixes, settings.

The broker is, in order of preference: `KAFKA_BOOTSTRAP` if set; the local KRaft broker from
Maven jars (`newsmon.ops.broker`) started on free ports for this session. Kafka-marked tests
that are skipped make the run fail when `CI` or `NEWSMON_REQUIRE_KAFKA` is set.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from newsmon.core.config import Settings
from tests.helpers import free_port

_SKIPPED_KAFKA: list[str] = []


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real Kafka broker for the whole test session."""
    env = os.environ.get("KAFKA_BOOTSTRAP")
    if env:
        yield env
        return
    from newsmon.ops import broker

    state = tmp_path_factory.mktemp("kafka-state")
    settings = Settings(
        state_dir=state,
        broker_port=free_port(),
        controller_port=free_port(),
        broker_heap="768m",
    )
    try:
        addr = broker.start(settings, quiet=True)
    except broker.BrokerError as exc:
        pytest.skip(f"no Kafka broker: {exc}")
    os.environ["NEWSMON_TEST_BROKER_STATE"] = str(state)
    try:
        yield addr
    finally:
        broker.stop(settings)


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic/group prefix so every test has its own topics on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_settings(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Build Settings pointing at the session broker, with this test's prefix and state dir."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "kafka_bootstrap": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "state_dir": tmp_path / "state",
            "ingester_port": free_port(),
            "extractor_port": free_port(),
            "tracker_port": free_port(),
            "alerter_port": free_port(),
            "prometheus_port": free_port(),
            # A stalled agent is restarted after 30 s rather than 120 s (the test budgets).
            "stall_timeout_s": 30.0,
        }
        base.update(overrides)
        return Settings(**base)

    return make


@pytest.fixture
def contract_topics(kafka_settings: Callable[..., Settings]) -> Settings:
    """Settings whose prefixed contract topics exist on the broker."""
    from newsmon.ops.topics import ensure_topics

    settings = kafka_settings()
    asyncio.run(ensure_topics(settings))
    return settings


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "kafka" in report.keywords:
        _SKIPPED_KAFKA.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    required = os.environ.get("CI") or os.environ.get("NEWSMON_REQUIRE_KAFKA")
    if required and _SKIPPED_KAFKA:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    required = os.environ.get("CI") or os.environ.get("NEWSMON_REQUIRE_KAFKA")
    if required and _SKIPPED_KAFKA:
        terminalreporter.write_line(
            f"FAILED: {len(_SKIPPED_KAFKA)} Kafka test(s) were skipped, which CI does not allow: "
            + ", ".join(_SKIPPED_KAFKA[:5]),
            red=True,
        )
