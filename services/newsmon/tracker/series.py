"""Evolving quantity series: reported figures ordered by the date they refer to.

One series per (metric, location, period, relevant qualifiers: what is counted, e.g.
'children'; hedges like 'approximately' are not). Planned and baseline figures live in their
own series (the period is part of the id), so they never mix with daily actuals.

Policy for one date (documented in the README, tested in tests/unit/tracker):
* the same figure (value) for the same date from the same article counts once;
* the same figure from different sources raises its corroboration (distinct sources) and
  keeps the list of sources, articles, claimants and evidence;
* conflicting figures for one date are all kept; the series value for the date is the figure
  reported by the most distinct sources, then the most recently published one (a later report
  usually corrects an earlier one), then the exact one over an approximate one, then the larger;
  the others are listed in `alternatives`;
* a value is approximate only when every report of it is approximate ("about 30" and "30"
  make an exact 30).

The state of a series is a plain JSON-serialisable dict (it lives in a Faust table).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from newsmon.core.ids import slugify
from newsmon.core.models import (
    ArticleObservations,
    MetricUpdate,
    Observation,
    SeriesPoint,
    SourcedEvidence,
    utcnow,
)

#: A series keeps at most this many reports; the oldest dates are dropped first.
MAX_REPORTS = 5000

#: How many series keep their points cached between updates (see SeriesTracker.apply).
POINTS_CACHED = 256

#: Qualifiers that say how a figure was reported, not what was counted: hedges ("about 30",
#: "more than 100") and vague plurals ("hundreds of"). They do not split a series; the
#: `approximate` flag carries the hedge.
REPORT_QUALIFIERS = frozenset(
    {
        "approximately", "about", "around", "nearly", "almost", "roughly", "estimated",
        "close_to", "as_many_as", "more_than", "fewer_than", "less_than", "at_least", "at_most",
        "up_to", "dozens", "hundreds", "thousands", "millions", "scores", "tens",
    }
)  # fmt: skip

SeriesState = dict[str, Any]
Report = dict[str, Any]


def relevant_qualifiers(qualifiers: list[str] | tuple[str, ...]) -> list[str]:
    """The qualifiers that identify a series (what is counted), slugified and sorted."""
    return sorted(
        {slugify(q) for q in qualifiers if q.strip() and q.strip().lower() not in REPORT_QUALIFIERS}
    )


def series_id(
    metric: str, location: str | None, period: str, qualifiers: list[str] | tuple[str, ...] = ()
) -> str:
    """A readable, deterministic id: 'aid_trucks_entered@gaza/daily[+qualifier...]'."""
    quals = relevant_qualifiers(qualifiers)
    base = f"{metric}@{slugify(location) if location else 'anywhere'}/{period}"
    return base + "".join(f"+{q}" for q in quals)


def observation_series_id(obs: Observation) -> str:
    return series_id(obs.metric, obs.location, obs.period, obs.qualifiers)


def _value_key(value: float) -> float:
    # Figures come from text; rounding avoids 0.1+0.2 style mismatches between equal figures.
    return round(float(value), 6)


def route_observations(rec: ArticleObservations) -> list[tuple[str, Report]]:
    """Split an article's observations into per-series reports (the repartition step)."""
    out: list[tuple[str, Report]] = []
    ingested = rec.ingested_at or rec.extracted_at
    for obs in sorted(rec.observations, key=lambda o: (o.as_of, o.evidence.start, o.id)):
        out.append(
            (
                observation_series_id(obs),
                {
                    "series": {
                        "metric": obs.metric,
                        "unit": obs.unit,
                        "location": obs.location,
                        "period": obs.period,
                        "qualifiers": relevant_qualifiers(obs.qualifiers),
                    },
                    "observation_id": obs.id,
                    "as_of": obs.as_of.isoformat(),
                    "value": _value_key(obs.value),
                    "approximate": obs.approximate,
                    "claimant": obs.claimant,
                    "article_id": rec.article_id,
                    "source": rec.source,
                    "published_at": rec.published_at.isoformat(),
                    "ingested_at": ingested.isoformat(),
                    "evidence": obs.evidence.model_dump(mode="json"),
                },
            )
        )
    return out


