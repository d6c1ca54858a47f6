"""The HTTP door without Kafka: rate limiter, token check, body parsing and the routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from tests.unit.ingester.sinks import ListSink

from newsmon.core.config import Settings
from newsmon.core.intake.records import Reason
from newsmon.ingester.http import RateLimiter, build_app, parse_request_body, token_matches

ARTICLE = {"source": "Scraper", "published_at": "2023-11-13T08:00:00Z", "body": "Talks resumed."}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_is_a_token_bucket_per_client() -> None:
    """A client gets its burst, then waits for refills; other clients are unaffected."""
    clock = FakeClock()
    limiter = RateLimiter(per_minute=2, clock=clock)
    assert limiter.allow("a")[0] and limiter.allow("a")[0]
    allowed, wait = limiter.allow("a")
    assert not allowed and wait == pytest.approx(30.0)
    assert limiter.allow("b")[0]
    clock.now = 30.0
    assert limiter.allow("a")[0]


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("Bearer s3cret2", False),
        ("Bearer ", False),
        ("Basic s3cret", False),
        (None, False),
    ],
)
def test_token_matches(header: str | None, ok: bool) -> None:
    """Only 'Bearer <the token>' passes."""
    assert token_matches(header, "s3cret") is ok


def test_parse_request_body_one_or_many() -> None:
    """One object or a list; each item is positioned by its index."""
    assert len(parse_request_body(json.dumps(ARTICLE).encode()).candidates) == 1
    many = parse_request_body(json.dumps([ARTICLE, 3]).encode())
    assert [c.origin.line for c in many.candidates] == [1, 2]
    assert many.candidates[1].problem is not None
    assert parse_request_body(b"\xff").problem.reason is Reason.UNDECODABLE_BYTES  # type: ignore[union-attr]
    assert parse_request_body(b"{").problem.reason is Reason.MALFORMED_JSON  # type: ignore[union-attr]


@pytest.fixture
async def client_for() -> AsyncIterator[Any]:
    clients: list[TestClient[Any, Any]] = []

    async def make(settings: Settings, sink: ListSink, ready: bool = True) -> TestClient[Any, Any]:
        app = build_app(settings, sink, ready=lambda: ready)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


def settings(**kw: Any) -> Settings:
    return Settings(ingest_token=SecretStr("s3cret"), **kw)


AUTH = {"Authorization": "Bearer s3cret"}


async def test_health_and_metrics(client_for: Any, sink: ListSink) -> None:
    """/health reports the service and its state; /metrics is Prometheus text."""
    client = await client_for(Settings(), sink, ready=False)
    health = await (await client.get("/health")).json()
    assert health["service"] == "ingester" and health["status"] == "starting"
    assert health["ingest_endpoint"] == "off"
    resp = await client.get("/metrics")
    assert resp.status == 200 and "newsmon_ingester_articles_published_total" in await resp.text()


async def test_endpoint_is_off_without_a_token(client_for: Any, sink: ListSink) -> None:
    """No configured token: 404 with how to enable it, nothing published."""
    client = await client_for(Settings(), sink)
    resp = await client.post("/articles", json=ARTICLE, headers=AUTH)
    assert resp.status == 404 and "NEWSMON_INGEST_TOKEN" in (await resp.json())["error"]
    assert not sink.published


async def test_auth_cases(client_for: Any, sink: ListSink) -> None:
    """Missing token 401 with WWW-Authenticate, wrong token 401, right token 202 with the id."""
    client = await client_for(settings(), sink)
    missing = await client.post("/articles", json=ARTICLE)
    assert missing.status == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    wrong = await client.post("/articles", json=ARTICLE, headers={"Authorization": "Bearer x"})
    assert wrong.status == 401
    assert not sink.published and not sink.rejected
    ok = await client.post("/articles", json=[ARTICLE, {**ARTICLE, "body": "Other."}], headers=AUTH)
    assert ok.status == 202
    ids = (await ok.json())["accepted"]
    assert ids == [a.id for a, _ in sink.published] and len(ids) == 2
    assert {ch for _, ch in sink.published} == {"http"}


async def test_bad_articles_get_per_article_reasons(client_for: Any, sink: ListSink) -> None:
    """One bad article: 422 listing it, nothing published, the bad one dead-lettered."""
    client = await client_for(settings(), sink)
    resp = await client.post(
        "/articles", json=[ARTICLE, {**ARTICLE, "body": " "}, {**ARTICLE, "x": 1}], headers=AUTH
    )
    assert resp.status == 422
    data = await resp.json()
    assert [(r["index"], r["reason"]) for r in data["rejected"]] == [
        (1, "empty_body"),
        (2, "unknown_fields"),
    ]
    assert not sink.published
    assert [(r.reason.value, r.origin.line) for r, _ in sink.rejected] == [
        ("empty_body", 2),
        ("unknown_fields", 3),
    ]


async def test_malformed_body_is_400(client_for: Any, sink: ListSink) -> None:
    """A body that is not JSON: 400 malformed_json and a dead letter with the raw body."""
    client = await client_for(settings(), sink)
    resp = await client.post("/articles", data=b"{not json", headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["rejected"][0]["reason"] == "malformed_json"
    assert sink.rejected[0][0].payload == b"{not json"


async def test_body_limit(client_for: Any, sink: ListSink) -> None:
    """Bodies over http_max_request_bytes get 413 and are not read."""
    client = await client_for(settings(http_max_request_bytes=200), sink)
    big = {**ARTICLE, "body": "x" * 500}
    resp = await client.post("/articles", json=big, headers=AUTH)
    assert resp.status == 413
    assert not sink.published and not sink.rejected


async def test_rate_limit_per_client(client_for: Any, sink: ListSink) -> None:
    """Beyond the per-minute budget a client gets 429 with Retry-After (even with bad tokens)."""
    client = await client_for(settings(http_rate_limit_per_minute=3), sink)
    codes = [
        (await client.post("/articles", json=ARTICLE, headers={"Authorization": "Bearer x"})).status
        for _ in range(3)
    ]
    assert codes == [401, 401, 401]
    limited = await client.post("/articles", json=ARTICLE, headers=AUTH)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1


async def test_not_ready_is_503(client_for: Any, sink: ListSink) -> None:
    """Before Kafka is connected, valid requests get 503 and a Retry-After."""
    client = await client_for(settings(), sink, ready=False)
    resp = await client.post("/articles", json=ARTICLE, headers=AUTH)
    assert resp.status == 503 and resp.headers["Retry-After"]
