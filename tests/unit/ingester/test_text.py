"""Titles, dates and HTML stripping (pure text helpers)."""

from __future__ import annotations

import datetime as dt

import pytest

from newsmon.core.intake.text import TITLE_MAX, first_sentence, html_to_text, parse_timestamp


def test_first_sentence_skips_abbreviations_and_initials() -> None:
    """Abbreviations, initials and "p.m." do not end the first sentence."""
    text = "U.S. envoy Mr. Blinken met Gen. Smith at 3 p.m. on Jan. 5 in Ankara. Then he left."
    assert first_sentence(text) == (
        "U.S. envoy Mr. Blinken met Gen. Smith at 3 p.m. on Jan. 5 in Ankara."
    )


def test_first_sentence_uses_a_headline_line() -> None:
    """A first line without end punctuation is the title."""
    assert first_sentence("Blinken leaves Ankara\nThe Secretary of State left. More.") == (
        "Blinken leaves Ankara"
    )


def test_first_sentence_is_trimmed_at_a_word() -> None:
    """A long first sentence is cut at a word boundary with an ellipsis."""
    title = first_sentence("word " * 200 + ".")
    assert len(title) <= TITLE_MAX
    assert title.endswith("word…")


def test_first_sentence_strips_control_characters() -> None:
    """Terminal escapes in the text never reach the title."""
    assert first_sentence("\x1b[31mRed\x1b[0m alert issued. More.") == "[31mRed[0m alert issued."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-13", dt.datetime(2023, 11, 13, tzinfo=dt.UTC)),
        ("2023-11-13T14:30:00Z", dt.datetime(2023, 11, 13, 14, 30, tzinfo=dt.UTC)),
        ("2023-11-13T14:30+02:00", dt.datetime(2023, 11, 13, 12, 30, tzinfo=dt.UTC)),
        ("2023-11-13 14:30", dt.datetime(2023, 11, 13, 14, 30, tzinfo=dt.UTC)),
        ("Mon, 13 Nov 2023 14:30:00 GMT", dt.datetime(2023, 11, 13, 14, 30, tzinfo=dt.UTC)),
        ("Mon, 13 Nov 2023 14:30:00 +0100", dt.datetime(2023, 11, 13, 13, 30, tzinfo=dt.UTC)),
    ],
)
def test_parse_timestamp_forms(text: str, expected: dt.datetime) -> None:
    """ISO dates, ISO date-times (naive = UTC) and RFC 822 dates are read, in UTC."""
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2023-13-45", "13/11/2023", ""])
def test_parse_timestamp_rejects_with_a_hint(text: str) -> None:
    """Unreadable dates raise ValueError naming the accepted forms."""
    with pytest.raises(ValueError, match="date"):
        parse_timestamp(text)


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    """Tags go, entities are decoded, blocks become paragraphs, scripts and styles vanish."""
    html = (
        "<style>p{}</style><p>Aid &amp; fuel <b>reached</b>\n   Gaza.</p>"
        "<script>alert(1)</script><ul><li>One</li><li>Two</li></ul>Line<br/>break"
    )
    assert html_to_text(html) == "Aid & fuel reached Gaza.\n\nOne\n\nTwo\n\nLine\nbreak"


def test_html_to_text_of_plain_text_is_unchanged() -> None:
    """Text without markup passes through (whitespace normalised)."""
    assert html_to_text("  Plain   words. ") == "Plain words."
