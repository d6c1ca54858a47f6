"""Unit tests of the number parser."""

from __future__ import annotations

import pytest

from newsmon.extractor.numbers import parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100", 100),
        ("1,200", 1200),
        ("75,000", 75000),
        ("3.5", 3.5),
        ("1.9 million", 1_900_000),
        ("six", 6),
        ("Thirteen", 13),
        ("twenty-five", 25),
        ("two million", 2_000_000),
        ("two hundred", 200),
        ("three hundred thousand", 300_000),
        ("a dozen", 12),
        ("a third", 1 / 3),
        ("one-third", 1 / 3),
        ("two-thirds", 2 / 3),
        ("half", 0.5),
        ("a quarter", 0.25),
        ("2m", 2_000_000),
    ],
)
def test_parses(text: str, value: float) -> None:
    """Digits, number words, scales and fractions give their value."""
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "trucks", "a", "million", "third"])
def test_rejects_non_numbers(text: str) -> None:
    """Words that are not a figure give None."""
    assert parse_number(text) is None
