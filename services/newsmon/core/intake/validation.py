"""Validation: a `Candidate` becomes an `Accepted` article or a `Rejection` with a specific reason.

Checks run in a fixed order and the first failure wins: reading problems (undecodable bytes,
malformed JSON), unknown fields, wrong types, the date (missing, unparseable, far future), the
body (missing, empty, too large), then the remaining fields (source, id, url, language). Every
detail says what is wrong and what to do.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from newsmon.core.config import Settings
from newsmon.core.intake.identity import article_id
from newsmon.core.intake.records import Accepted, Candidate, Reason, Rejection, Verdict
from newsmon.core.intake.text import first_sentence, parse_timestamp
from newsmon.core.models import Article, utcnow
from newsmon.core.textsafe import clean

#: The fields an input article may have (the Article model without the ingester's own fields).
ARTICLE_FIELDS = ("id", "source", "url", "title", "published_at", "body", "language")
#: Fields of records on news.articles.raw that are accepted and ignored, so that an export of the
#: topic can be replayed as is (the ingester sets them itself).
IGNORED_FIELDS = frozenset({"schema_version", "ingested_at"})

GIVEN_TITLE_MAX = 1000
SOURCE_MAX = 200
_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,128}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Limits:
    """The configured bounds an article must respect."""

    max_body_bytes: int = 1_000_000
    max_future_days: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_body_bytes, settings.max_future_days)


def json_type(value: object) -> str:
    """The JSON name of a Python value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def validate(
    candidate: Candidate, limits: Limits = Limits(), now: dt.datetime | None = None
) -> Verdict:
    """Check one candidate; never raises for bad input."""
    now = now or utcnow()
    fields = candidate.fields or {}
    source_hint = fields.get("source") if isinstance(fields.get("source"), str) else None
    source_hint = source_hint or candidate.default_source

    def reject(reason: Reason, detail: str) -> Rejection:
        return Rejection(reason, detail, candidate.payload, candidate.origin, source_hint)

    if candidate.problem is not None:
        return reject(candidate.problem.reason, candidate.problem.detail)
    if candidate.fields is None:
        return reject(Reason.MALFORMED_JSON, "the input has no article fields")
    try:
        article = _build(fields, candidate.default_source, limits, now)
    except _Invalid as exc:
        return reject(exc.reason, exc.detail)
    return Accepted(article, candidate.origin)


def _build(
    fields: dict[str, Any], default_source: str | None, limits: Limits, now: dt.datetime
) -> Article:
    unknown = sorted(set(fields) - set(ARTICLE_FIELDS) - IGNORED_FIELDS)
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:10])
        raise _Invalid(
            Reason.UNKNOWN_FIELDS,
            f"unknown field(s) {names}: an article has only {', '.join(ARTICLE_FIELDS)}; "
            "remove the others or fix their spelling",
        )
    for name in ARTICLE_FIELDS:
        value = fields.get(name)
        ok = value is None or isinstance(value, str)
        if name == "published_at":
            ok = ok or isinstance(value, dt.datetime)
        if not ok:
            raise _Invalid(
                Reason.WRONG_TYPE,
                f"field {name!r} must be a string, got {json_type(value)} "
                f"({str(value)[:40]}); quote it or fix the exporter",
            )
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # JSON allows "\ud800", UTF-8 (and Kafka readers) do not
                raise _Invalid(
                    Reason.UNDECODABLE_BYTES,
                    f"field {name!r} contains a lone UTF-16 surrogate escape, which is not "
                    "text; fix the exporter's string encoding",
                ) from None

    published_at = _published_at(fields.get("published_at"), limits, now)
    body = _body(fields.get("body"), limits)

    source = (fields.get("source") or default_source or "").strip()
    if not source:
        raise _Invalid(
            Reason.MISSING_FIELD,
            "no 'source': name the publisher in the article's 'source' field",
        )
    if len(source) > SOURCE_MAX or not source.isprintable():
        raise _Invalid(
            Reason.INVALID_VALUE,
            f"'source' must be printable and at most {SOURCE_MAX} characters",
        )

    url = (fields.get("url") or "").strip() or None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _Invalid(
                Reason.INVALID_VALUE,
                f"'url' {url[:80]!r} is not an absolute http(s) URL; give the article's "
                "address or leave 'url' out",
            )

    given_id = fields.get("id")
    if given_id is not None:
        given_id = given_id.strip()
        if not _ID.match(given_id):
            raise _Invalid(
                Reason.INVALID_VALUE,
                "'id' must be 1 to 128 printable characters without spaces; "
                "leave it out to let the ingester derive a stable id",
            )

    language = (fields.get("language") or "en").strip()
    if not _LANGUAGE.match(language):
        raise _Invalid(
            Reason.INVALID_VALUE,
            f"'language' {language[:20]!r} is not a language code such as 'en' or 'pt-BR'",
        )

    title = clean(fields.get("title") or "", single_line=True, limit=GIVEN_TITLE_MAX)
    title = title or first_sentence(body)

    try:
        return Article(
            id=article_id(
                given=given_id, url=url, source=source, published_at=published_at, body=body
            ),
            source=source,
            url=url,
            title=title,
            published_at=published_at,
            body=body,
            language=language,
            ingested_at=now,
        )
    except ValidationError as exc:  # a bound the checks above missed; still a clear rejection
        msg = exc.errors()[0]["msg"]
        raise _Invalid(Reason.INVALID_VALUE, f"not a valid article: {msg}") from None


