"""Kafka client settings shared by every aiokafka producer, consumer and admin client."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from newsmon.core.config import KafkaSecurity, Settings

if TYPE_CHECKING:
    from newsmon.core.topics import TopicSpec


def ssl_context(sec: KafkaSecurity) -> ssl.SSLContext | None:
    """An SSL context from the settings, or None when the protocol does not use TLS."""
    if not sec.protocol.endswith("SSL"):
        return None
    ctx = ssl.create_default_context(cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None)
    if sec.ssl_certfile:
        ctx.load_cert_chain(
            str(sec.ssl_certfile), str(sec.ssl_keyfile) if sec.ssl_keyfile else None
        )
    ctx.check_hostname = sec.ssl_check_hostname
    return ctx


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: bootstrap servers and security."""
    sec = settings.kafka_security
    kw: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap,
        "security_protocol": sec.protocol,
    }
    ctx = ssl_context(sec)
    if ctx is not None:
        kw["ssl_context"] = ctx
    if sec.protocol.startswith("SASL"):
        kw["sasl_mechanism"] = sec.sasl_mechanism
        kw["sasl_plain_username"] = sec.sasl_username
        kw["sasl_plain_password"] = (
            sec.sasl_password.get_secret_value() if sec.sasl_password else None
        )
    return kw


@contextlib.asynccontextmanager
async def admin_client(settings: Settings, **options: Any) -> AsyncIterator[Any]:
    """A started aiokafka admin client for the cluster of `settings` (with `options`), closed
    on leaving."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_kwargs(settings), **options)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


def producer_kwargs(settings: Settings) -> dict[str, Any]:
    """An idempotent producer that waits for all in-sync replicas."""
    return {
        **client_kwargs(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_request_size": 8 * 1024 * 1024,
        "compression_type": None,
    }


class KafkaUnavailable(RuntimeError):
    """Kafka cannot be used with these settings; the message says why and what to do."""


async def check_connection(settings: Settings, timeout_s: float = 10.0) -> None:
    """Connect to a bootstrap server once, so that bad credentials fail early and clearly."""
    import asyncio

    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError

    kw = client_kwargs(settings)
    kw.pop("bootstrap_servers")
    sec = settings.kafka_security
    problems = []
    for server in settings.bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **kw),
                timeout_s,
            )
        except KafkaError as exc:
            text = str(exc)
            if "Authentication" in text or "SASL" in text or "Sasl" in type(exc).__name__:
                raise KafkaUnavailable(
                    f"Kafka at {server} rejected the credentials of user "
                    f"{sec.sasl_username!r} ({sec.sasl_mechanism}): {text}. Check "
                    "NEWSMON_KAFKA_SECURITY__SASL_USERNAME / __SASL_PASSWORD / __SASL_MECHANISM."
                ) from None
            problems.append(f"{server}: {text}")
            continue
        except (OSError, TimeoutError, ValueError) as exc:
            problems.append(f"{server}: {type(exc).__name__}: {exc}")
            continue
        conn.close()
        return
    raise KafkaUnavailable(
        f"cannot reach Kafka at {settings.bootstrap} ({'; '.join(problems)}). Is the broker "
        "running (`newsmon broker start`), or is NEWSMON_KAFKA_BOOTSTRAP right? For a TLS or "
        "SASL listener set NEWSMON_KAFKA_SECURITY__PROTOCOL."
    )


async def read_topic_values(
    settings: Settings, spec: TopicSpec, timeout: float = 60.0
) -> list[bytes]:
    """Every value on a topic from the oldest offset to the current end (no group, no commit)."""
    from newsmon.core import topics

    name = topics.topic_name(spec, settings.topic_prefix)
    records = await read_topic_records(settings, name, timeout)
    return [value for _key, value in records if value is not None]


async def read_topic_records(
    settings: Settings, name: str, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) on the topic `name` from the oldest offset to the current end, in
    partition order (no group, no commit); empty when the topic does not exist."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async with admin_client(settings) as admin:
        described = await admin.describe_topics([name])
    parts = [p["partition"] for d in described if d.get("error_code") == 0 for p in d["partitions"]]
    if not parts:
        return []
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **client_kwargs(settings))
    await consumer.start()
    records: list[tuple[bytes | None, bytes | None]] = []
    try:
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = asyncio.get_running_loop().time() + timeout
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"reading {name} took more than {timeout:g}s")
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for batch_records in batch.values():
                records.extend((r.key, r.value) for r in batch_records)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return records
