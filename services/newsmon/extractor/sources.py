"""Articles from files for `newsmon extract`, read and validated exactly as the ingester does.

The formats, ids and validation are the shared intake of `newsmon.core.intake`, so an article
extracted from a file has the same id, body and offsets as the one published by `replay`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from newsmon.core.intake.formats import InputError, read_inputs, read_seed, resolve_inputs
from newsmon.core.intake.records import Candidate, Rejection
from newsmon.core.intake.validation import Limits, validate
from newsmon.core.models import Article


class SourceError(Exception):
    """A file cannot be read as articles; the message says which file, where and why."""


def _accept(candidate: Candidate, limits: Limits) -> Article:
    verdict = validate(candidate, limits)
    if isinstance(verdict, Rejection):
        raise SourceError(verdict.describe())
    return verdict.article


def parse_seed_text(text: str, source: str, limits: Limits | None = None) -> Article:
    """The one article of a seed file's text (` date YYYY-MM-DD ` then the article)."""
    return _accept(read_seed(text.encode("utf-8"), name=source, source=source), limits or Limits())


def read_articles(path: Path, limits: Limits | None = None) -> Iterator[Article]:
    """Every article in a seed (.txt), JSON (one article or a list) or JSON Lines file/folder."""
    try:
        files = resolve_inputs([str(path)])
    except InputError as exc:
        raise SourceError(str(exc)) from exc
    for candidate in read_inputs(files):
        yield _accept(candidate, limits or Limits())
