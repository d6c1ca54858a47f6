"""Resolve the dates articles write ("on Friday", "yesterday", "October 21", "last week")
against the article's own date."""

from __future__ import annotations

import datetime as dt
import re

WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "a": 1}  # fmt: skip

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_DAY = re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?\b")
_DAY_MONTH = re.compile(
    r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(?P<year>\d{4}))?\b"
)
_WEEKDAY = re.compile(r"\b(?P<last>last\s+)?(?P<wd>" + "|".join(WEEKDAYS) + r")\b")
_AGO = re.compile(
    r"\b(?P<n>\d+|" + "|".join(_NUMBER_WORDS) + r")\s+(?P<unit>day|week|month)s?\s+ago\b"
)
_FOLLOWING = re.compile(
    r"\b(following|subsequent|next|ensuing|coming|later)\s+(day|days)\b|\bthe day after\b"
)


def _year_nearest(month: int, day: int, ref: dt.date) -> dt.date | None:
    """A month/day without a year: the year that puts it closest to the reference date."""
    best: dt.date | None = None
    for year in (ref.year - 1, ref.year, ref.year + 1):
        try:
            cand = dt.date(year, month, day)
        except ValueError:
            continue
        if best is None or abs((cand - ref).days) < abs((best - ref).days):
            best = cand
    return best


def resolve_relative_date(text: str, ref: dt.date, anchor: dt.date | None = None) -> dt.date | None:
    """The calendar date a date expression refers to, or None if it names no single day.

    `ref` is the article's date. Weekday names mean the most recent such day on or before it
    ("on Friday" in a Monday article is three days earlier; "last Monday" in a Monday article
    is a week earlier). `anchor` is a date just mentioned, which "the following day" and
    "the day before" are relative to (defaults to `ref`); "in the following days" after an
    anchor is the period up to the article's date, so it resolves to `ref`.
    """
    t = text.lower().replace("’", "'").strip()
    base = anchor or ref
    m = _ISO.search(t)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        m = pattern.search(t)
        if m:
            month, day = MONTHS[m.group("month")], int(m.group("day"))
            if m.group("year"):
                try:
                    return dt.date(int(m.group("year")), month, day)
                except ValueError:
                    return None
            return _year_nearest(month, day, ref)
    if re.search(r"\bday before yesterday\b", t):
        return ref - dt.timedelta(days=2)
    if re.search(r"\byesterday\b|\blast night\b", t):
        return ref - dt.timedelta(days=1)
    if re.search(r"\bthe (previous|preceding) day\b|\bthe day before\b", t):
        return base - dt.timedelta(days=1)
    m = _FOLLOWING.search(t)
    if m:
        if anchor is None:
            return None
        # "in the following days" is a period after the anchor that runs up to the article:
        # the figure holds as of the article's date. "The following day" is one day later.
        if m.group(2) == "days" and anchor < ref:
            return ref
        return anchor + dt.timedelta(days=1)
    if re.search(r"\b(today|tonight|this (morning|afternoon|evening)|now|currently)\b", t):
        return ref
    if re.search(r"\blast week\b|\ba week ago\b", t):
        return ref - dt.timedelta(days=7)
    if re.search(r"\blast month\b", t):
        return ref - dt.timedelta(days=30)
    m = _AGO.search(t)
    if m:
        n = int(m.group("n")) if m.group("n").isdigit() else _NUMBER_WORDS[m.group("n")]
        days = {"day": 1, "week": 7, "month": 30}[m.group("unit")] * n
        return ref - dt.timedelta(days=days)
    m = _WEEKDAY.search(t)
    if m:
        back = (ref.weekday() - WEEKDAYS[m.group("wd")]) % 7
        if back == 0 and m.group("last"):
            back = 7
        return ref - dt.timedelta(days=back)
    return None
