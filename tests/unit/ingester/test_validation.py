"""Validation: every rejection reason, with a specific code and a helpful detail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from newsmon.core.intake.records import Accepted, Candidate, Origin, Problem, Reason, Rejection
from newsmon.core.intake.validation import Limits, validate

NOW = dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC)
GOOD: dict[str, Any] = {
    "source": "Reuters",
    "published_at": "2024-01-09T08:00:00Z",
    "body": "Ceasefire talks resumed in Doha. Officials were hopeful.",
}


def check(fields: dict[str, Any], limits: Limits = Limits(), default: str | None = None) -> Any:
    cand = Candidate(b"{}", Origin("a.json", 3), fields=fields, default_source=default)
    return validate(cand, limits, NOW)


def test_good_article_is_accepted_with_derived_fields() -> None:
    """A minimal article gets a content id, a derived title, language en and ingested_at now."""
    v = check(GOOD)
    assert isinstance(v, Accepted)
    a = v.article
    assert a.title == "Ceasefire talks resumed in Doha."
    assert a.language == "en" and a.ingested_at == NOW and len(a.id) == 16
    assert a.published_at == dt.datetime(2024, 1, 9, 8, tzinfo=dt.UTC)
    assert v.origin == Origin("a.json", 3)


def test_topic_export_fields_are_accepted() -> None:
    """schema_version and ingested_at (as on news.articles.raw) are tolerated and replaced."""
    v = check({**GOOD, "schema_version": 1, "ingested_at": "2020-01-01T00:00:00Z"})
    assert isinstance(v, Accepted) and v.article.ingested_at == NOW


def test_default_source_is_used_when_missing() -> None:
    """A JSON article without source takes the file's name (or --source)."""
    fields = {k: v for k, v in GOOD.items() if k != "source"}
    v = check(fields, default="feed.jsonl")
    assert isinstance(v, Accepted) and v.article.source == "feed.jsonl"


@pytest.mark.parametrize(
    ("change", "reason", "hint"),
    [
        ({"published_at": None}, Reason.MISSING_DATE, "published_at"),
        ({"published_at": "  "}, Reason.MISSING_DATE, "published_at"),
        ({"published_at": "next tuesday"}, Reason.UNPARSEABLE_DATE, "ISO 8601"),
        ({"published_at": "2024-01-20"}, Reason.FUTURE_DATE, "NEWSMON_MAX_FUTURE_DAYS"),
        ({"published_at": "1969-12-31"}, Reason.UNPARSEABLE_DATE, "1970"),
        ({"body": "  \n\t "}, Reason.EMPTY_BODY, "empty"),
        ({"body": None}, Reason.MISSING_FIELD, "body"),
        ({"body": "x" * 101}, Reason.BODY_TOO_LARGE, "NEWSMON_MAX_BODY_BYTES"),
        ({"autor": "typo", "x": 1}, Reason.UNKNOWN_FIELDS, "'autor', 'x'"),
        ({"body": 42}, Reason.WRONG_TYPE, "'body' must be a string, got number"),
        ({"published_at": 1700000000}, Reason.WRONG_TYPE, "published_at"),
        ({"title": ["a"]}, Reason.WRONG_TYPE, "array"),
        ({"body": "lone \ud800 surrogate"}, Reason.UNDECODABLE_BYTES, "surrogate"),
        ({"source": None}, Reason.MISSING_FIELD, "source"),
        ({"url": "ftp://x.org/a"}, Reason.INVALID_VALUE, "http(s)"),
        ({"id": "has space"}, Reason.INVALID_VALUE, "id"),
        ({"id": "x" * 129}, Reason.INVALID_VALUE, "id"),
        ({"language": "english!"}, Reason.INVALID_VALUE, "language"),
    ],
)
def test_each_rejection_reason(change: dict[str, Any], reason: Reason, hint: str) -> None:
    """Each kind of bad article is rejected with its own reason and a detail that helps."""
    fields = {**GOOD, **change}
    v = check(fields, Limits(max_body_bytes=100, max_future_days=2))
    assert isinstance(v, Rejection), v
    assert v.reason is reason
    assert hint in v.detail
    assert v.payload == b"{}" and v.origin == Origin("a.json", 3)


def test_a_thousand_character_word_is_not_prose() -> None:
    """A body with a run of over 1,000 non-space characters is rejected as pathological text;
    a long URL in an article is still fine."""
    blob = {**GOOD, "body": "Aid entered Gaza. " + "A" * 1001}
    v = check(blob, Limits(max_body_bytes=10_000))
    assert isinstance(v, Rejection) and v.reason is Reason.PATHOLOGICAL_TEXT
    assert "1,001-character word" in v.detail
    url = {**GOOD, "body": "See https://example.org/" + "a" * 300 + " for the report."}
    assert isinstance(check(url, Limits(max_body_bytes=10_000)), Accepted)


def test_future_tolerance_is_configurable() -> None:
    """Up to max_future_days ahead is accepted (clock skew, time zones)."""
    v = check({**GOOD, "published_at": "2024-01-11T12:00:00Z"}, Limits(max_future_days=2))
    assert isinstance(v, Accepted)


def test_reading_problem_passes_through() -> None:
    """A candidate that could not be read is rejected with the reader's reason."""
    cand = Candidate(b"\xff", Origin("x.txt", 1), problem=Problem(Reason.UNDECODABLE_BYTES, "d"))
    v = validate(cand, Limits(), NOW)
    assert isinstance(v, Rejection) and v.reason is Reason.UNDECODABLE_BYTES
    assert v.describe() == "x.txt:1: undecodable_bytes: d"


def test_given_title_is_folded_to_one_clean_line() -> None:
    """Titles lose control characters and line breaks."""
    v = check({**GOOD, "title": "Breaking:\n\x1b[2Jtalks resume"})
    assert isinstance(v, Accepted) and v.article.title == "Breaking: [2Jtalks resume"
