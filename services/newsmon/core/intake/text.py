"""Pure text helpers of the ingester: titles from bodies, publication dates, HTML to plain text."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from html import unescape
from html.parser import HTMLParser

from newsmon.core.textsafe import clean

#: A derived title is at most this many characters (a headline, not a paragraph).
TITLE_MAX = 200

# Words that end with a full stop without ending the sentence ("Mr. Blinken", "Jan. 5").
_ABBREVIATIONS = frozenset(
    (  # noqa: SIM905 - a word list reads better than fifty quoted strings
        "mr mrs ms dr prof st gen sen rep gov lt col capt sgt maj adm cmdr pres amb "
        "no nos vs etc inc ltd co corp jr sr approx est fig dept univ mt ft "
        "jan feb mar apr jun jul aug sep sept oct nov dec"
    ).split()
)
_SENTENCE_END = re.compile(r"[.!?]+[\"”’')\]]*(?=\s|$)")


def first_sentence(text: str, limit: int = TITLE_MAX) -> str:
    """The first sentence of `text` on one line, cut at a word boundary to at most `limit` chars.

    A first line without end punctuation (a headline) counts as a sentence.
    """
    stripped = text.strip()
    if not stripped:
        return ""
    line = stripped.split("\n", 1)[0].strip()
    sentence = line
    for m in _SENTENCE_END.finditer(line):
        before = line[: m.start()]
        word = before.rsplit(None, 1)[-1] if before.split() else ""
        word = word.lstrip("\"“‘'(").lower()
        if line[m.start()] == "." and (
            word in _ABBREVIATIONS or len(word) == 1 or "." in word  # "J.", "U.S."
        ):
            continue
        rest = line[m.end() :].lstrip()
        if rest and rest[0].islower():  # "... 3 p.m. on Sunday" is still the same sentence
            continue
        sentence = line[: m.end()]
        break
    sentence = clean(sentence, single_line=True)
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: str) -> dt.datetime:
    """A publication time from ISO 8601 (date or date-time) or RFC 822 (RSS) text, in UTC.

    A date alone means 00:00 UTC; a time without an offset is taken as UTC.
    Raises ValueError with a message saying which forms are understood.
    """
    text = value.strip()
    if not text:
        raise ValueError("the date is empty")
    parsed: dt.datetime | None = None
    try:
        if _ISO_DATE.match(text):
            parsed = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            # fromisoformat handles "Z" and "+02:00"; a space instead of "T" is common.
            parsed = dt.datetime.fromisoformat(text.replace(" UTC", "Z"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        raise ValueError(
            f"cannot read {value[:60]!r} as a date: use ISO 8601 (2023-11-13 or "
            "2023-11-13T14:30:00Z) or RFC 822 (Mon, 13 Nov 2023 14:30:00 GMT)"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment, with paragraph breaks at block elements."""

    _BLOCK = frozenset(
        (  # noqa: SIM905 - a word list reads better than quoted strings
            "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article "
            "header footer figcaption hr dd dt"
        ).split()
    )
    _HIDDEN = frozenset(("script", "style", "head", "template", "noscript", "iframe", "svg"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            # In HTML a line break is a space; a blank line (plain-text feeds) is a paragraph.
            paragraphs = re.split(r"\n[ \t\r]*\n\s*", data)
            self.parts.append("\n\n".join(p.replace("\n", " ") for p in paragraphs))


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded, paragraphs kept.

    Scripts and styles are dropped; runs of spaces collapse; paragraphs are separated by one
    blank line.
    """
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
        raw = "".join(parser.parts)
    except (AssertionError, ValueError):  # pathological markup: fall back to a crude strip
        raw = unescape(re.sub(r"<[^>]*>", " ", html))
    paragraphs = []
    for block in re.split(r"\n\s*\n", raw):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)
