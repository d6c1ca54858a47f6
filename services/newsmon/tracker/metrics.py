"""Prometheus metrics of the tracker (names `newsmon_<what>_<unit>`, bounded label sets)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge, Histogram

#: At most this many series get a value gauge (label values must stay bounded).
MAX_EXPORTED_SERIES = 200

SERIES_VALUE = Gauge(
    "newsmon_series_value",
    f"Latest value of a tracked series (the first {MAX_EXPORTED_SERIES} series only)",
    ["series", "metric", "unit"],
)
#: At most this many ordered pairs get a tone gauge.
MAX_EXPORTED_PAIRS = 200

RELATION_TONE = Gauge(
    "newsmon_relation_tone_goldstein",
    f"Rolling mean Goldstein value of an ordered actor pair (the first {MAX_EXPORTED_PAIRS} "
    "pairs only)",
    ["actor", "target"],
)
SERIES_TRACKED = Gauge("newsmon_series_tracked", "Series held by this tracker worker")
ACTORS_KNOWN = Gauge("newsmon_actors_known", "Actors seen so far by this tracker worker")
STATE_ENTRIES = Gauge(
    "newsmon_tracker_state_entries", "Entries in each tracker table (state size)", ["table"]
)
EVENT_TIME_LAG = Histogram(
    "newsmon_tracker_event_time_lag_seconds",
    "Processing time minus the article's published time, by input topic",
    ["input"],
    buckets=(60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400),
)
PROCESSING_LAG = Gauge(
    "newsmon_tracker_processing_lag_seconds",
    "Seconds between extraction and tracking of the last record, by input topic",
    ["input"],
)

_exported: dict[str, Any] = {}  # series id: its gauge (a labelled child, looked up once)
_exported_pairs: set[tuple[str, str]] = set()


def export_series_value(series_id: str, metric: str, unit: str, value: float) -> None:
    """Set a series gauge, unless the cap of exported series is reached."""
    gauge = _exported.get(series_id)
    if gauge is None:
        if len(_exported) >= MAX_EXPORTED_SERIES:
            return
        gauge = _exported[series_id] = SERIES_VALUE.labels(
            series=series_id, metric=metric, unit=unit
        )
    gauge.set(value)


def export_relation_tone(actor: str, target: str, mean: float) -> None:
    """Set a pair's tone gauge, unless the cap of exported pairs is reached."""
    pair = (actor, target)
    if pair not in _exported_pairs:
        if len(_exported_pairs) >= MAX_EXPORTED_PAIRS:
            return
        _exported_pairs.add(pair)
    RELATION_TONE.labels(actor=actor, target=target).set(mean)
