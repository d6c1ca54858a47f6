"""`newsmon series`: the tracked series from the compacted `news.metrics` topic.

The series are the records of `news.metrics` merged in order, completed with the points the
tracker's state holds (its series table's changelog), so the whole history shows after the
topic is compacted too. Lists the series, prints one series' points, plots it with its alerts
marked (`--plot`), or prints it as OpenMetrics text for `promtool tsdb create-blocks-from
openmetrics`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from newsmon.core import topics
from newsmon.core.config import load_settings
from newsmon.core.kafka import read_topic_records, read_topic_values
from newsmon.core.models import Alert, MetricUpdate, SeriesPoint, merge_series
from newsmon.core.textsafe import clean


def register(sub: Any) -> None:
    """Add `series` to the `newsmon` parser."""
    p = sub.add_parser("series", help="list tracked series or print one series' history")
    p.add_argument("metric", nargs="?", help="metric id (or a series id); omit to list series")
    p.add_argument("--location", help="only series at this location id, e.g. gaza")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the series with alerts")
    p.add_argument("--openmetrics", action="store_true", help="print points as OpenMetrics text")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topics")
    p.set_defaults(func=run_series)


def latest_series(values: list[bytes]) -> dict[str, MetricUpdate]:
    """Each series' last update with every point its updates carried (`merge_series`)."""
    updates: list[MetricUpdate] = []
    for v in values:
        try:
            updates.append(MetricUpdate.model_validate_json(v))
        except (ValidationError, ValueError):
            continue
    # One series is one key, hence one partition: the read order is the publication order.
    return merge_series(updates)


def tracker_state_name(settings: Any) -> str:
    """The changelog of the tracker's series table (its state, compacted: every header)."""
    return f"{settings.topic_prefix}newsmon-tracker-series-changelog"


def with_history(
    series: dict[str, MetricUpdate], state: list[tuple[bytes | None, bytes | None]]
) -> dict[str, MetricUpdate]:
    """`series` with every point the tracker's state holds for them.

    A `news.metrics` record carries a window of its series; once the topic is compacted,
    only each series' last window is left there. The tracker's series table keeps every
    date's point (key `series id|date`; a header of an earlier version kept them all under
    the series id), so its changelog completes them. Points on the records read win over
    the state's for the same date (the state is written just after them).
    """
    latest: dict[str, Any] = {}
    for key, value in state:  # the changelog in order: the last value of a key wins
        try:
            k = json.loads(key) if key is not None else None
        except ValueError:
            continue
        if isinstance(k, str):
            latest[k] = value
    stored: dict[str, dict[str, Any]] = {}
    for k, value in latest.items():
        sid, _, rest = k.partition("|")
        if sid not in series or value is None or "|" in rest:
            continue
        try:
            doc = json.loads(value)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        if rest and isinstance(doc.get("point"), dict):
            stored.setdefault(sid, {})[rest] = doc["point"]
        elif not rest and isinstance(doc.get("points"), dict):
            for as_of, raw in doc["points"].items():
                stored.setdefault(sid, {}).setdefault(as_of, raw)
    out = dict(series)
    for sid, raws in stored.items():
        points: dict[dt.date, SeriesPoint] = {}
        for raw in raws.values():
            try:
                p = SeriesPoint.model_validate(raw)
            except ValidationError:
                continue
            points[p.as_of] = p
        for p in series[sid].points:
            points[p.as_of] = p
        out[sid] = series[sid].model_copy(update={"points": [points[d] for d in sorted(points)]})
    return out


def select(
    series: dict[str, MetricUpdate], metric: str | None, location: str | None
) -> list[MetricUpdate]:
    return sorted(
        (
            u
            for u in series.values()
            if (metric is None or metric in (u.metric, u.series_id))
            and (location is None or u.location == location)
        ),
        key=lambda u: u.series_id,
    )


def print_list(found: list[MetricUpdate], out: TextIO) -> None:
    print(f"{'SERIES':<44} {'POINTS':>6}  {'LATEST':<10}  {'VALUE':>10}  UNIT", file=out)
    for u in found:
        p = u.points[-1]
        value = ("~" if p.approximate else "") + f"{p.value:g}"
        print(f"{u.series_id:<44} {len(u.points):>6}  {p.as_of}  {value:>10}  {u.unit}", file=out)


