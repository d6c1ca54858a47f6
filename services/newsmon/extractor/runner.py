"""Runs the extractor off the event loop: a process pool sized by `extractor_processes`
(0 = one thread in this process), with a time limit per article, so that heartbeats and the
other partitions keep flowing while spaCy works."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from newsmon.core.config import Settings
from newsmon.core.logs import get_logger
from newsmon.core.models import Article
from newsmon.extractor.pipeline import Extraction, Extractor

log = get_logger(__name__)

# One extractor per worker process, loaded once by the pool's initializer.
_WORKER_EXTRACTOR: Extractor | None = None


def _init_worker(settings: Settings) -> None:
    global _WORKER_EXTRACTOR
    _WORKER_EXTRACTOR = Extractor.from_settings(settings)


def _extract_in_worker(articles: list[Article]) -> list[Extraction]:
    assert _WORKER_EXTRACTOR is not None, "worker initializer did not run"
    return _WORKER_EXTRACTOR.extract_many(articles)


class ExtractionRunner:
    """Submits batches to the pool and enforces the per-article time limit."""

    def __init__(self, settings: Settings, extractor: Extractor | None = None) -> None:
        self.settings = settings
        self.processes = settings.extractor_processes
        self._extractor = extractor
        self._executor: Executor | None = None

    def _start(self) -> Executor:
        if self._executor is None:
            if self.processes > 0:
                # spawn, not fork: the parent runs asyncio, Kafka clients and threads
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self.settings,),
                )
            else:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="extractor")
        return self._executor

    def _in_thread(self, articles: list[Article]) -> list[Extraction]:
        if self._extractor is None:
            self._extractor = Extractor.from_settings(self.settings)
        return self._extractor.extract_many(articles)

    async def warm_up(self) -> None:
        """Load spaCy before the first article arrives (in every worker process)."""
        probe = Article.model_validate(
            {
                "id": "warm-up",
                "source": "warm-up",
                "title": "warm-up",
                "published_at": "2024-01-01T00:00:00Z",
                "body": "The UN said on Monday that 10 aid trucks entered Gaza.",
                "ingested_at": "2024-01-01T00:00:00Z",
            }
        )
        # Loading the model is not an article: no per-article time limit applies here.
        await asyncio.gather(
            *(self.extract_many([probe], limited=False) for _ in range(max(1, self.processes)))
        )

    async def extract_many(
        self, articles: list[Article], *, limited: bool = True
    ) -> list[Extraction]:
        """Extract a batch; raises TimeoutError when it takes longer than the per-article limit
        times the batch size (the stuck worker is replaced)."""
        if limited and self._executor is None:
            # A new pool (first use, or after a stuck worker was replaced) loads spaCy first,
            # outside the article's time limit: loading the model is not the article's fault.
            await self.warm_up()
        executor = self._start()
        loop = asyncio.get_running_loop()
        fn: Any = _extract_in_worker if self.processes > 0 else self._in_thread
        future = loop.run_in_executor(executor, fn, articles)
        if not limited:
            return await future  # type: ignore[no-any-return]
        try:
            return await asyncio.wait_for(
                future, timeout=self.settings.extractor_timeout_s * len(articles)
            )
        except TimeoutError:
            log.warning("extraction_timeout", articles=len(articles))
            self._replace()
            raise

    def _replace(self) -> None:
        """Drop a pool whose worker is stuck on an article; the next call starts a new one."""
        executor, self._executor = self._executor, None
        if isinstance(executor, ProcessPoolExecutor):
            # the stuck process would never return: terminate it (private but stable API)
            for proc in list(getattr(executor, "_processes", {}).values()):
                proc.terminate()
            executor.shutdown(wait=False, cancel_futures=True)
        elif executor is not None:
            # a thread cannot be killed; it finishes in the background and is then dropped
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
