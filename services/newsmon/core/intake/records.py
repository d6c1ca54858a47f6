"""The ingester's working records: an input on its way in, and the verdict on it.

Every reader (files, standard input, feeds, HTTP) yields `Candidate`s; validation turns each
into an `Accepted` article or a `Rejection` with a reason code. Nothing else crosses module
boundaries inside the ingester.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from newsmon.core.models import Article


class Reason(StrEnum):
    """Why an input was rejected: a stable, machine-readable code (a metric label and DLQ field)."""

    UNDECODABLE_BYTES = "undecodable_bytes"
    MALFORMED_JSON = "malformed_json"
    MISSING_DATE = "missing_date"
    UNPARSEABLE_DATE = "unparseable_date"
    FUTURE_DATE = "future_date"
    EMPTY_BODY = "empty_body"
    BODY_TOO_LARGE = "body_too_large"
    PATHOLOGICAL_TEXT = "pathological_text"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELDS = "unknown_fields"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"


#: The channel an input arrived by (a bounded metric label).
CHANNELS = ("replay", "feed", "http")


@dataclass(frozen=True)
class Origin:
    """Where an input came from: a file (or `<stdin>`, a feed URL, `POST /articles`) and a line.

    For HTTP requests `line` is the 1-based position of the article in the request's list.
    """

    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or "<unknown>"


@dataclass(frozen=True)
class Problem:
    """A format-level failure found while reading (before the fields could be checked)."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class Candidate:
    """One article-shaped input, not yet validated.

    `fields` are the parsed fields (None when reading failed, see `problem`); `payload` is the
    original bytes, kept for the dead-letter topic; `default_source` is used when the input
    names no source (a file name, a feed name, `--source`).
    """

    payload: bytes
    origin: Origin
    fields: dict[str, Any] | None = None
    problem: Problem | None = None
    default_source: str | None = None


@dataclass(frozen=True)
class Rejection:
    """An input that will not be published, with a specific reason and a human explanation."""

    reason: Reason
    detail: str
    payload: bytes
    origin: Origin
    source: str | None = None

    def describe(self) -> str:
        """One line for people: where, what and what to do."""
        return f"{self.origin}: {self.reason}: {self.detail}"


@dataclass(frozen=True)
class Accepted:
    """A valid article ready to publish, with where it came from."""

    article: Article
    origin: Origin = field(default_factory=Origin)


Verdict = Accepted | Rejection
