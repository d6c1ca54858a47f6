"""Fixtures of the extractor's unit tests: spaCy is loaded once per test session."""

from __future__ import annotations

import pytest

from newsmon.core.config import Settings
from newsmon.extractor.pipeline import Extractor


@pytest.fixture(scope="session")
def extractor() -> Extractor:
    """The real extractor (spaCy model + catalogues), shared by every test of the session."""
    return Extractor.from_settings(Settings())
