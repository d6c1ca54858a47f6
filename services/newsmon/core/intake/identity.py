"""Stable article ids: the same article always gets the same id, however often it is ingested.

The id is, in order of preference: the id the input gives; a hash of the normalised URL (so
tracking parameters, fragments, case of the host and a trailing slash do not matter); a hash of
source + published date + body (whitespace-normalised). The Kafka key is this id, and the
processors downstream deduplicate by it.
"""

from __future__ import annotations

import datetime as dt

from newsmon.core.ids import digest, normalise_url

#: Ids are hex digests of this many characters (64 bits: collisions are not a practical concern
#: for a news archive, and the ids stay readable in logs).
ID_LENGTH = 16


def url_id(url: str) -> str:
    """The id of an article known by its URL."""
    return digest("url", normalise_url(url), length=ID_LENGTH)


def content_id(source: str, published_at: dt.datetime, body: str) -> str:
    """The id of an article without a URL: source, publication date (UTC) and body."""
    day = published_at.astimezone(dt.UTC).date().isoformat()
    return digest("content", source.strip(), day, " ".join(body.split()), length=ID_LENGTH)


def article_id(
    *, given: str | None, url: str | None, source: str, published_at: dt.datetime, body: str
) -> str:
    """The article's stable id (see the module docstring for the order of preference)."""
    if given:
        return given
    if url:
        return url_id(url)
    return content_id(source, published_at, body)
