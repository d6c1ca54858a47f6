"""RSS 2.0 / RSS 1.0 / Atom feeds: parsing (pure) and polling (one task per configured feed).

A poll sends `If-None-Match` / `If-Modified-Since` from the last answer, so an unchanged feed
costs a 304. Entries already seen (by guid / Atom id / link) are remembered in a small state
file per feed under `<state>/ingester/feeds/`, so a restart does not publish them again (ids are
deterministic anyway, so a lost state file only costs duplicates that downstream drops). A
failing feed is polled less often: interval x 2^failures, capped, with a little jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from newsmon.core.config import Feed
from newsmon.core.ids import digest
from newsmon.core.intake.records import Accepted, Candidate, Origin, Rejection
from newsmon.core.intake.text import html_to_text
from newsmon.core.intake.validation import Limits, validate
from newsmon.core.logs import get_logger
from newsmon.core.textsafe import clean
from newsmon.ingester import metrics
from newsmon.ingester.publisher import ArticleSink, PublishError

log = get_logger("newsmon.ingester.feeds")

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_BACKOFF_S = 3600.0
SEEN_KEEP = 10_000
USER_AGENT = "newsmon-ingester/0.1 (feed poller)"

_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"


class FeedParseError(ValueError):
    """The document is not an RSS or Atom feed we can read."""


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, as text (the body is already plain text)."""

    key: str  # what "seen" is keyed on: guid, Atom id, else link, else a hash of the entry
    title: str | None
    link: str | None
    published: str | None
    body: str
    raw: bytes


def _text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    return "".join(el.itertext()).strip() or None


def _atom_text(el: ET.Element | None) -> str | None:
    """Text of an Atom text construct (type text, html or xhtml)."""
    if el is None:
        return None
    kind = el.get("type", "text")
    if kind == "xhtml":
        inner = "".join(ET.tostring(child, encoding="unicode") for child in el)
        return html_to_text(inner) or None
    value = "".join(el.itertext())
    return (html_to_text(value) if kind == "html" or "html" in kind else value.strip()) or None


def parse_feed(data: bytes) -> tuple[str | None, list[FeedEntry]]:
    """(feed title, entries) of an RSS 2.0, RSS 1.0 (RDF) or Atom document."""
    if b"<!ENTITY" in data[:65536]:
        # Entity declarations are the tool of expansion attacks; real feeds do not use them.
        raise FeedParseError("the feed declares XML entities, which newsmon refuses to expand")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FeedParseError(f"not well-formed XML: {exc}") from None
    if root.tag == f"{_ATOM}feed":
        return _text(root.find(f"{_ATOM}title")), [
            _atom_entry(e) for e in root.iter(f"{_ATOM}entry")
        ]
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise FeedParseError("an <rss> document without <channel>")
        return _text(channel.find("title")), [_rss_item(i, "") for i in channel.iter("item")]
    if root.tag == f"{_RDF}RDF":
        channel = root.find(f"{_RSS1}channel")
        title = _text(channel.find(f"{_RSS1}title")) if channel is not None else None
        return title, [_rss_item(i, _RSS1) for i in root.iter(f"{_RSS1}item")]
    raise FeedParseError(f"not an RSS or Atom feed (root element {root.tag!r})")


def _entry_key(*candidates: str | None, raw: bytes) -> str:
    for c in candidates:
        if c:
            return c.strip()
    return "sha:" + digest(raw.decode("utf-8", "replace"))


def _rss_item(item: ET.Element, ns: str) -> FeedEntry:
    raw = ET.tostring(item, encoding="utf-8")
    link = _text(item.find(f"{ns}link"))
    guid = _text(item.find("guid")) or item.get(f"{_RDF}about")
    html = _text(item.find(f"{_CONTENT}encoded")) or _text(item.find(f"{ns}description")) or ""
    published = (
        _text(item.find("pubDate")) or _text(item.find(f"{_DC}date")) or _text(item.find("date"))
    )
    title = _text(item.find(f"{ns}title"))
    return FeedEntry(
        key=_entry_key(guid, link, raw=raw),
        title=html_to_text(title) if title else None,
        link=link,
        published=published,
        body=html_to_text(html),
        raw=raw,
    )


