"""The ingester's HTTP server: `POST /articles` (token-protected), `GET /metrics`, `GET /health`.

`POST /articles` takes one article object or a list of them (JSON). It is all or nothing: when
every article is valid they are published and acknowledged by Kafka before the answer, 202
with their ids; otherwise nothing is published, the answer is 422 (400 for a body that is not
JSON) with the reason of each rejected article, and the rejected ones go to the dead-letter
topic. Without a configured token the endpoint answers 404 and publishes nothing.

Order of checks: rate limit per client address (token bucket, so password guessing is slowed
too), bearer token (constant-time comparison), body size, then content. The client address is
the TCP peer; X-Forwarded-For is not trusted (bind to 127.0.0.1, the default, or put a proxy in
front that limits by itself).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from newsmon.core.config import Settings
from newsmon.core.intake.records import Accepted, Candidate, Origin, Problem, Reason, Rejection
from newsmon.core.intake.validation import Limits, validate
from newsmon.core.logs import get_logger
from newsmon.ingester import metrics
from newsmon.ingester.publisher import ArticleSink, PublishError

log = get_logger("newsmon.ingester.http")

ENDPOINT = "POST /articles"
MAX_TRACKED_CLIENTS = 10_000


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last update)

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds to wait before the next request would be allowed)."""
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            self._evict(now)
            return True, 0.0
        self._buckets[client] = (tokens, now)
        return False, (1.0 - tokens) / self.refill_per_s

    def _evict(self, now: float) -> None:
        # Bound memory under many addresses: forget clients whose bucket has refilled.
        if len(self._buckets) <= MAX_TRACKED_CLIENTS:
            return
        full_after = self.capacity / self.refill_per_s
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the bearer token (constant-time comparison)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


@dataclass(frozen=True)
class RequestBody:
    """A parsed POST body: the candidates, or the problem that made it unreadable."""

    candidates: list[Candidate]
    problem: Problem | None = None


def parse_request_body(body: bytes) -> RequestBody:
    """The articles of a request body: one JSON object or a list of them."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RequestBody(
            [],
            Problem(
                Reason.UNDECODABLE_BYTES,
                f"the body is not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); "
                "send UTF-8 JSON",
            ),
        )
    try:
        value = json.loads(text)
    except RecursionError:
        return RequestBody(
            [], Problem(Reason.MALFORMED_JSON, "the JSON nests too deeply to be articles")
        )
    except json.JSONDecodeError as exc:
        return RequestBody(
            [],
            Problem(
                Reason.MALFORMED_JSON,
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; send one "
                "article object or a list of them",
            ),
        )
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items, start=1):
        raw = json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogatepass")
        origin = Origin(ENDPOINT, i)
        if isinstance(item, dict):
            out.append(Candidate(raw, origin, fields=item))
        else:
            out.append(
                Candidate(
                    raw,
                    origin,
                    problem=Problem(
                        Reason.WRONG_TYPE,
                        "each article must be a JSON object with source, published_at, body, ...",
                    ),
                )
            )
    return RequestBody(out)


def _json(status: int, data: dict[str, Any], **headers: str) -> web.Response:
    metrics.HTTP_REQUESTS.labels(status=str(status)).inc()
    return web.json_response(data, status=status, headers=headers or None)


def build_app(
    settings: Settings,
    sink: ArticleSink,
    *,
    ready: Callable[[], bool],
    health_detail: Callable[[], dict[str, Any]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The aiohttp application (routes and limits from settings)."""
    # aiohttp refuses to read bodies over client_max_size (413) even when chunked.
    app = web.Application(client_max_size=settings.http_max_request_bytes)
    token = settings.ingest_token.get_secret_value() if settings.ingest_token else None
    limiter = RateLimiter(settings.http_rate_limit_per_minute, clock)
    limits = Limits.from_settings(settings)

    async def health(request: web.Request) -> web.Response:
        is_ready = ready()
        data: dict[str, Any] = {
            "service": "ingester",
            "status": "ok" if is_ready else "starting",
            "kafka": "connected" if is_ready else "connecting",
            "ingest_endpoint": "on" if token else "off",
            "feeds": len(settings.feeds),
        }
        if health_detail is not None:
            data.update(health_detail())
        return web.json_response(data)

    async def metrics_page(request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest())
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    async def post_articles(request: web.Request) -> web.Response:
        if token is None:
            return _json(
                404,
                {
                    "error": "the ingest endpoint is off: set ingest_token (NEWSMON_INGEST_TOKEN) "
                    "to enable it"
                },
            )
        client = request.remote or "unknown"
        allowed, wait_s = limiter.allow(client)
        if not allowed:
            return _json(
                429,
                {
                    "error": f"rate limit of {settings.http_rate_limit_per_minute} requests per "
                    f"minute exceeded; retry in {wait_s:.0f}s"
                },
                **{"Retry-After": str(max(1, round(wait_s)))},
            )
        header = request.headers.get("Authorization")
        if not header:
            return _json(
                401,
                {"error": "missing bearer token: send 'Authorization: Bearer <token>'"},
                **{"WWW-Authenticate": 'Bearer realm="newsmon"'},
            )
        if not token_matches(header, token):
            log.warning("ingest_auth_failed", client=client)
            return _json(
                401,
                {"error": "wrong token"},
                **{"WWW-Authenticate": 'Bearer realm="newsmon", error="invalid_token"'},
            )
        max_bytes = settings.http_max_request_bytes
        if request.content_length is not None and request.content_length > max_bytes:
            return _json(413, {"error": f"the body is over the limit of {max_bytes:,} bytes"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(413, {"error": f"the body is over the limit of {max_bytes:,} bytes"})
        if not ready():
            return _json(
                503, {"error": "not connected to Kafka yet; retry"}, **{"Retry-After": "5"}
            )

        parsed = parse_request_body(body)
        try:
            if parsed.problem is not None:
                rej = Rejection(
                    parsed.problem.reason, parsed.problem.detail, body, Origin(ENDPOINT, None)
                )
                await sink.reject(rej, "http")
                return _json(
                    400,
                    {
                        "accepted": [],
                        "rejected": [
                            {"index": None, "reason": rej.reason.value, "detail": rej.detail}
                        ],
                    },
                )
            if not parsed.candidates:
                return _json(400, {"error": "the list of articles is empty", "accepted": []})
            verdicts = [validate(c, limits) for c in parsed.candidates]
            rejected = [(i, v) for i, v in enumerate(verdicts) if isinstance(v, Rejection)]
            if rejected:
                for _, rej in rejected:
                    await sink.reject(rej, "http")
                return _json(
                    422,
                    {
                        "accepted": [],
                        "rejected": [
                            {"index": i, "reason": v.reason.value, "detail": v.detail}
                            for i, v in rejected
                        ],
                        "error": "nothing was published: fix or drop the rejected articles "
                        "and send the request again",
                    },
                )
            ids = []
            for v in verdicts:
                assert isinstance(v, Accepted)
                await sink.publish(v.article, "http")
                ids.append(v.article.id)
        except PublishError as exc:
            log.error("ingest_publish_failed", error=str(exc))
            return _json(
                503,
                {
                    "error": "Kafka did not acknowledge; retry (ids are stable, so a retry "
                    "never duplicates)"
                },
                **{"Retry-After": "5"},
            )
        return _json(202, {"accepted": ids})

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_post("/articles", post_articles)
    return app
