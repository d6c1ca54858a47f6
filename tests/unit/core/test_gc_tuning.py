"""The stream services' garbage-collector settings (core/faustapp.py tune_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from newsmon.core.config import Settings
from newsmon.core.faustapp import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_threshold_raised_and_startup_objects_frozen(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_freeze_count() > 0


def test_zero_keeps_pythons_defaults(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10)


def test_setting_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gc_threshold == 200_000
    monkeypatch.setenv("NEWSMON_GC_THRESHOLD", "0")
    assert Settings().gc_threshold == 0
