"""Input formats: seed text files, JSON, JSON Lines, folders of them and standard input.

Each reader turns bytes into `Candidate`s with their position (file and line) and never raises
for bad content: a file that cannot be decoded or parsed becomes a candidate carrying a
`Problem`, so that it ends in the dead-letter topic with a reason.

The seed format is a text file that starts with ` date YYYY-MM-DD ` (optionally followed by a
time, `14:30`, `14:30:00Z`, `14:30+02:00`, or written as one ISO 8601 date-time) and then the
article text. Its title is the first sentence, its source the file name.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from newsmon.core.intake.records import Candidate, Origin, Problem, Reason
from newsmon.core.intake.text import first_sentence, parse_timestamp

STDIN = "-"
STDIN_NAME = "<stdin>"
#: Folders are searched for these when no --glob is given.
DEFAULT_GLOBS = ("*.txt", "*.json", "*.jsonl", "*.ndjson")


class InputFormat(StrEnum):
    SEED = "seed"
    JSON = "json"
    JSONL = "jsonl"


_BY_SUFFIX = {
    ".txt": InputFormat.SEED,
    ".text": InputFormat.SEED,
    ".json": InputFormat.JSON,
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
}

_SEED_HEADER = re.compile(
    r"^\ufeff?\s*date\b[ \t]*(?P<date>[^\s]*)"
    r"(?:[ \t]+(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:[ \t]?(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?)(?=\s))?",
    re.IGNORECASE,
)


class InputError(Exception):
    """A path given by the user cannot be read at all; the message says which and why."""


@dataclass(frozen=True)
class InputFile:
    """One file to read (or standard input), with the name used in positions and as source."""

    path: Path | None  # None means standard input
    name: str

    @property
    def is_stdin(self) -> bool:
        return self.path is None


# ---------------------------------------------------------------------------------------------
# Finding the files


def resolve_inputs(paths: Sequence[str], glob: str | None = None) -> list[InputFile]:
    """Expand PATH arguments: files as given, folders recursively (with `glob`), `-` for stdin.

    Hidden files and folders (starting with '.') inside folders are skipped. Raises InputError
    naming every path that does not exist.
    """
    missing = [p for p in paths if p != STDIN and not Path(p).exists()]
    if missing:
        raise InputError(
            "no such file or folder: " + ", ".join(missing) + " (check the path; use - for "
            "standard input)"
        )
    out: list[InputFile] = []
    seen: set[Path] = set()
    for arg in paths:
        if arg == STDIN:
            out.append(InputFile(None, STDIN_NAME))
            continue
        path = Path(arg)
        files = [path] if not path.is_dir() else _folder_files(path, glob)
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(InputFile(f, str(f)))
    return out


def _folder_files(folder: Path, glob: str | None) -> list[Path]:
    patterns = (glob,) if glob else DEFAULT_GLOBS
    found: set[Path] = set()
    for pattern in patterns:
        for f in folder.rglob(pattern):
            rel = f.relative_to(folder).parts
            if f.is_file() and not any(part.startswith(".") for part in rel):
                found.add(f)
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Reading


def read_inputs(
    files: Iterable[InputFile], *, source: str | None = None, stdin: IO[bytes] | None = None
) -> Iterator[Candidate]:
    """Every candidate of every input, in input order."""
    for inp in files:
        if inp.path is None:
            data = (stdin or sys.stdin.buffer).read()
            yield from read_bytes(data, name=inp.name, source=source or "stdin")
            continue
        try:
            data = inp.path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {inp.name}: {exc.strerror or exc}") from exc
        yield from read_bytes(
            data, name=inp.name, source=source, fmt=_BY_SUFFIX.get(inp.path.suffix.lower())
        )


def read_bytes(
    data: bytes, *, name: str, source: str | None = None, fmt: InputFormat | None = None
) -> Iterator[Candidate]:
    """Candidates of one input; the format is sniffed from the content when not given.

    `source` overrides a seed file's source and is the default for JSON articles without one;
    when None, the file's base name is used.
    """
    default_source = source or Path(name).name
    fmt = fmt or sniff_format(data)
    if fmt is InputFormat.JSONL:
        yield from read_jsonl(data, name=name, default_source=default_source)
    elif fmt is InputFormat.JSON:
        yield from read_json(data, name=name, default_source=default_source)
    else:
        yield read_seed(data, name=name, source=default_source)


def sniff_format(data: bytes) -> InputFormat:
    """JSON when the content is one JSON value, JSON Lines when it starts with '{' but is not,
    the seed format otherwise."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return InputFormat.JSON
    if head == b"{":
        try:
            json.loads(data)
        except (ValueError, RecursionError):
            return InputFormat.JSONL
        return InputFormat.JSON
    return InputFormat.SEED


