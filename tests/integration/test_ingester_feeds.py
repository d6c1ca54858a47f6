"""Feed polling against a feed served by a local HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from newsmon.core import topics
from newsmon.core.config import Feed, Settings
from newsmon.core.intake.records import Rejection
from newsmon.core.kafka import client_kwargs
from newsmon.ingester.feeds import FeedPoller, FeedStateStore
from newsmon.ingester.publisher import ArticleSink, KafkaPublisher

ITEM = """<item><title>{title}</title><link>https://example.com/{n}</link><guid>g{n}</guid>
<pubDate>Mon, 13 Nov 2023 0{n}:00:00 GMT</pubDate>
<description>&lt;p&gt;Body of item {n}.&lt;/p&gt;</description></item>"""


def rss(n_items: int) -> bytes:
    items = "".join(ITEM.format(n=n, title=f"Item {n}") for n in range(1, n_items + 1))
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    return f"{head}{items}</channel></rss>".encode()


@dataclass
class FeedServer:
    """What the local feed server serves and what it saw."""

    body: bytes = b""
    etag: str | None = '"v1"'
    last_modified: str | None = None
    honour_validators: bool = True
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    state = FeedServer(body=rss(2))

    async def handler(request: web.Request) -> web.Response:
        state.requests.append({"t": time.monotonic(), **dict(request.headers)})
        if len(state.requests) <= state.fail_first:
            return web.Response(status=500, text="boom")
        if state.honour_validators and (
            (state.etag and request.headers.get("If-None-Match") == state.etag)
            or (
                state.last_modified
                and request.headers.get("If-Modified-Since") == state.last_modified
            )
        ):
            return web.Response(status=304)
        headers = {}
        if state.etag:
            headers["ETag"] = state.etag
        if state.last_modified:
            headers["Last-Modified"] = state.last_modified
        return web.Response(body=state.body, headers=headers, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed.xml", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/feed.xml"
    yield state
    await runner.cleanup()


async def raw_count(settings: Settings) -> int:
    name = topics.topic_name(topics.ARTICLES_RAW, settings.topic_prefix)
    consumer = AIOKafkaConsumer(**client_kwargs(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in range(topics.ARTICLES_RAW.partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


@pytest.mark.kafka
async def test_unchanged_etag_publishes_nothing_new(
    contract_topics: Settings, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Poll, poll again (304), restart against a server ignoring ETag: still 2 records."""
    feed = Feed(url=feed_server.url, name="Local", interval_s=60)
    store = FeedStateStore(tmp_path / "feeds")
    publisher = KafkaPublisher(contract_topics)
    await publisher.start()
    try:
        async with aiohttp.ClientSession() as session:
            poller = FeedPoller(feed, publisher, store, session)
            first = await poller.poll_once()
            assert (first.outcome, first.published) == ("new", 2)
            second = await poller.poll_once()
            assert second.outcome == "not_modified"
            assert feed_server.requests[1]["If-None-Match"] == '"v1"'
            assert await raw_count(contract_topics) == 2

            # A restarted ingester, and a server that ignores validators: seen guids protect.
            feed_server.honour_validators = False
            restarted = FeedPoller(feed, publisher, FeedStateStore(tmp_path / "feeds"), session)
            third = await restarted.poll_once()
            assert (third.outcome, third.published) == ("unchanged", 0)
            assert await raw_count(contract_topics) == 2

            feed_server.body, feed_server.etag = rss(3), '"v2"'
            fourth = await restarted.poll_once()
            assert (fourth.outcome, fourth.published) == ("new", 1)
    finally:
        await publisher.stop()
    assert await raw_count(contract_topics) == 3


class ListSink:
    def __init__(self) -> None:
        self.published: list[Any] = []
        self.rejected: list[Rejection] = []

    async def publish(self, article: Any, channel: str) -> None:
        self.published.append(article)

    async def reject(self, rejection: Rejection, channel: str) -> None:
        self.rejected.append(rejection)


async def test_last_modified_is_sent_back(feed_server: FeedServer, tmp_path: Path) -> None:
    """Without an ETag, the Last-Modified answer comes back as If-Modified-Since (then 304)."""
    feed_server.etag, feed_server.last_modified = None, "Mon, 13 Nov 2023 10:00:00 GMT"
    sink: ArticleSink = ListSink()
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(Feed(url=feed_server.url), sink, FeedStateStore(tmp_path), session)
        assert (await poller.poll_once()).outcome == "new"
        assert (await poller.poll_once()).outcome == "not_modified"
    assert feed_server.requests[1]["If-Modified-Since"] == "Mon, 13 Nov 2023 10:00:00 GMT"


async def test_errors_back_off_exponentially_then_recover(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """Three 500s stretch the gaps (x2 each), then a success publishes and resets the delay."""
    import asyncio

    feed_server.fail_first = 3
    sink = ListSink()
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(
            Feed(url=feed_server.url, interval_s=0.1),
            sink,
            FeedStateStore(tmp_path),
            session,
            jitter=lambda: 0.0,
        )
        task = asyncio.create_task(poller.run(stop))
        deadline = time.monotonic() + 10
        while len(feed_server.requests) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
    times = [r["t"] for r in feed_server.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # after 1, 2, 3 failures: 0.2, 0.4, 0.8 s; after the success: back to 0.1 s
    assert gaps[0] == pytest.approx(0.2, abs=0.08)
    assert gaps[1] == pytest.approx(0.4, abs=0.1)
    assert gaps[2] == pytest.approx(0.8, abs=0.15)
    assert gaps[3] == pytest.approx(0.1, abs=0.08)
    assert len(sink.published) == 2 and poller.failures == 0


async def test_bad_entries_are_rejected_once(feed_server: FeedServer, tmp_path: Path) -> None:
    """An entry without a date is dead-lettered with its XML and not again on the next poll."""
    feed_server.body = (
        b'<rss version="2.0"><channel><item><title>x</title><guid>nodate</guid>'
        b"<description>Body.</description></item></channel></rss>"
    )
    feed_server.honour_validators = False
    sink = ListSink()
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(Feed(url=feed_server.url), sink, FeedStateStore(tmp_path), session)
        await poller.poll_once()
        await poller.poll_once()
    assert [r.reason.value for r in sink.rejected] == ["missing_date"]
    assert sink.rejected[0].payload.startswith(b"<item>")
    assert sink.rejected[0].origin.file == feed_server.url


async def test_a_broken_feed_is_a_parse_error_not_a_crash(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """HTML instead of a feed, or a dead port: an outcome and a backoff, never an exception."""
    feed_server.body = b"<html><body>maintenance</body></html>"
    sink = ListSink()
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(Feed(url=feed_server.url), sink, FeedStateStore(tmp_path), session)
        assert (await poller.poll_once()).outcome == "parse_error"
        dead = FeedPoller(
            Feed(url="http://127.0.0.1:9/feed"), sink, FeedStateStore(tmp_path), session
        )
        assert (await dead.poll_once()).outcome == "network_error"
        assert dead.failures == 1
