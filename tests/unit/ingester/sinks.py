"""A stand-in for the Kafka publisher in unit tests: it keeps what it is given in lists."""

from __future__ import annotations

from newsmon.core.intake.records import Rejection
from newsmon.core.models import Article


class ListSink:
    """An ArticleSink that records what it is given (the Kafka publisher's stand-in)."""

    def __init__(self) -> None:
        self.published: list[tuple[Article, str]] = []
        self.rejected: list[tuple[Rejection, str]] = []

    async def publish(self, article: Article, channel: str) -> None:
        self.published.append((article, channel))

    async def reject(self, rejection: Rejection, channel: str) -> None:
        self.rejected.append((rejection, channel))
