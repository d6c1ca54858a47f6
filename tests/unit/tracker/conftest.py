"""Fixtures of the tracker unit tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest


@pytest.fixture
def d() -> Any:
    """Dates in November 2023: d(10) is 2023-11-10."""
    return lambda day: dt.date(2023, 11, day)
