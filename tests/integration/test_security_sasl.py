"""Kafka client security: a broker with a SASL_PLAINTEXT listener, right and wrong credentials."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr
from tests.helpers import ROOT, free_port

from newsmon.core.config import KafkaSecurity, Settings, to_env
from newsmon.core.kafka import KafkaUnavailable, check_connection, client_kwargs, producer_kwargs
from newsmon.ops import broker, stack
from newsmon.ops.topics import ensure_topics

pytestmark = pytest.mark.kafka

PASSWORD = "s3cret-" + uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A private broker whose SASL listener knows the user `newsmon`."""
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("sasl-broker"),
        broker_port=free_port(),
        controller_port=free_port(),
        broker_sasl_port=free_port(),
        broker_sasl_users={"newsmon": SecretStr(PASSWORD)},
    )
    try:
        broker.start(settings, quiet=True)
    except broker.BrokerError as exc:
        pytest.skip(f"no Kafka broker: {exc}")
    try:
        yield settings
    finally:
        broker.stop(settings)


def _client(sasl_broker: Settings, mechanism: str, password: str, tmp: Path) -> Settings:
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{sasl_broker.broker_sasl_port}",
        kafka_security=KafkaSecurity(
            protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,  # type: ignore[arg-type]
            sasl_username="newsmon",
            sasl_password=SecretStr(password),
        ),
        topic_prefix=f"s{uuid.uuid4().hex[:8]}.",
        state_dir=tmp,
        tracker_port=free_port(),
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
async def test_right_credentials_produce_and_consume(
    sasl_broker: Settings, mechanism: str, tmp_path: Path
) -> None:
    """With the right user and password a record goes through the SASL listener."""
    settings = _client(sasl_broker, mechanism, PASSWORD, tmp_path)
    await check_connection(settings)
    topic = f"{settings.topic_prefix}roundtrip"
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await producer.start()
    await producer.send_and_wait(topic, b"hello", key=b"k")
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, **client_kwargs(settings), auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    assert [r.value for rs in batch.values() for r in rs] == [b"hello"]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
async def test_wrong_password_fails_with_a_clear_error(
    sasl_broker: Settings, mechanism: str, tmp_path: Path
) -> None:
    """A wrong password is reported as rejected credentials, and the password is not echoed."""
    settings = _client(sasl_broker, mechanism, "wrong-password", tmp_path)
    with pytest.raises(KafkaUnavailable) as err:
        await check_connection(settings)
    assert "rejected the credentials" in str(err.value)
    assert "wrong-password" not in str(err.value)


def test_service_runs_with_right_and_refuses_wrong_credentials(
    sasl_broker: Settings, tmp_path: Path
) -> None:
    """`newsmon run tracker` joins via SASL; with a wrong password it exits with a clear error."""
    good = _client(sasl_broker, "SCRAM-SHA-512", PASSWORD, tmp_path / "good")
    asyncio.run(ensure_topics(good))
    try:
        stack.start_service(good, "tracker")
        stack.wait_healthy(good, ("tracker",), timeout=120)
        log = stack.logfile(good, "tracker").read_text()
        assert PASSWORD not in log
        status = subprocess.run(
            [sys.executable, "-m", "newsmon.cli.main", "status"],
            env={**os.environ, **to_env(good)},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert PASSWORD not in status.stdout + status.stderr
    finally:
        stack.stop_service(good, "tracker")

    bad = _client(sasl_broker, "SCRAM-SHA-512", "wrong-password", tmp_path / "bad")
    res = subprocess.run(
        [sys.executable, "-m", "newsmon.cli.main", "run", "tracker"],
        env={**os.environ, **to_env(bad)},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 2
    assert "rejected the credentials" in res.stderr
    assert "wrong-password" not in res.stderr + res.stdout