def _atom_entry(entry: ET.Element) -> FeedEntry:
    raw = ET.tostring(entry, encoding="utf-8")
    link = None
    for el in entry.findall(f"{_ATOM}link"):
        if el.get("rel", "alternate") == "alternate" and el.get("href"):
            link = el.get("href")
            break
    body = _atom_text(entry.find(f"{_ATOM}content")) or _atom_text(entry.find(f"{_ATOM}summary"))
    published = _text(entry.find(f"{_ATOM}published")) or _text(entry.find(f"{_ATOM}updated"))
    return FeedEntry(
        key=_entry_key(_text(entry.find(f"{_ATOM}id")), link, raw=raw),
        title=_atom_text(entry.find(f"{_ATOM}title")),
        link=link,
        published=published,
        body=body or "",
        raw=raw,
    )


def feed_label(feed: Feed) -> str:
    """The feed's name in metrics and logs: its configured name, else host and path."""
    if feed.name:
        return feed.name
    parts = urlsplit(feed.url)
    return (parts.netloc + parts.path).rstrip("/") or feed.url


def entry_candidate(entry: FeedEntry, feed: Feed) -> Candidate:
    """A feed entry as an article candidate (source = the feed's name)."""
    fields: dict[str, Any] = {
        "title": entry.title,
        "url": entry.link,
        "published_at": entry.published,
        "body": entry.body,
        "source": feed_label(feed),
    }
    if not entry.link:
        # No URL to derive the id from: the entry's own id within this feed is stable.
        fields["id"] = digest("feed", feed.url, entry.key)
    return Candidate(
        entry.raw, Origin(feed.url, None), fields=fields, default_source=feed_label(feed)
    )


def backoff_delay(
    interval_s: float, failures: int, max_s: float = MAX_BACKOFF_S, jitter: float = 0.0
) -> float:
    """Seconds until the next poll: the interval, doubled per consecutive failure, capped at
    max(max_s, interval_s), stretched by up to 10% jitter (jitter in [0, 1))."""
    base = interval_s * float(2 ** min(failures, 30))
    return float(min(base, max(max_s, interval_s)) * (1.0 + 0.1 * jitter))


@dataclass
class FeedState:
    """What a feed's poller remembers across restarts."""

    etag: str | None = None
    last_modified: str | None = None
    seen: list[str] = field(default_factory=list)


class FeedStateStore:
    """One small JSON file per feed under the ingester's state folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, feed: Feed) -> Path:
        return self.folder / f"{digest(feed.url)}.json"

    def load(self, feed: Feed) -> FeedState:
        try:
            data = json.loads(self._path(feed).read_text(encoding="utf-8"))
            return FeedState(
                data.get("etag"), data.get("last_modified"), list(data.get("seen", []))
            )
        except (OSError, ValueError, AttributeError):
            return FeedState()  # missing or damaged: start afresh (ids dedup downstream)

    def save(self, feed: Feed, state: FeedState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(feed)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "url": feed.url,
                    "etag": state.etag,
                    "last_modified": state.last_modified,
                    "seen": state.seen[-SEEN_KEEP:],
                }
            ),
            encoding="utf-8",
        )
        os.replace(tmp, path)  # atomic: a crash never leaves half a file


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll (outcome is a metric label)."""

    outcome: (
        str  # new, unchanged, not_modified, http_error, network_error, parse_error, publish_error
    )
    published: int = 0
    rejected: int = 0
    status: int | None = None
    detail: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("new", "unchanged", "not_modified")