def _published_at(value: object, limits: Limits, now: dt.datetime) -> dt.datetime:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Invalid(
            Reason.MISSING_DATE,
            "no publication date: give 'published_at' (e.g. 2023-11-13 or "
            "2023-11-13T14:30:00Z), or start a text file with ' date YYYY-MM-DD '",
        )
    if isinstance(value, dt.datetime):
        published = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        try:
            published = parse_timestamp(str(value))
        except ValueError as exc:
            raise _Invalid(Reason.UNPARSEABLE_DATE, str(exc)) from None
    horizon = now + dt.timedelta(days=limits.max_future_days)
    if published > horizon:
        raise _Invalid(
            Reason.FUTURE_DATE,
            f"published_at {published.isoformat()} is more than {limits.max_future_days} "
            "day(s) in the future: fix the date (or the time zone), or raise "
            "max_future_days (NEWSMON_MAX_FUTURE_DAYS)",
        )
    if published < _EPOCH:
        raise _Invalid(
            Reason.UNPARSEABLE_DATE,
            f"published_at {published.date().isoformat()} is before 1970, which Kafka "
            "record times cannot hold; check the date",
        )
    return published


def _body(value: object, limits: Limits) -> str:
    if value is None:
        raise _Invalid(
            Reason.MISSING_FIELD,
            "no 'body': an article needs its text in the 'body' field",
        )
    body = str(value).strip()
    if not body:
        raise _Invalid(
            Reason.EMPTY_BODY,
            "the body is empty or only whitespace: there is nothing to analyse; "
            "check the exporter or drop the input",
        )
    size = len(body.encode("utf-8"))
    if size > limits.max_body_bytes:
        raise _Invalid(
            Reason.BODY_TOO_LARGE,
            f"the body is {size:,} bytes, over the limit of {limits.max_body_bytes:,} "
            "(max_body_bytes / NEWSMON_MAX_BODY_BYTES): split the article or raise the limit",
        )
    problem = text_problem(body)
    if problem:
        raise _Invalid(Reason.PATHOLOGICAL_TEXT, problem)
    return body


#: No word of news prose is this long; a longer run of non-space characters is an encoded blob
#: or an attack on the tokenizer, not an article.
MAX_TOKEN_CHARS = 1000


def text_problem(body: str) -> str | None:
    """Why a body is not prose that can be analysed (None when it is)."""
    longest = max((len(w) for w in body.split()), default=0)
    if longest > MAX_TOKEN_CHARS:
        return (
            f"the body contains a {longest:,}-character word (the limit is {MAX_TOKEN_CHARS:,}): "
            "it is not article text; strip embedded data or markup before sending it"
        )
    return None
