"""Unit tests of `resolve_relative_date`."""

from __future__ import annotations

import datetime as dt

import pytest

from newsmon.extractor.dates import resolve_relative_date

MONDAY = dt.date(2023, 11, 13)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on Friday", dt.date(2023, 11, 10)),
        ("Sunday night", dt.date(2023, 11, 12)),
        ("Saturday morning", dt.date(2023, 11, 11)),
        ("Monday", MONDAY),
        ("last Monday", dt.date(2023, 11, 6)),
        ("yesterday", dt.date(2023, 11, 12)),
        ("the day before yesterday", dt.date(2023, 11, 11)),
        ("today", MONDAY),
        ("last week", dt.date(2023, 11, 6)),
        ("two days ago", dt.date(2023, 11, 11)),
        ("3 weeks ago", dt.date(2023, 10, 23)),
        ("October 21", dt.date(2023, 10, 21)),
        ("21 October", dt.date(2023, 10, 21)),
        ("Oct. 7", dt.date(2023, 10, 7)),
        ("October 7, 2022", dt.date(2022, 10, 7)),
        ("2023-11-01", dt.date(2023, 11, 1)),
        ("January 3", dt.date(2024, 1, 3)),
    ],
)
def test_resolves_against_article_date(text: str, expected: dt.date) -> None:
    """Weekdays are the most recent such day on or before the article date; dates without
    a year take the year nearest to the article."""
    assert resolve_relative_date(text, MONDAY) == expected


def test_weekday_in_a_monday_article_is_days_earlier() -> None:
    """'on Friday' in a Monday article is three days earlier."""
    assert (MONDAY - resolve_relative_date("on Friday", MONDAY)).days == 3  # type: ignore[operator]


def test_following_days_need_an_anchor() -> None:
    """'in subsequent days' runs from the date just mentioned to the article; nothing alone."""
    friday = dt.date(2023, 11, 10)
    assert resolve_relative_date("in subsequent days", MONDAY) is None
    assert resolve_relative_date("in subsequent days", MONDAY, friday) == MONDAY
    assert resolve_relative_date("the following day", MONDAY, friday) == dt.date(2023, 11, 11)
    assert resolve_relative_date("in the following days", friday, friday) == dt.date(2023, 11, 11)
    assert resolve_relative_date("the day before", MONDAY, dt.date(2023, 11, 10)) == dt.date(
        2023, 11, 9
    )


@pytest.mark.parametrize("text", ["four days", "in the coming weeks", "recently", "October"])
def test_no_single_day(text: str) -> None:
    """Durations and vague times resolve to no date."""
    assert resolve_relative_date(text, MONDAY) is None
