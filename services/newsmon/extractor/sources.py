"""Articles from files for `newsmon extract`: seed text files, JSON and JSON Lines.

A small reader of its own because services never import each other; it follows the ingester's
conventions (seed body = text after the ` date YYYY-MM-DD ` header, stripped; title = first
sentence; source = file name; id = the ingester's content id) so offsets and ids agree.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from newsmon.core.ids import digest
from newsmon.core.models import Article, utcnow

_SEED_HEADER = re.compile(
    r"^\ufeff?\s*date\s+(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}:\d{2}(?::\d{2})?))?\s"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’]?\s")


class SourceError(Exception):
    """A file cannot be read as articles; the message says which file and why."""


def first_sentence(text: str, limit: int = 300) -> str:
    m = _SENTENCE_END.search(text)
    title = text[: m.start() + 1] if m else text
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def content_id(source: str, published_at: dt.datetime, body: str) -> str:
    """The ingester's id of an article without a URL (source, UTC day, normalised body)."""
    day = published_at.astimezone(dt.UTC).date().isoformat()
    return digest("content", source.strip(), day, " ".join(body.split()), length=16)


def parse_seed_text(text: str, source: str) -> Article:
    """The one article of a seed file (` date YYYY-MM-DD ` then the text)."""
    m = _SEED_HEADER.match(text)
    if not m:
        raise SourceError(
            f"{source}: does not start with ' date YYYY-MM-DD ': add the publication date as "
            "the first words, or give the article as JSON"
        )
    published = dt.datetime.fromisoformat(m.group(1) + (f"T{m.group(2)}" if m.group(2) else ""))
    published = published.replace(tzinfo=dt.UTC)
    body = text[m.end() :].strip()
    return Article(
        id=content_id(source, published, body),
        source=source,
        title=first_sentence(body),
        published_at=published,
        body=body,
        ingested_at=utcnow(),
    )


def _article(obj: Any, name: str, where: str) -> Article:
    if not isinstance(obj, dict):
        raise SourceError(f"{where}: expected a JSON object with an article")
    fields = dict(obj)
    fields.setdefault("source", name)
    fields.setdefault("ingested_at", utcnow().isoformat())
    if "title" not in fields and isinstance(fields.get("body"), str):
        fields["title"] = first_sentence(fields["body"])
    if "id" not in fields and isinstance(fields.get("body"), str) and fields.get("published_at"):
        try:
            published = dt.datetime.fromisoformat(
                str(fields["published_at"]).replace("Z", "+00:00")
            )
            fields["id"] = content_id(str(fields["source"]), published, fields["body"])
        except ValueError:
            pass
    try:
        return Article.model_validate(fields)
    except ValidationError as exc:
        raise SourceError(f"{where}: not a valid article: {exc}") from exc


def read_articles(path: Path) -> Iterator[Article]:
    """Every article in a seed (.txt), JSON (.json: one article or a list) or JSON Lines file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from exc
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{path}:{n}: not JSON: {exc}") from exc
                yield _article(obj, path.name, f"{path}:{n}")
        return
    if suffix == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}: not JSON: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        for i, obj in enumerate(items):
            yield _article(obj, path.name, f"{path}[{i}]")
        return
    yield parse_seed_text(text, path.name)