def print_points(u: MetricUpdate, out: TextIO) -> None:
    where = f" at {u.location}" if u.location else ""
    print(f"{u.series_id}: {u.metric}{where}, {u.period}, unit {u.unit}", file=out)
    print(f"  {'DATE':<10}  {'VALUE':>10}  {'APPROX':<6}  {'CORR':>4}  SOURCES", file=out)
    for p in u.points:
        alt = (
            f"  (also reported: {', '.join(f'{a:g}' for a in p.alternatives)})"
            if p.alternatives
            else ""
        )
        print(
            f"  {p.as_of}  {p.value:>10g}  {'yes' if p.approximate else 'no':<6}  "
            f"{p.corroboration:>4}  {clean(', '.join(p.sources), single_line=True)}{alt}",
            file=out,
        )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(found: list[MetricUpdate]) -> str:
    """The points as OpenMetrics text (timestamp = midnight UTC of as_of), ending in # EOF.

    Same name and labels as the tracker's live gauge, so backfilled history joins live data.
    """
    lines = [
        "# HELP newsmon_series_value Value of a tracked series at the date it refers to",
        "# TYPE newsmon_series_value gauge",
    ]
    for u in found:
        labels = (
            f'series="{_label(u.series_id)}",metric="{_label(u.metric)}",unit="{_label(u.unit)}"'
        )
        for p in u.points:
            ts = int(dt.datetime.combine(p.as_of, dt.time(), dt.UTC).timestamp())
            lines.append(f"newsmon_series_value{{{labels}}} {p.value:g} {ts}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def plot(found: list[MetricUpdate], alerts: list[Alert], path: Path) -> None:
    """Draw the series (hollow markers = approximate) with their alerts marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def x(d: dt.date) -> float:
        return float(mdates.date2num(d))  # type: ignore[no-untyped-call]

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    notes: list[tuple[str, str]] = []  # (colour, text) of each alert, listed under the plot
    per_date: dict[dt.date, int] = {}  # alerts on one date are stacked, not drawn over each other
    dates: list[dt.date] = []
    for u in found:
        dates += [p.as_of for p in u.points]
        xs = [x(p.as_of) for p in u.points]
        ys = [p.value for p in u.points]
        (line,) = ax.plot(xs, ys, "-", label=f"{u.series_id} ({u.unit})")
        for p in u.points:
            ax.plot(
                [x(p.as_of)],
                [p.value],
                "o",
                color=line.get_color(),
                markerfacecolor="white" if p.approximate else line.get_color(),
            )
            ax.annotate(
                ("~" if p.approximate else "") + f"{p.value:g}",
                (x(p.as_of), p.value),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
            )
        for a in alerts:
            if a.subject != u.series_id or not a.values:
                continue
            at = a.values[-1]
            colour = {"critical": "red", "warning": "darkorange"}.get(a.severity, "grey")
            ax.axvline(x(at.as_of), color=colour, linestyle="--", linewidth=1)
            status = "" if a.status == "firing" else " (resolved)"
            label = clean(a.title, single_line=True, limit=110)
            notes.append((colour, f"[{len(notes) + 1}] {a.severity} {a.kind}{status}: {label}"))
            k = per_date[at.as_of] = per_date.get(at.as_of, 0) + 1
            ax.annotate(
                f"[{len(notes)}]",
                (x(at.as_of), at.value),
                textcoords="offset points",
                xytext=(6, 2 - 11 * k),
                fontsize=8,
                color=colour,
            )
    ax.set_title(", ".join(u.metric for u in found) + " (newsmon)")
    ax.set_xlabel("as of (news time)")
    ax.set_ylabel(", ".join(sorted({u.unit for u in found})))
    if dates:
        lo, hi = min(dates), max(dates)
        ax.set_xlim(x(lo) - 0.5, x(hi) + 0.5)
    # matplotlib ships its date locators and formatters without annotations.
    # A few days of news get one tick per day (the automatic locator picks half days).
    short = bool(dates) and (max(dates) - min(dates)).days <= 10
    locator = mdates.DayLocator() if short else mdates.AutoDateLocator(maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %Y"))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    bottom = 0.12 + 0.035 * len(notes)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    for i, (colour, text) in enumerate(notes):
        fig.text(0.02, bottom - 0.05 - 0.035 * i, text, fontsize=8, color=colour)
    fig.savefig(path)
    plt.close(fig)


def run_series(args: argparse.Namespace) -> int:
    settings = load_settings()
    series = latest_series(asyncio.run(read_topic_values(settings, topics.METRICS, args.timeout)))
    if series:
        state = asyncio.run(
            read_topic_records(settings, tracker_state_name(settings), args.timeout)
        )
        series = with_history(series, state)
    found = select(series, args.metric, args.location)
    if not found:
        what = f"metric {args.metric!r}" if args.metric else "any series"
        where = f" at {args.location!r}" if args.location else ""
        print(
            f"newsmon series: no {what}{where} on "
            f"{topics.topic_name(topics.METRICS, settings.topic_prefix)}; list them with "
            f"`newsmon series`",
            file=sys.stderr,
        )
        return 1
    if args.openmetrics:
        sys.stdout.write(openmetrics(found))
        return 0
    if args.metric is None:
        print_list(found, sys.stdout)
    else:
        for u in found:
            print_points(u, sys.stdout)
    if args.plot:
        values = asyncio.run(read_topic_values(settings, topics.ALERTS, args.timeout))
        alerts = []
        for v in values:
            try:
                alerts.append(Alert.model_validate_json(v))
            except (ValidationError, ValueError):
                continue
        plot(found, alerts, args.plot)
        print(f"plot written to {args.plot}")
    return 0