def _line_of(data: bytes | str, offset: int) -> int:
    nl: Any = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(nl, 0, offset) + 1


def _decode(data: bytes, name: str, base_line: int = 1) -> tuple[str | None, Problem | None, int]:
    """UTF-8 text (a BOM is dropped) or an undecodable_bytes problem and its line."""
    try:
        return data.decode("utf-8-sig"), None, base_line
    except UnicodeDecodeError as exc:
        line = base_line + _line_of(data, exc.start) - 1
        return (
            None,
            Problem(
                Reason.UNDECODABLE_BYTES,
                f"byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}) is not "
                "UTF-8: newsmon reads UTF-8 only; convert the file (e.g. iconv -f latin1 "
                "-t utf-8)",
            ),
            line,
        )


def parse_seed(text: str) -> tuple[dt.datetime, str]:
    """(published_at, body) of a seed text; ValueError(reason, detail) when the date is bad.

    `ValueError.args` is `(Reason, detail)`.
    """
    m = _SEED_HEADER.match(text)
    if not m or not m.group("date"):
        raise ValueError(
            Reason.MISSING_DATE,
            "the text does not start with ' date YYYY-MM-DD ': add the publication date "
            "as the first words (e.g. ' date 2023-11-13 The article...'), or give the "
            "article as JSON with 'published_at'",
        )
    stamp = m.group("date") + (f"T{m.group('time')}" if m.group("time") else "")
    try:
        if m.group("time"):
            stamp = stamp.replace(" ", "")
        published = parse_timestamp(stamp.replace("UTC", "Z").replace("GMT", "Z"))
    except ValueError as exc:
        raise ValueError(
            Reason.UNPARSEABLE_DATE,
            f"the date after 'date' {m.group('date')[:40]!r} is not a date: {exc}",
        ) from None
    return published, text[m.end() :].strip()


def read_seed(data: bytes, *, name: str, source: str) -> Candidate:
    """The one article of a seed file."""
    origin = Origin(name, 1)
    text, problem, line = _decode(data, name)
    if text is None:
        return Candidate(data, Origin(name, line), problem=problem, default_source=source)
    try:
        published, body = parse_seed(text)
    except ValueError as exc:
        reason, detail = exc.args
        return Candidate(data, origin, problem=Problem(reason, detail), default_source=source)
    fields: dict[str, Any] = {
        "published_at": published,
        "body": body,
        "title": first_sentence(body),
        "source": source,
    }
    return Candidate(data, origin, fields=fields, default_source=source)


def _object_candidate(
    value: Any, raw: bytes, origin: Origin, default_source: str | None
) -> Candidate:
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
            type(value), "a number"
        )
        problem = Problem(
            Reason.WRONG_TYPE,
            f"expected a JSON object (one article), got {kind}; each article is an object "
            "with source, published_at, body, ...",
        )
        return Candidate(raw, origin, problem=problem, default_source=default_source)
    return Candidate(raw, origin, fields=value, default_source=default_source)


