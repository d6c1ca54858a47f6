"""Fixtures of the alerter unit tests."""

from __future__ import annotations

import pytest

from newsmon.alerter.rules import RuleSet, load_rules


@pytest.fixture(scope="session")
def default_rules() -> RuleSet:
    return load_rules()