@dataclass(frozen=True)
class _Figure:
    value: float
    reports: list[Report]

    @property
    def sources(self) -> list[str]:
        return sorted({r["source"] for r in self.reports})

    @property
    def latest(self) -> str:
        return str(max(r["published_at"] for r in self.reports))

    @property
    def approximate(self) -> bool:
        return all(r["approximate"] for r in self.reports)


def _choose(figures: list[_Figure]) -> _Figure:
    """The figure that stands for a date (see the module docstring for the policy)."""
    return max(
        figures,
        key=lambda f: (len(f.sources), f.latest, not f.approximate, f.value),
    )


def _point(as_of: str, reports: list[Report]) -> SeriesPoint:
    """The point of one date from that date's reports (in series order)."""
    by_value: dict[float, list[Report]] = {}
    for r in reports:
        by_value.setdefault(r["value"], []).append(r)
    figures = [_Figure(v, rs) for v, rs in by_value.items()]
    chosen = _choose(figures)
    evidence: list[SourcedEvidence] = []
    seen: set[tuple[str, int]] = set()
    for r in sorted(chosen.reports, key=lambda r: (r["published_at"], r["article_id"])):
        ev = r["evidence"]
        if (r["article_id"], ev["start"]) not in seen:
            seen.add((r["article_id"], ev["start"]))
            evidence.append(SourcedEvidence(article_id=r["article_id"], **ev))
    return SeriesPoint(
        as_of=dt.date.fromisoformat(as_of),
        value=chosen.value,
        approximate=chosen.approximate,
        corroboration=len(chosen.sources),
        sources=chosen.sources,
        article_ids=sorted({r["article_id"] for r in chosen.reports}),
        claimants=sorted({r["claimant"] for r in chosen.reports if r["claimant"]}),
        alternatives=sorted(f.value for f in figures if f is not chosen),
        evidence=evidence,
    )


def points(state: SeriesState) -> list[SeriesPoint]:
    """The series' points, one per date, ordered by `as_of`."""
    by_date: dict[str, list[Report]] = {}
    for r in state["reports"]:
        by_date.setdefault(r["as_of"], []).append(r)
    return [_point(as_of, by_date[as_of]) for as_of in sorted(by_date)]


def repoint(previous: list[SeriesPoint], state: SeriesState, as_of: str) -> list[SeriesPoint]:
    """`points(state)` when only the reports of `as_of` differ from those `previous` came from.

    A point depends on its own date's reports only, so the other points are reused rather than
    rebuilt (building every point on every update made an update cost grow with the series).
    """
    reports = state["reports"]
    lo = bisect.bisect_left(reports, as_of, key=_report_date)
    hi = bisect.bisect_right(reports, as_of, lo=lo, key=_report_date)
    out = list(previous)
    date = dt.date.fromisoformat(as_of)
    i = bisect.bisect_left(out, date, key=_point_date)
    if lo == hi:  # no report left for the date
        if i < len(out) and out[i].as_of == date:
            del out[i]
        return out
    point = _point(as_of, reports[lo:hi])
    if i < len(out) and out[i].as_of == date:
        out[i] = point
    else:
        out.insert(i, point)
    return out


def _point_date(p: SeriesPoint) -> dt.date:
    return p.as_of


def _report_date(r: Report) -> str:
    return str(r["as_of"])


def _report_order(r: Report) -> tuple[str, str, str, float]:
    return (r["as_of"], r["published_at"], r["article_id"], r["value"])


