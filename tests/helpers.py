"""Small helpers shared by tests (import as `tests.helpers`)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- A stack of real service processes for end-to-end and fault tests ------------------------

import asyncio  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from newsmon.core import serde, topics  # noqa: E402
from newsmon.core.config import SERVICES, Settings, to_env  # noqa: E402
from newsmon.core.kafka import read_topic_values  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


async def read_topic_async(settings: Settings, spec: topics.TopicSpec) -> list[Any]:
    """Every value currently on a contract topic, decoded, in partition/offset order."""
    return [serde.decode(spec, v) for v in await read_topic_values(settings, spec)]


def read_topic(settings: Settings, spec: topics.TopicSpec) -> list[Any]:
    return asyncio.run(read_topic_async(settings, spec))


class StackUnderTest:
    """The four services as real `newsmon run <service>` processes against the test broker."""

    def __init__(self, settings: Settings) -> None:
        from newsmon.ops import stack

        self.settings = settings
        self.ops = stack
        self.env = {**os.environ, **to_env(settings), "NEWSMON_LOG_FORMAT": "json"}

    def start(self, *services: str, timeout: float = 180.0) -> None:
        names = services or SERVICES
        for svc in names:
            self.ops.start_service(self.settings, svc)
        self.ops.wait_healthy(self.settings, tuple(names), timeout=timeout)

    def stop(self, service: str, kill: bool = False) -> None:
        self.ops.stop_service(self.settings, service, kill=kill)

    def pid(self, service: str) -> int | None:
        return self.ops.service_status(self.settings, service).pid

    def newsmon(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "newsmon.cli.main", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def replay(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.newsmon("replay", *args)

    def drain(self, timeout: float = 240.0) -> dict[str, int]:
        return self.ops.drain(self.settings, timeout=timeout, quiet=True)

    def read(self, spec: topics.TopicSpec) -> list[Any]:
        return read_topic(self.settings, spec)

    def log(self, service: str) -> str:
        return self.ops.logfile(self.settings, service).read_text(errors="replace")

    def close(self) -> None:
        for svc in SERVICES:
            self.stop(svc, kill=False)


async def publish_async(
    settings: Settings, spec: topics.TopicSpec, value: Any, key: str | None = None
) -> None:
    """Produce one value (a model or raw bytes) straight to a contract topic."""
    from aiokafka import AIOKafkaProducer

    from newsmon.core.kafka import producer_kwargs

    data = value if isinstance(value, bytes) else serde.encode(value)
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.topic_name(spec, settings.topic_prefix),
            data,
            key=key.encode() if key else None,
        )
    finally:
        await producer.stop()


def publish(settings: Settings, spec: topics.TopicSpec, value: Any, key: str | None = None) -> None:
    asyncio.run(publish_async(settings, spec, value, key))
