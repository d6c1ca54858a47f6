"""Fixtures of the ingester's unit tests: the fixture data folder and a sink that keeps a list."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.ingester.sinks import ListSink

DATA = Path(__file__).resolve().parents[2] / "data" / "ingest"


@pytest.fixture
def data_dir() -> Path:
    """tests/data/ingest: good and bad input files."""
    return DATA


@pytest.fixture
def sink() -> ListSink:
    """A fresh list sink."""
    return ListSink()