def add_report(state: SeriesState | None, sid: str, report: Report) -> tuple[SeriesState, bool]:
    """Add one report to a series; returns the new state and whether anything changed."""
    if state is None:
        state = {"series_id": sid, **report["series"], "reports": []}
    reports = list(state["reports"])  # kept sorted by _report_order
    # Reports are ordered by date first: only the reports of the same date can be duplicates.
    as_of = report["as_of"]
    lo = bisect.bisect_left(reports, as_of, key=_report_date)
    hi = bisect.bisect_right(reports, as_of, lo=lo, key=_report_date)
    for r in reports[lo:hi]:
        if r["article_id"] == report["article_id"] and r["value"] == report["value"]:
            return state, False
    stored = {k: v for k, v in report.items() if k != "series"}
    # Inserted in order rather than re-sorting the whole series (the keys are unique here).
    bisect.insort(reports, stored, lo=lo, hi=hi, key=_report_order)
    if len(reports) > MAX_REPORTS:
        reports = reports[-MAX_REPORTS:]
    return {**state, "reports": reports}, True


def metric_update(
    state: SeriesState,
    as_of: dt.date,
    report: Report,
    pts: list[SeriesPoint] | None = None,
) -> MetricUpdate | None:
    """The `news.metrics` record for a change of the series at `as_of`, caused by `report`.

    None when the date is no longer in the series (it fell off the MAX_REPORTS cap). `pts`
    are `points(state)` when the caller already has them.
    """
    if pts is None:
        pts = points(state)
    idx = next((i for i, p in enumerate(pts) if p.as_of == as_of), None)
    if idx is None:
        return None
    point = pts[idx]
    prev = pts[idx - 1] if idx > 0 else None
    change_abs = point.value - prev.value if prev else None
    change_pct = (
        round(100.0 * (point.value - prev.value) / prev.value, 4)
        if prev is not None and prev.value != 0
        else None
    )
    return MetricUpdate(
        series_id=state["series_id"],
        metric=state["metric"],
        unit=state["unit"],
        location=state["location"],
        qualifiers=state["qualifiers"],
        period=state["period"],
        as_of=point.as_of,
        value=point.value,
        approximate=point.approximate,
        previous_value=prev.value if prev else None,
        previous_as_of=prev.as_of if prev else None,
        previous_approximate=prev.approximate if prev else None,
        change_abs=change_abs,
        change_pct=change_pct,
        sources=point.sources,
        article_ids=point.article_ids,
        corroboration=point.corroboration,
        evidence=point.evidence,
        points=pts,
        event_time=dt.datetime.fromisoformat(report["published_at"]),
        updated_at=utcnow(),
        ingested_at=dt.datetime.fromisoformat(report["ingested_at"]),
    )


class SeriesTracker:
    """Keeps every series in a mapping (a Faust table in the service, a dict in tests)."""

    def __init__(self, store: MutableMapping[str, Any]) -> None:
        self.store = store
        # The points of recently updated series with the reports they were built from, so
        # that an update rebuilds only its own date's point (see `repoint`). Only a cache:
        # used when its reports equal the stored ones, so a rolled-back write is never seen.
        self._points: OrderedDict[str, tuple[list[Report], list[SeriesPoint]]] = OrderedDict()

    def apply(self, sid: str, report: Report) -> MetricUpdate | None:
        """Add a routed report; the update to publish, or None when it was already known."""
        before = self.store.get(sid)
        state, changed = add_report(before, sid, report)
        if not changed:
            return None
        self.store[sid] = state  # reassign: a Faust table only logs assignments
        cached = self._points.pop(sid, None)
        if (
            cached is not None
            and before is not None
            and len(state["reports"]) == len(before["reports"]) + 1  # nothing fell off the cap
            and cached[0] == before["reports"]
        ):
            pts = repoint(cached[1], state, report["as_of"])
        else:
            pts = points(state)
        self._points[sid] = (state["reports"], pts)
        if len(self._points) > POINTS_CACHED:
            self._points.popitem(last=False)
        return metric_update(state, dt.date.fromisoformat(report["as_of"]), report, pts)

    def process(self, rec: ArticleObservations) -> list[MetricUpdate]:
        """Route and apply one article's observations (what the two Faust stages do together)."""
        out = []
        for sid, report in route_observations(rec):
            update = self.apply(sid, report)
            if update is not None:
                out.append(update)
        return out