class FeedPoller:
    """Polls one feed on its interval and publishes its new entries."""

    def __init__(
        self,
        feed: Feed,
        sink: ArticleSink,
        store: FeedStateStore,
        session: aiohttp.ClientSession,
        *,
        limits: Limits = Limits(),
        max_backoff_s: float = MAX_BACKOFF_S,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.feed = feed
        self.label = feed_label(feed)
        self.sink = sink
        self.store = store
        self.session = session
        self.limits = limits
        self.max_backoff_s = max_backoff_s
        self.jitter = jitter
        self.state = store.load(feed)
        self.failures = 0
        metrics.SOURCE_LABEL.register(self.label)

    async def poll_once(self) -> PollResult:
        """Fetch (conditionally), publish new entries, remember them; never raises for the feed's
        faults."""
        result = await self._poll()
        metrics.FEED_POLLS.labels(feed=self.label, outcome=result.outcome).inc()
        if result.ok:
            self.failures = 0
            metrics.FEED_LAST_SUCCESS.labels(feed=self.label).set(time.time())
        else:
            self.failures += 1
        level = log.info if result.ok else log.warning
        level(
            "feed_polled",
            feed=self.label,
            outcome=result.outcome,
            status=result.status,
            published=result.published,
            rejected=result.rejected,
            detail=clean(result.detail, single_line=True, limit=300) if result.detail else None,
        )
        return result

    def next_delay(self, result: PollResult | None = None) -> float:
        delay = backoff_delay(
            self.feed.interval_s, self.failures, self.max_backoff_s, self.jitter()
        )
        if result is not None and result.retry_after_s:
            delay = max(delay, min(result.retry_after_s, self.max_backoff_s))
        return delay

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            try:
                result = await self.poll_once()
            except Exception as exc:  # a poller must outlive any bug in one poll
                log.exception("feed_poll_crashed", feed=self.label, error=str(exc))
                self.failures += 1
                result = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.next_delay(result))

    async def _poll(self) -> PollResult:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
        }
        if self.state.etag:
            headers["If-None-Match"] = self.state.etag
        if self.state.last_modified:
            headers["If-Modified-Since"] = self.state.last_modified
        try:
            async with self.session.get(
                self.feed.url, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as resp:
                if resp.status == 304:
                    return PollResult("not_modified", status=304)
                if resp.status != 200:
                    return PollResult(
                        "http_error",
                        status=resp.status,
                        detail=f"HTTP {resp.status} {resp.reason or ''} from {self.feed.url}",
                        retry_after_s=_retry_after(resp.headers.get("Retry-After")),
                    )
                data = await _read_limited(resp, MAX_FEED_BYTES)
                etag = resp.headers.get("ETag")
                last_modified = resp.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return PollResult("network_error", detail=f"{type(exc).__name__}: {exc}")
        try:
            _, entries = parse_feed(data)
        except FeedParseError as exc:
            return PollResult("parse_error", status=200, detail=str(exc))
        seen = set(self.state.seen)
        fresh = [e for e in entries if e.key not in seen]
        published = rejected = 0
        try:
            verdicts = [(e, validate(entry_candidate(e, self.feed), self.limits)) for e in fresh]
            # Rejections first, then articles in published order.
            for entry, verdict in verdicts:
                if isinstance(verdict, Rejection):
                    await self.sink.reject(verdict, "feed")
                    self.state.seen.append(entry.key)
                    rejected += 1
            accepted = sorted(
                ((e, v) for e, v in verdicts if isinstance(v, Accepted)),
                key=lambda ev: ev[1].article.published_at,
            )
            for entry, verdict in accepted:
                assert isinstance(verdict, Accepted)
                await self.sink.publish(verdict.article, "feed")
                self.state.seen.append(entry.key)
                published += 1
        except PublishError as exc:
            # Keep the old validators: the next poll fetches in full and retries the unseen rest.
            self.store.save(self.feed, self.state)
            return PollResult("publish_error", published, rejected, status=200, detail=str(exc))
        if fresh:
            metrics.FEED_ENTRIES.labels(feed=self.label).inc(len(fresh))
        self.state.etag = etag
        self.state.last_modified = last_modified
        self.state.seen = self.state.seen[-max(SEEN_KEEP, 2 * len(entries)) :]
        self.store.save(self.feed, self.state)
        return PollResult("new" if fresh else "unchanged", published, rejected, status=200)


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise ValueError(f"the feed is larger than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import email.utils

        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
