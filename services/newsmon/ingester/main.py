"""The ingester service (`newsmon run ingester`): HTTP server, feed pollers and the producer.

The HTTP server starts first, so that /health says "starting" while Kafka is not reachable yet;
the producer connects with retries, `newsmon_service_ready` turns 1, then the feed pollers
start. SIGTERM / SIGINT stop the pollers and the server and flush the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from importlib import metadata
from typing import Any

import aiohttp
from aiohttp import web

from newsmon.core.config import Settings
from newsmon.core.intake.validation import Limits
from newsmon.core.logs import configure, get_logger
from newsmon.core.metrics import SERVICE_INFO, SERVICE_READY
from newsmon.ingester.feeds import FeedPoller, FeedStateStore, feed_label
from newsmon.ingester.http import build_app
from newsmon.ingester.publisher import KafkaPublisher

log = get_logger("newsmon.ingester")


def run(settings: Settings) -> None:
    """Run the ingester in the foreground until SIGTERM or SIGINT."""
    configure("ingester", settings.log_level, settings.log_format)
    asyncio.run(serve(settings))


def _version() -> str:
    try:
        return metadata.version("newsmon")
    except metadata.PackageNotFoundError:
        return "unknown"


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """The service's main coroutine; returns when `stop` is set (or on SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)

    SERVICE_INFO.info({"service": "ingester", "version": _version()})
    SERVICE_READY.set(0)
    publisher = KafkaPublisher(settings)
    app = build_app(
        settings,
        publisher,
        ready=lambda: publisher.connected,
        health_detail=lambda: {"feeds_polled": [feed_label(f) for f in settings.feeds]},
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.bind_host, settings.ingester_port)
    await site.start()
    log.info(
        "ingester_listening",
        url=f"http://{settings.bind_host}:{settings.ingester_port}",
        ingest_endpoint="on" if settings.ingest_token else "off",
        feeds=len(settings.feeds),
    )
    tasks: list[asyncio.Task[Any]] = []
    session: aiohttp.ClientSession | None = None
    try:
        if not await publisher.start_with_retry(stop):
            return
        SERVICE_READY.set(1)
        log.info("ingester_ready", bootstrap=settings.bootstrap, topic=publisher.raw_topic)
        if settings.feeds:
            session = aiohttp.ClientSession()
            store = FeedStateStore(settings.service_dir("ingester") / "feeds")
            limits = Limits.from_settings(settings)
            for feed in settings.feeds:
                poller = FeedPoller(feed, publisher, store, session, limits=limits)
                tasks.append(asyncio.create_task(poller.run(stop), name=f"feed:{poller.label}"))
        await stop.wait()
    finally:
        log.info("ingester_stopping")
        SERVICE_READY.set(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if session is not None:
            await session.close()
        await runner.cleanup()
        await publisher.stop()  # flushes whatever is still pending
        log.info("ingester_stopped")
