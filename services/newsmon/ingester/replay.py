"""Replay: publish articles from files in published-date order, paced like the news or as fast
as Kafka takes them.

Idempotence: ids are deterministic, so a second replay of the same files can only produce
records with the same ids, which the extractor deduplicates (the guarantee). On top of that the
replay keeps a local index of the ids it has published to a cluster's raw topic
(`<state>/ingester/published/<cluster+topic digest>.ids`) and skips them ("duplicates skipped"),
so a repeated replay does not even re-send them; `--republish` turns the skip off.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import functools
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from newsmon.core import topics
from newsmon.core.config import Settings
from newsmon.core.ids import digest
from newsmon.core.intake.formats import read_inputs, resolve_inputs
from newsmon.core.intake.records import Accepted, Candidate, Rejection
from newsmon.core.intake.validation import Limits, validate
from newsmon.core.logs import get_logger
from newsmon.core.models import Article, utcnow
from newsmon.ingester import metrics
from newsmon.ingester.publisher import KafkaPublisher, PublishError

log = get_logger("newsmon.ingester.replay")

#: At most this many records wait for Kafka's ack at once (bounds memory, keeps batches full).
MAX_IN_FLIGHT = 4000


@dataclass(frozen=True)
class Pace:
    """How fast to publish: as fast as possible, N seconds of news time per wall second, or R/s."""

    mode: Literal["fast", "speed", "rate"] = "fast"
    value: float = 0.0

    @classmethod
    def fast(cls) -> Pace:
        return cls("fast")

    @classmethod
    def speed(cls, n: float) -> Pace:
        if n <= 0:
            raise ValueError("--speed must be positive (seconds of news time per wall second)")
        return cls("speed", n)

    @classmethod
    def rate(cls, r: float) -> Pace:
        if r <= 0:
            raise ValueError("--rate must be positive (articles per second)")
        return cls("rate", r)

    def describe(self) -> str:
        if self.mode == "speed":
            return f"{self.value:g}x news time"
        if self.mode == "rate":
            return f"{self.value:g} articles/s"
        return "as fast as possible"


def schedule(times: Sequence[dt.datetime], pace: Pace) -> list[float]:
    """Wall-clock offsets (seconds from the start) at which each article is due.

    `times` must be sorted. With `speed`, gaps in news time are divided by the speed; with
    `rate`, articles are evenly spaced; as fast as possible, everything is due at once.
    """
    if not times:
        return []
    if pace.mode == "speed":
        first = times[0]
        return [(t - first).total_seconds() / pace.value for t in times]
    if pace.mode == "rate":
        return [i / pace.value for i in range(len(times))]
    return [0.0] * len(times)


def parse_bound(text: str, *, end: bool = False) -> dt.datetime:
    """A --since/--until value: a date (an --until date includes that whole day) or date-time."""
    from newsmon.core.intake.text import parse_timestamp

    value = parse_timestamp(text)
    if end and len(text.strip()) == 10:  # YYYY-MM-DD: up to the end of that day
        value += dt.timedelta(days=1)
    return value


@dataclass(frozen=True)
class ReplayOptions:
    """What `newsmon replay` was asked to do."""

    paths: Sequence[str]
    pace: Pace = Pace()
    since: dt.datetime | None = None
    until: dt.datetime | None = None  # exclusive
    dry_run: bool = False
    keep_going: bool = False
    republish: bool = False
    source: str | None = None
    glob: str | None = None


@dataclass
class ReplayPlan:
    """The validated, filtered, ordered and deduplicated work of a replay."""

    articles: list[Accepted]
    rejections: list[Rejection]
    duplicates: int = 0
    filtered: int = 0


def plan(
    candidates: Iterable[Candidate],
    limits: Limits,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    already_published: set[str] | frozenset[str] = frozenset(),
    now: dt.datetime | None = None,
) -> ReplayPlan:
    """Validate, keep the --since/--until window, sort by (published_at, id), drop known ids."""
    now = now or utcnow()
    accepted: list[Accepted] = []
    rejections: list[Rejection] = []
    filtered = 0
    for cand in candidates:
        verdict = validate(cand, limits, now)
        if isinstance(verdict, Rejection):
            rejections.append(verdict)
            continue
        t = verdict.article.published_at
        if (since and t < since) or (until and t >= until):
            filtered += 1
            continue
        accepted.append(verdict)
    accepted.sort(key=lambda a: (a.article.published_at, a.article.id))
    seen: set[str] = set()
    out: list[Accepted] = []
    for acc in accepted:
        aid = acc.article.id
        if aid in seen or aid in already_published:
            continue
        seen.add(aid)
        out.append(acc)
    return ReplayPlan(out, rejections, len(accepted) - len(out), filtered)


class PublishedIndex:
    """Ids this machine has published to one cluster's raw topic (append-only text file)."""

    def __init__(self, settings: Settings) -> None:
        raw = topics.topic_name(topics.ARTICLES_RAW, settings.topic_prefix)
        key = digest(settings.bootstrap, raw)
        self.path = settings.service_dir("ingester") / "published" / f"{key}.ids"

    def load(self) -> set[str]:
        try:
            return set(self.path.read_text(encoding="utf-8").split())
        except FileNotFoundError:
            return set()

    def add(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write per batch in append mode: concurrent replays interleave whole lines.
        with self.path.open("a", encoding="utf-8") as f:
            f.write("".join(f"{i}\n" for i in ids))


@dataclass
class ReplaySummary:
    """What a replay did; `exit_code` follows the CLI contract."""

    planned: int = 0
    published: int = 0
    failed: int = 0
    duplicates: int = 0
    filtered: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    dry_run: bool = False
    elapsed_s: float = 0.0  # publishing (connect to last ack)
    read_s: float = 0.0  # reading, validating, sorting
    topic: str = ""
    error: str | None = None

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return dict(collections.Counter(r.reason.value for r in self.rejections).most_common())

    def exit_code(self, keep_going: bool = False) -> int:
        if self.error or self.failed:
            return 1
        if self.rejections and not keep_going:
            return 1
        return 0

    def render(self, max_listed: int = 20) -> str:
        """The summary for people (article text passes through textsafe.clean)."""
        from newsmon.core.textsafe import clean

        rate = self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0
        verb = "would publish" if self.dry_run else "published"
        count = self.planned if self.dry_run else self.published
        lines = [f"replay: {verb} {count:,} article(s)"]
        if not self.dry_run:
            lines[0] += f" in {self.elapsed_s:.1f}s ({rate:,.0f}/s) to {self.topic}"
        lines[0] += f"; inputs read and validated in {self.read_s:.1f}s"
        lines.append(
            f"  duplicates skipped: {self.duplicates:,}"
            + (" (ids already published; --republish sends them again)" if self.duplicates else "")
        )
        if self.filtered:
            lines.append(f"  outside --since/--until: {self.filtered:,}")
        if self.failed:
            lines.append(f"  FAILED (not acknowledged by Kafka): {self.failed:,}")
        dest = "" if self.dry_run else " (sent to news.articles.dlq)"
        lines.append(f"  rejected: {len(self.rejections):,}{dest}")
        for reason, n in self.rejected_by_reason.items():
            lines.append(f"    {reason}: {n:,}")
        for rej in self.rejections[:max_listed]:
            lines.append("    " + clean(rej.describe(), single_line=True, limit=400))
        if len(self.rejections) > max_listed:
            lines.append(f"    ... and {len(self.rejections) - max_listed:,} more")
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


class Progress:
    """A progress bar on a terminal, a plain line every few seconds otherwise."""

    def __init__(
        self,
        total: int,
        stream: IO[str] | None = None,
        *,
        tty: bool | None = None,
        every_s: float | None = None,
    ) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s if every_s is not None else (0.2 if self.tty else 5.0)
        self.started = time.monotonic()
        self._last = self.started  # the first periodic line comes one interval after the start
        self._drawn = False

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        pct = 100.0 * done / self.total if self.total else 100.0
        if self.tty and self.total:
            width = 30
            filled = int(width * done / self.total) if self.total else width
            eta = (self.total - done) / rate if rate > 0 else 0.0
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(
                f"\rreplay [{bar}] {done:,}/{self.total:,} {pct:3.0f}% {rate:,.0f}/s "
                f"eta {eta:,.0f}s "
            )
            self._drawn = True
            if final:
                self.stream.write("\n")
        elif self.total and (final or done):
            self.stream.write(
                f"replay: {done:,}/{self.total:,} published ({pct:.0f}%), {rate:,.0f} articles/s\n"
            )
        self.stream.flush()


async def replay(
    settings: Settings,
    options: ReplayOptions,
    *,
    stdin: IO[bytes] | None = None,
    progress_stream: IO[str] | None = None,
    progress_tty: bool | None = None,
) -> ReplaySummary:
    """Run one replay. Raises InputError for unreadable PATHs; Kafka problems end up in
    `summary.error`."""
    read_started = time.monotonic()
    files = resolve_inputs(options.paths, options.glob)
    index = PublishedIndex(settings)
    known = set() if options.republish else index.load()
    work = plan(
        read_inputs(files, source=options.source, stdin=stdin),
        Limits.from_settings(settings),
        since=options.since,
        until=options.until,
        already_published=known,
    )
    summary = ReplaySummary(
        planned=len(work.articles),
        duplicates=work.duplicates,
        filtered=work.filtered,
        rejections=work.rejections,
        dry_run=options.dry_run,
        read_s=time.monotonic() - read_started,
    )
    if work.duplicates:
        metrics.DUPLICATES_SKIPPED.labels(channel="replay").inc(work.duplicates)
    if options.dry_run:
        return summary

    publisher = KafkaPublisher(settings)
    summary.topic = publisher.raw_topic
    started = time.monotonic()
    try:
        await publisher.start()
    except PublishError as exc:
        summary.error = str(exc)
        return summary
    try:
        for rej in work.rejections:
            await publisher.reject(rej, "replay")
        await _publish_paced(
            publisher,
            work.articles,
            options.pace,
            index,
            summary,
            Progress(len(work.articles), progress_stream, tty=progress_tty),
        )
    except PublishError as exc:
        summary.error = str(exc)
    finally:
        await publisher.stop()
        summary.elapsed_s = time.monotonic() - started
    log.info(
        "replay_done",
        published=summary.published,
        duplicates=summary.duplicates,
        rejected=len(summary.rejections),
        failed=summary.failed,
        elapsed_s=round(summary.elapsed_s, 3),
    )
    return summary


async def _publish_paced(
    publisher: KafkaPublisher,
    articles: Sequence[Accepted],
    pace: Pace,
    index: PublishedIndex,
    summary: ReplaySummary,
    progress: Progress,
) -> None:
    loop = asyncio.get_running_loop()
    offsets = schedule([a.article.published_at for a in articles], pace)
    acked: list[str] = []
    in_flight: set[asyncio.Future[Any]] = set()

    def on_done(article: Article, fut: asyncio.Future[Any]) -> None:
        in_flight.discard(fut)
        if fut.cancelled() or fut.exception() is not None:
            summary.failed += 1
            if summary.error is None:
                summary.error = f"Kafka did not acknowledge article {article.id}: " + (
                    "cancelled" if fut.cancelled() else str(fut.exception())
                )
            return
        summary.published += 1
        acked.append(article.id)

    t0 = loop.time()
    for acc, offset in zip(articles, offsets, strict=True):
        # Sleep in short steps so that the progress display stays alive through long gaps.
        while (delay := t0 + offset - loop.time()) > 0:
            await asyncio.sleep(min(delay, 1.0))
            progress.update(summary.published)
        fut = await publisher.enqueue(acc.article, "replay")
        in_flight.add(fut)
        fut.add_done_callback(functools.partial(on_done, acc.article))
        if len(in_flight) >= MAX_IN_FLIGHT:
            await asyncio.wait(set(in_flight), return_when=asyncio.FIRST_COMPLETED)
        if len(acked) >= 1000:
            index.add(acked)
            acked.clear()
        progress.update(summary.published)
    if in_flight:
        await asyncio.wait(set(in_flight))
    # Callbacks of the last futures run in the next loop iteration.
    await asyncio.sleep(0)
    index.add(acked)
    progress.update(summary.published, final=True)
