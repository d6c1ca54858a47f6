"""Parse written figures: digits ("1,200", "3.5 million"), number words ("six", "two
million", "twenty-five") and fractions ("a third", "half", "two-thirds")."""

from __future__ import annotations

import re

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "a": 1, "an": 1, "dozen": 12,
}  # fmt: skip
SCALES = {
    "hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
    "m": 1_000_000, "mn": 1_000_000, "bn": 1_000_000_000, "k": 1_000,
}  # fmt: skip
FRACTIONS = {
    "half": 0.5, "halves": 0.5, "third": 1 / 3, "thirds": 1 / 3, "quarter": 0.25,
    "quarters": 0.25, "fourth": 0.25, "fourths": 0.25, "fifth": 0.2, "fifths": 0.2,
    "tenth": 0.1, "tenths": 0.1,
}  # fmt: skip

#: Words that can be part of a written number (used to find a figure's extent).
NUMBER_WORDS = frozenset(UNITS) - {"a", "an"} | frozenset(SCALES) - {"m", "k", "mn", "bn"}

_DIGITS = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?$")
_SUFFIXED = re.compile(r"^(\d+(?:\.\d+)?)(k|m|mn|bn)$", re.IGNORECASE)
_SPLIT = re.compile(r"[\s\-]+")


def _digits(token: str) -> float | None:
    m = _DIGITS.match(token)
    if m:
        return float(m.group(1).replace(",", "") + ("." + m.group(2) if m.group(2) else ""))
    m = _SUFFIXED.match(token)
    if m:
        return float(m.group(1)) * SCALES[m.group(2).lower()]
    return None


def parse_number(text: str) -> float | None:
    """The value of a written figure, or None when `text` is not one.

    >>> parse_number("two million"), parse_number("1,200"), parse_number("a third")
    (2000000.0, 1200.0, 0.3333333333333333)
    """
    words = [w for w in _SPLIT.split(text.strip().lower().replace("’", "'")) if w and w != "and"]
    if not words or words == ["a"] or words == ["an"]:
        return None
    # fractions: "a third", "one-third", "two thirds", "half"
    if words[-1] in FRACTIONS and len(words) <= 2:
        if len(words) == 1:
            return FRACTIONS[words[0]] if words[0].startswith("half") else None
        num = _digits(words[0]) if words[0][0].isdigit() else UNITS.get(words[0])
        return None if num is None else float(num) * FRACTIONS[words[-1]]
    total = 0.0
    current = 0.0
    seen = False
    for w in words:
        value = _digits(w)
        if value is not None:
            current += value
            seen = True
        elif w in UNITS and not (w in ("a", "an") and seen):
            if w == "dozen":
                current = (current or 1) * 12
            else:
                current += UNITS[w]
            seen = True
        elif w in SCALES and seen:
            scale = SCALES[w]
            if scale == 100:
                current *= scale
            else:
                total += current * scale
                current = 0.0
        else:
            return None
    if not seen:
        return None
    return total + current