def _malformed(exc: json.JSONDecodeError, base_line: int = 1) -> tuple[Problem, int]:
    line = base_line + exc.lineno - 1
    return (
        Problem(
            Reason.MALFORMED_JSON,
            f"invalid JSON at line {line}, column {exc.colno}: {exc.msg}; fix the JSON "
            "(each .jsonl line must be one complete object)",
        ),
        line,
    )


def read_json(data: bytes, *, name: str, default_source: str | None = None) -> Iterator[Candidate]:
    """The articles of a JSON document: one object, or an array of objects (each positioned at
    the line where it starts)."""
    text, problem, line = _decode(data, name)
    if text is None:
        yield Candidate(data, Origin(name, line), problem=problem, default_source=default_source)
        return
    decoder = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i < len(text) and text[i] == "[":
        i = _skip_ws(text, i + 1)
        if i < len(text) and text[i] == "]":
            if _skip_ws(text, i + 1) < len(text):
                yield _trailing(data, text, i + 1, name, default_source)
            return
        while True:
            try:
                value, end = decoder.raw_decode(text, i)
            except RecursionError:
                yield _too_deep(text[i:].encode(), Origin(name, _line_of(text, i)), default_source)
                return
            except json.JSONDecodeError as exc:
                p, ln = _malformed(exc)
                yield Candidate(
                    text[i:].encode(), Origin(name, ln), problem=p, default_source=default_source
                )
                return
            origin = Origin(name, _line_of(text, i))
            yield _object_candidate(value, text[i:end].encode(), origin, default_source)
            i = _skip_ws(text, end)
            if i < len(text) and text[i] == ",":
                i = _skip_ws(text, i + 1)
                continue
            if i < len(text) and text[i] == "]":
                if _skip_ws(text, i + 1) < len(text):
                    yield _trailing(data, text, i + 1, name, default_source)
                return
            ln = _line_of(text, i)
            yield Candidate(
                text[i:].encode(),
                Origin(name, ln),
                problem=Problem(
                    Reason.MALFORMED_JSON,
                    f"invalid JSON at line {ln}: expected ',' or ']' after an article; "
                    "fix the JSON array",
                ),
                default_source=default_source,
            )
            return
    try:
        value = json.loads(text)
    except RecursionError:
        yield _too_deep(data, Origin(name, _line_of(text, i)), default_source)
        return
    except json.JSONDecodeError as exc:
        p, ln = _malformed(exc)
        yield Candidate(data, Origin(name, ln), problem=p, default_source=default_source)
        return
    yield _object_candidate(value, data, Origin(name, _line_of(text, i)), default_source)


def _too_deep(raw: bytes, origin: Origin, default_source: str | None) -> Candidate:
    problem = Problem(
        Reason.MALFORMED_JSON,
        "the JSON nests too deeply to be an article; send flat article objects",
    )
    return Candidate(raw, origin, problem=problem, default_source=default_source)


def _trailing(data: bytes, text: str, i: int, name: str, default_source: str | None) -> Candidate:
    ln = _line_of(text, _skip_ws(text, i))
    return Candidate(
        data,
        Origin(name, ln),
        problem=Problem(
            Reason.MALFORMED_JSON,
            f"invalid JSON at line {ln}: extra data after the array; a .json file holds "
            "one array (use .jsonl for one object per line)",
        ),
        default_source=default_source,
    )


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def read_jsonl(data: bytes, *, name: str, default_source: str | None = None) -> Iterator[Candidate]:
    """One article per non-blank line; a bad line is rejected on its own, the rest still read."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        origin = Origin(name, number)
        text, problem, _ = _decode(raw, name, base_line=number)
        if text is None:
            yield Candidate(raw, origin, problem=problem, default_source=default_source)
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            yield _too_deep(raw, origin, default_source)
            continue
        except json.JSONDecodeError as exc:
            p, _ = _malformed(exc, base_line=number)
            yield Candidate(raw, origin, problem=p, default_source=default_source)
            continue
        yield _object_candidate(value, raw, origin, default_source)
