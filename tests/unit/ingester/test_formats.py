"""Reading seed files, JSON, JSON Lines, folders and standard input into candidates."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from newsmon.core.intake.formats import (
    InputError,
    InputFormat,
    read_bytes,
    read_inputs,
    resolve_inputs,
    sniff_format,
)
from newsmon.core.intake.records import Reason


def test_seed_file_gives_date_title_body_and_file_name_source() -> None:
    """` date YYYY-MM-DD ` then text: midnight UTC, first sentence as title, name as source."""
    [c] = read_bytes(b" date 2023-11-14 Egypt reopened Rafah. Trucks entered.", name="d/x.txt")
    assert c.fields is not None
    assert c.fields["published_at"] == dt.datetime(2023, 11, 14, tzinfo=dt.UTC)
    assert c.fields["title"] == "Egypt reopened Rafah."
    assert c.fields["body"] == "Egypt reopened Rafah. Trucks entered."
    assert c.fields["source"] == "x.txt"
    assert (c.origin.file, c.origin.line) == ("d/x.txt", 1)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (" date 2023-11-14 14:30 ", dt.datetime(2023, 11, 14, 14, 30, tzinfo=dt.UTC)),
        (" date 2023-11-14 14:30Z ", dt.datetime(2023, 11, 14, 14, 30, tzinfo=dt.UTC)),
        (" date 2023-11-14 14:30 +02:00 ", dt.datetime(2023, 11, 14, 12, 30, tzinfo=dt.UTC)),
        (" date 2023-11-14T14:30:00+01:00 ", dt.datetime(2023, 11, 14, 13, 30, tzinfo=dt.UTC)),
        ("\ufeffDate 2023-11-14 ", dt.datetime(2023, 11, 14, tzinfo=dt.UTC)),
    ],
)
def test_seed_time_of_day(header: str, expected: dt.datetime) -> None:
    """A time after the date (with or without an offset) is honoured."""
    [c] = read_bytes((header + "12 people crossed. More.").encode(), name="x.txt")
    assert c.fields is not None
    assert c.fields["published_at"] == expected
    assert c.fields["body"].startswith("12 people crossed.")


def test_seed_source_can_be_configured() -> None:
    """--source overrides the file name."""
    [c] = read_bytes(b" date 2023-11-14 Text.", name="x.txt", source="Al Jazeera")
    assert c.fields is not None and c.fields["source"] == "Al Jazeera"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Egypt reopened Rafah.", Reason.MISSING_DATE),
        (b"", Reason.MISSING_DATE),
        (b" date 2023-13-45 Text.", Reason.UNPARSEABLE_DATE),
        (b" date yesterday Text.", Reason.UNPARSEABLE_DATE),
    ],
)
def test_seed_date_problems(data: bytes, reason: Reason) -> None:
    """Missing and unreadable seed dates become problems with their reason."""
    [c] = read_bytes(data, name="x.txt", fmt=InputFormat.SEED)
    assert c.problem is not None and c.problem.reason is reason
    assert "date" in c.problem.detail


def test_undecodable_seed_names_the_line() -> None:
    """Bytes that are not UTF-8 give undecodable_bytes at the line of the first bad byte."""
    [c] = read_bytes(b" date 2023-11-14 Fine.\nCaf\xe9\n", name="x.txt")
    assert c.problem is not None and c.problem.reason is Reason.UNDECODABLE_BYTES
    assert c.origin.line == 2
    assert "iconv" in c.problem.detail
    assert c.payload == b" date 2023-11-14 Fine.\nCaf\xe9\n"


def test_json_array_items_carry_their_line(data_dir: Path) -> None:
    """Each article of a JSON array is positioned at the line where it starts."""
    cands = list(read_inputs(resolve_inputs([str(data_dir / "good" / "articles.json")])))
    assert [c.origin.line for c in cands] == [2, 9]
    assert cands[1].fields is not None and cands[1].fields["id"] == "given-id-1"
    assert cands[0].payload.startswith(b"{") and cands[0].payload.endswith(b"}")


def test_json_single_object() -> None:
    """A .json file may hold one article object."""
    [c] = read_bytes(b'\n\n{"body": "x"}', name="a.json", fmt=InputFormat.JSON)
    assert c.fields == {"body": "x"} and c.origin.line == 3


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'[{"a": 1},\n {"b": ]', 2),
        (b'{"a": 1', 1),
        (b'[{"a": 1}\n {"b": 2}]', 2),
        (b'[{"a": 1}]\n[]', 2),
        (b"[" * 100_000, 1),
    ],
)
def test_malformed_json_is_positioned(data: bytes, line: int) -> None:
    """Broken JSON becomes one malformed_json problem at the right line; earlier items survive."""
    cands = list(read_bytes(data, name="a.json", fmt=InputFormat.JSON))
    bad = [c for c in cands if c.problem]
    assert len(bad) == 1
    assert bad[0].problem is not None and bad[0].problem.reason is Reason.MALFORMED_JSON
    assert bad[0].origin.line == line


def test_json_non_object_is_wrong_type() -> None:
    """An array of numbers is not articles."""
    cands = list(read_bytes(b'[1, {"body": "x"}]', name="a.json", fmt=InputFormat.JSON))
    assert cands[0].problem is not None and cands[0].problem.reason is Reason.WRONG_TYPE
    assert cands[1].fields == {"body": "x"}


def test_jsonl_bad_line_does_not_stop_the_rest() -> None:
    """JSON Lines: blank lines are skipped, a bad line is rejected alone with its number."""
    data = b'{"body": "a"}\n\n{"body": \n\xff\xfe\n{"body": "b"}\n'
    cands = list(read_bytes(data, name="x.jsonl", fmt=InputFormat.JSONL))
    assert [(c.origin.line, c.problem.reason if c.problem else None) for c in cands] == [
        (1, None),
        (3, Reason.MALFORMED_JSON),
        (4, Reason.UNDECODABLE_BYTES),
        (5, None),
    ]
    assert cands[2].payload == b"\xff\xfe"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b'  [{"a": 1}]', InputFormat.JSON),
        (b'{"a": 1}', InputFormat.JSON),
        (b'{"a": 1}\n{"a": 2}\n', InputFormat.JSONL),
        (b" date 2023-11-14 x", InputFormat.SEED),
    ],
)
def test_sniff_format(data: bytes, fmt: InputFormat) -> None:
    """Standard input and unknown extensions are recognised by content."""
    assert sniff_format(data) is fmt


def test_folders_are_recursive_with_default_and_custom_globs(data_dir: Path) -> None:
    """A folder yields its known article files recursively; --glob narrows; hidden files skip."""
    good = data_dir / "good"
    names = [f.path.name for f in resolve_inputs([str(good)]) if f.path]
    assert names == ["articles.json", "more.jsonl", "qatar.txt", "rafah.txt"]
    only_txt = [f.path.name for f in resolve_inputs([str(good)], glob="*.txt") if f.path]
    assert only_txt == ["qatar.txt", "rafah.txt"]


def test_hidden_files_and_duplicates_are_skipped(tmp_path: Path) -> None:
    """Dot-folders are not searched and a file named twice is read once."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text(" date 2023-11-14 x")
    (tmp_path / "a.txt").write_text(" date 2023-11-14 x")
    files = resolve_inputs([str(tmp_path), str(tmp_path / "a.txt")])
    assert [f.path.name for f in files if f.path] == ["a.txt"]


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    """A PATH that does not exist is named in the error (nothing is read)."""
    with pytest.raises(InputError, match=r"nope\.txt"):
        resolve_inputs([str(tmp_path / "nope.txt")])


def test_stdin_is_read_and_sniffed() -> None:
    """`-` reads standard input; JSON Lines there get the configured source as default."""
    stdin = io.BytesIO(b'{"body": "a", "published_at": "2023-11-14"}\n{"body": "b"}\n')
    cands = list(read_inputs(resolve_inputs(["-"]), source="scraper", stdin=stdin))
    assert [c.origin.file for c in cands] == ["<stdin>", "<stdin>"]
    assert [c.origin.line for c in cands] == [1, 2]
    assert all(c.default_source == "scraper" for c in cands)
