"""Creates the contract topics with the settings of `core.topics` (idempotent)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.kafka import admin_client


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    created: bool
    problem: str | None = None


def new_topic(spec: topics.TopicSpec, settings: Settings, **config: str) -> NewTopic:
    """The admin request that creates `spec`'s topic; `config` overrides its topic configs."""
    return NewTopic(
        name=topics.topic_name(spec, settings.topic_prefix),
        num_partitions=spec.partitions,
        replication_factor=settings.replication_factor,
        topic_configs={**spec.config(), **config},
    )


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[TopicState]:
    """Create missing topics; report existing ones whose partition count differs."""
    async with admin_client(settings, request_timeout_ms=int(timeout_s * 1000)) as admin:
        existing = set(await admin.list_topics())
        wanted = {topics.topic_name(s, settings.topic_prefix): s for s in topics.TOPICS.values()}
        missing = [
            new_topic(spec, settings) for name, spec in wanted.items() if name not in existing
        ]
        if missing:
            # A concurrent `up` may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        described = await admin.describe_topics(list(wanted))
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        created = {t.name for t in missing}
        out = []
        for name, spec in wanted.items():
            n = counts.get(name, 0)
            problem = None
            if n != spec.partitions:
                problem = (
                    f"has {n} partitions, newsmon expects {spec.partitions}: Faust tables need "
                    "matching partition counts; recreate the topic or use another topic_prefix"
                )
            out.append(TopicState(name, n, name in created, problem))
        return out


def ensure_topics_sync(settings: Settings) -> list[TopicState]:
    return asyncio.run(ensure_topics(settings))
