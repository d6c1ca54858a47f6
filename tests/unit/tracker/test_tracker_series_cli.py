"""`newsmon series`: latest state per series, point listing, OpenMetrics text, the plot."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.unit.tracker.builders import article_observations, observation

from newsmon.alerter.alerts import Evaluator
from newsmon.alerter.rules import load_rules
from newsmon.cli.series import latest_series, openmetrics, plot, print_points, select
from newsmon.core import serde
from newsmon.tracker import metrics as m
from newsmon.tracker.series import SeriesTracker


def seed_values(d: Any) -> list[bytes]:
    rec = article_observations(
        "a1", observation(100, d(10)), observation(30, d(13), approximate=True)
    )
    return [serde.encode(u) for u in SeriesTracker({}).process(rec)]


def test_latest_update_per_series_wins(d: Any) -> None:
    """The last record of a series carries its whole history."""
    series = latest_series([*seed_values(d), b"not json"])
    (u,) = select(series, "aid_trucks_entered", "gaza")
    assert [p.value for p in u.points] == [100, 30]
    assert select(series, "aid_trucks_entered", "rafah") == []


def test_points_listing_shows_date_value_approx_sources(d: Any) -> None:
    """Each point prints its date, value, approximate flag, corroboration and sources."""
    out = io.StringIO()
    print_points(next(iter(latest_series(seed_values(d)).values())), out)
    lines = out.getvalue().splitlines()
    assert lines[2].split() == ["2023-11-10", "100", "no", "1", "guardian"]
    assert lines[3].split() == ["2023-11-13", "30", "yes", "1", "guardian"]


def test_openmetrics_text_has_timestamps_and_eof(d: Any) -> None:
    """Samples carry the as_of date (midnight UTC) as timestamp; the text ends with # EOF."""
    text = openmetrics(list(latest_series(seed_values(d)).values()))
    assert 'newsmon_series_value{series="aid_trucks_entered@gaza/daily"' in text
    assert "} 100 1699574400\n" in text and text.endswith("# EOF\n")


@pytest.mark.prometheus
def test_openmetrics_text_is_accepted_by_promtool(d: Any, tmp_path: Path) -> None:
    """`promtool tsdb create-blocks-from openmetrics` turns the text into TSDB blocks."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    src = tmp_path / "series.om"
    src.write_text(openmetrics(list(latest_series(seed_values(d)).values())))
    res = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(src), str(tmp_path / "db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr


def test_plot_marks_alerts(d: Any, tmp_path: Path) -> None:
    """The plot is written as a PNG, with the series' alerts drawn on it."""
    series = list(latest_series(seed_values(d)).values())
    alerts = Evaluator(load_rules()).on_metric(series[0])
    path = tmp_path / "trucks.png"
    plot(series, alerts, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_series_gauges_are_capped() -> None:
    """No more than MAX_EXPORTED_SERIES series get a value gauge (bounded labels)."""
    m._exported.clear()
    for i in range(m.MAX_EXPORTED_SERIES + 5):
        m.export_series_value(f"s{i}", "metric", "truck", float(i))
    assert len(m._exported) == m.MAX_EXPORTED_SERIES
    samples = [s for s in m.SERIES_VALUE.collect()[0].samples if s.labels["series"].startswith("s")]
    assert len(samples) == m.MAX_EXPORTED_SERIES


def test_the_trackers_state_completes_a_compacted_series(d: Any) -> None:
    """With only a series' last record left (a compacted topic), the points held in the
    tracker's series header (its changelog) give the whole history back."""
    import json

    from newsmon.cli.series import with_history
    from newsmon.core.tables import encode_value

    store: dict[str, Any] = {}
    tracker = SeriesTracker(store, window_days=2)
    values = []
    for i, n in enumerate([1, 5, 9, 13]):
        rec = article_observations(f"a{i}", observation(10 * n, d(n)))
        values += [serde.encode(u) for u in tracker.process(rec)]
    sid = "aid_trucks_entered@gaza/daily"
    compacted = latest_series(values[-1:])
    assert [p.as_of for p in compacted[sid].points] == [d(9), d(13)]
    changelog = [(json.dumps(k).encode(), encode_value(v)) for k, v in store.items()] + [
        (b"not json", b"{}"),
        (json.dumps("other@x/daily").encode(), None),
    ]
    (u,) = with_history(compacted, changelog).values()
    assert [(p.as_of, p.value) for p in u.points] == [(d(n), 10 * n) for n in (1, 5, 9, 13)]
