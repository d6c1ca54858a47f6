"""The benchmark's in-process figures of the tracker's and the alerter's own logic."""

from __future__ import annotations

import datetime as dt
import gc

from bench.logic import alerter_logic, tracker_logic
from tests.unit.tracker.builders import (
    article_entities,
    article_events,
    article_observations,
    entity,
    event,
    observation,
)

from newsmon.core import serde
from newsmon.core.models import ArticleObservations
from newsmon.tracker.series import SeriesTracker


def _fed(articles: int) -> dict[str, list[tuple[bytes | None, bytes]]]:
    day = dt.date(2023, 11, 10)
    data: dict[str, list[tuple[bytes | None, bytes]]] = {
        "observations": [],
        "entities": [],
        "events": [],
    }
    for i in range(articles):
        a = f"a{i}"
        data["observations"].append(
            (
                a.encode(),
                serde.encode(
                    article_observations(
                        a,
                        observation(100 - i, day + dt.timedelta(days=i)),
                        observation(5 + i, day, metric="ambulances_crossed", start=9),
                    )
                ),
            )
        )
        data["entities"].append(
            (
                a.encode(),
                serde.encode(
                    article_entities(
                        a,
                        entity("turkey", "Turkey", "GPE"),
                        entity(f"p{i}", f"Person {i}"),
                    )
                ),
            )
        )
        data["events"].append(
            (
                a.encode(),
                serde.encode(
                    article_events(
                        a,
                        event(f"e{i}", day, -4.0),
                    )
                ),
            )
        )
    return data


def test_tracker_logic_counts_what_the_service_would_do() -> None:
    """Every observation, sighting and event is applied once; the outputs are counted."""
    threshold = gc.get_threshold()
    out = tracker_logic(_fed(40), window_days=30, coalesce="all")
    assert out["observations"] == 80
    assert out["items"] == {"observations": 80, "entities": 80, "events": 40}
    # One series record per changed date of a batch: the 40 dates of the trucks' series and
    # the one date of the ambulances' (all in one batch); 41 first sightings and salience
    # records; tone records.
    assert out["outputs"] >= 41 + 41
    assert out["observations_per_s"] > 0
    assert 0 < out["table_writes"] < 4 * (80 + 80 + 40)
    assert gc.get_threshold() == threshold  # the collector is restored
    # A record per report instead (`metrics_coalesce` "none"): 39 more series records.
    each = tracker_logic(_fed(40), window_days=30, coalesce="none")
    assert each["outputs"] == out["outputs"] + 39
    assert each["table_writes"] == out["table_writes"]
    # "unchanged" (the default): each ambulance figure is larger than the one before, so it
    # moves the date's value and is published at once, as with "none".
    moved = tracker_logic(_fed(40), window_days=30)
    assert moved["outputs"] == each["outputs"]


def test_alerter_logic_runs_rules_and_gate_on_tracker_output() -> None:
    """Aid trucks below 100 in Gaza fire the default threshold rule; records are counted."""
    tracker = SeriesTracker({})
    metrics = [
        (u.series_id.encode(), serde.encode(u))
        for _, v in _fed(40)["observations"]
        for u in tracker.process(ArticleObservations.model_validate_json(v))
    ]
    out = alerter_logic({"metrics": metrics})
    assert out["records"] == len(metrics) == 80
    assert out["candidates"] > 0 and out["alerts"] > 0
    assert out["alerts"] <= out["candidates"]
    assert out["records_per_s"] > 0
