"""Evolving quantity series: reported figures ordered by the date they refer to.

One series per (metric, location, period, relevant qualifiers: what is counted, e.g.
'children'; hedges like 'approximately' are not). Planned and baseline figures live in their
own series (the period is part of the id), so they never mix with daily actuals.

Policy for one date (documented in the README, tested in tests/unit/tracker):
* the same figure (value) for the same date from the same article counts once;
* the same figure from different sources raises its corroboration (distinct sources) and its
  report count, and keeps the list of sources (all), article ids (the first 10 counted),
  claimants (10) and evidence sentences (the 3 earliest published);
* conflicting figures for one date are all kept; the series value for the date is the figure
  reported by the most distinct sources, then the most recently published one (a later report
  usually corrects an earlier one), then the exact one over an approximate one, then the larger;
  the others are listed in `alternatives`;
* a value is approximate only when every report of it is approximate ("about 30" and "30"
  make an exact 30).

The state of a series is plain JSON-serialisable dicts in a store (a Faust table), split so that
an update writes a few small values (see `add_report`): a header with what the series measures
and its dates, per date an entry with the index of its figures and its point, and per distinct
value of a date the reports folded into one figure (distinct sources, latest publication,
approximate flag, report count, and at most a few article ids and evidence sentences). An
update therefore costs the same whether a thousand articles or one reported the figure, whether
a date has one figure or fifty, and whether the series has ten dates or two thousand. The reports
already counted are listed, per article and partition, in a second table (`seen`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any

from newsmon.core import lean
from newsmon.core.bundles import partition_of
from newsmon.core.dlq import Failed
from newsmon.core.ids import slugify
from newsmon.core.models import (
    ArticleObservations,
    MetricUpdate,
    Observation,
    SeriesPoint,
    utcnow,
)
from newsmon.core.tables import Scope, within

#: A series keeps at most this many dates; the oldest are dropped first.
MAX_DATES = 2000
#: Per figure of a date: the evidence sentences, article ids and claimants kept (the counts
#: -- reports, corroboration -- stay exact). The state of a series therefore grows with its
#: dates and distinct figures, not with the number of articles that report them.
MAX_EVIDENCE = 3
MAX_ARTICLE_IDS = 10
MAX_CLAIMANTS = 10

#: A `news.metrics` record carries the points this many days either side of its date (the
#: setting `metrics_window_days`); a whole series in every record made an update cost (and a
#: record's size) grow with the series' length.
WINDOW_DAYS = 30

#: Decoded points kept between updates (see SeriesTracker.apply).
POINTS_CACHED = 8192

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
#: One value reported for one date, with its reports folded in (sources, counts, evidence).
Figure = dict[str, Any]


#: The model the tracker's router decodes `news.observations` with: the contract's, with the
#: items it nests as dicts (core/lean.py).
ROUTED = lean.lean_model(ArticleObservations)


def relevant_qualifiers(qualifiers: list[str] | tuple[str, ...]) -> list[str]:
    """The qualifiers that identify a series (what is counted), slugified and sorted."""
    return sorted(
        {slugify(q) for q in qualifiers if q.strip() and q.strip().lower() not in REPORT_QUALIFIERS}
    )


def series_id(
    metric: str, location: str | None, period: str, qualifiers: list[str] | tuple[str, ...] = ()
) -> str:
    """A readable, deterministic id: 'aid_trucks_entered@gaza/daily[+qualifier...]'."""
    return _identity(metric, location, period, tuple(qualifiers))[0]


@functools.lru_cache(maxsize=16_384)
def _identity(
    metric: str, location: str | None, period: str, qualifiers: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """A series' id and its relevant qualifiers. Cached: slugifying the location and the
    qualifiers (Unicode normalisation, two regular expressions each) was most of routing an
    observation, and the same few series come back article after article."""
    quals = relevant_qualifiers(qualifiers)
    base = f"{metric}@{slugify(location) if location else 'anywhere'}/{period}"
    return base + "".join(f"+{q}" for q in quals), tuple(quals)


def observation_series_id(obs: Observation) -> str:
    return series_id(obs.metric, obs.location, obs.period, obs.qualifiers)


def _value_key(value: float) -> float:
    # Figures come from text; rounding avoids 0.1+0.2 style mismatches between equal figures.
    return round(float(value), 6)


def _report_order(obs: dict[str, Any]) -> tuple[Any, ...]:
    return (obs["as_of"], obs["evidence"]["start"], obs["id"])


def route_observations(rec: ArticleObservations) -> list[tuple[str, Report]]:
    """Split an article's observations into per-series reports (the repartition step).

    `rec` is best decoded by `ROUTED` (its observations as dicts, core/lean.py)."""
    out: list[tuple[str, Report]] = []
    ingested = (rec.ingested_at or rec.extracted_at).isoformat()
    published = rec.published_at.isoformat()
    for obs in sorted(lean.items(rec.observations), key=_report_order):
        sid, quals = _identity(
            obs["metric"], obs["location"], obs["period"], tuple(obs["qualifiers"])
        )
        out.append(
            (
                sid,
                {
                    "series": {
                        "metric": obs["metric"],
                        "unit": obs["unit"],
                        "location": obs["location"],
                        "period": obs["period"],
                        "qualifiers": list(quals),
                    },
                    "observation_id": obs["id"],
                    "as_of": obs["as_of"].isoformat(),
                    "value": _value_key(obs["value"]),
                    "approximate": obs["approximate"],
                    "claimant": obs["claimant"],
                    "article_id": rec.article_id,
                    "source": rec.source,
                    "published_at": published,
                    "ingested_at": ingested,
                    # text, start, end: JSON values as they are.
                    "evidence": obs["evidence"],
                },
            )
        )
    return out


def _figure_key(value: float) -> str:
    return repr(_value_key(value))


def report_key(sid: str, report: Report) -> str:
    """What identifies a report within its article: one figure (value) of one date."""
    return f"{sid}|{report['as_of']}|{_figure_key(report['value'])}"


def counted_key(sid: str, report: Report) -> str:
    """The dedup entry of an article's reports on the series that share `sid`'s partition.

    'article#p<partition>' lists their `report_key`s: one entry (one table write, one
    changelog record) per article and partition rather than per report. The partition is in
    the key because the entry lives in that partition's store.
    """
    return f"{report['article_id']}#p{partition_of(sid)}"


def date_key(sid: str, as_of: str) -> str:
    """The key of a date's entry (its figures' summaries and its point) in the series store."""
    return f"{sid}|{as_of}"


def figure_key(sid: str, as_of: str, vkey: str) -> str:
    """The key of one figure (one value of one date, its reports folded) in the series store."""
    return f"{sid}|{as_of}|{vkey}"


def _merge(figure: Figure | None, report: Report) -> Figure:
    """A date's figure (one value) with one more report folded in; a new dict."""
    entry = {
        "article_id": report["article_id"],
        "published_at": report["published_at"],
        **report["evidence"],
    }
    if figure is None:
        return {
            "value": report["value"],
            "sources": [report["source"]],
            "latest": report["published_at"],
            "approximate": bool(report["approximate"]),
            "reports": 1,
            "article_ids": [report["article_id"]],
            "claimants": [report["claimant"]] if report["claimant"] else [],
            "evidence": [entry],
        }
    evidence = list(figure["evidence"])
    if not any(
        e["article_id"] == entry["article_id"] and e["start"] == entry["start"] for e in evidence
    ):
        bisect.insort(evidence, entry, key=_evidence_order)
        del evidence[MAX_EVIDENCE:]
    articles = figure["article_ids"]
    if report["article_id"] not in articles and len(articles) < MAX_ARTICLE_IDS:
        articles = sorted([*articles, report["article_id"]])
    claimants = figure["claimants"]
    if report["claimant"] and report["claimant"] not in claimants:
        claimants = sorted([*claimants, report["claimant"]])[:MAX_CLAIMANTS]
    return {
        "value": figure["value"],
        "sources": sorted({*figure["sources"], report["source"]}),
        "latest": max(figure["latest"], report["published_at"]),
        "approximate": figure["approximate"] and bool(report["approximate"]),
        "reports": figure["reports"] + 1,
        "article_ids": articles,
        "claimants": claimants,
        "evidence": evidence,
    }


def _evidence_order(e: dict[str, Any]) -> tuple[str, str, int]:
    return (e["published_at"], e["article_id"], e["start"])


def _summary(figure: Figure) -> list[Any]:
    """What choosing a date's figure needs of it: [corroboration, latest, approximate, value]."""
    return [len(figure["sources"]), figure["latest"], figure["approximate"], figure["value"]]


def _rank(summary: list[Any]) -> tuple[int, str, bool, float]:
    """How a figure ranks for its date (`_summary`): the most sources, the latest published,
    exact over approximate, the larger value."""
    return summary[0], summary[1], not summary[2], summary[3]


def _choose(index: dict[str, list[Any]]) -> str:
    """The figure (its value key) that stands for a date; see the module docstring."""
    return max(index, key=lambda v: _rank(index[v]))


def _choose_after(index: dict[str, list[Any]], chosen: str | None, changed: str) -> str:
    """`_choose(index)` after a report changed one figure, knowing the figure chosen before.

    A report only raises its figure's rank (more sources, a later publication, exact once
    any report is exact; the value stays) and leaves the others as they were, so the new
    choice is the better of the one before and the changed figure.
    """
    if chosen is None or chosen not in index:
        return _choose(index)
    return chosen if _rank(index[chosen]) >= _rank(index[changed]) else changed


def _point_json(as_of: str, chosen: Figure, alternatives: list[float]) -> dict[str, Any]:
    """A date's point in JSON form (what `SeriesPoint.model_dump(mode="json")` gives, which
    the store keeps), from its chosen figure and the other values reported for it.

    The point itself is validated from it when a record carries it (`_stored_point`): in a
    batch, most reports change a date that a later report changes again before any record
    is built, and validating every one of them was wasted.
    """
    return {
        "as_of": as_of,
        "value": float(chosen["value"]),
        "approximate": chosen["approximate"],
        "corroboration": len(chosen["sources"]),
        "reports": chosen["reports"],
        "sources": chosen["sources"],
        "article_ids": chosen["article_ids"],
        "claimants": chosen["claimants"],
        "alternatives": alternatives,
        "evidence": [
            {"text": e["text"], "start": e["start"], "end": e["end"], "article_id": e["article_id"]}
            for e in chosen["evidence"]
        ],
    }


def points(store: MutableMapping[str, Any], sid: str) -> list[SeriesPoint]:
    """The series' points, one per date, ordered by `as_of`."""
    state = store.get(sid)
    if state is None:
        return []
    return [
        SeriesPoint.model_validate(store[date_key(sid, as_of)]["point"])
        for as_of in state["point_dates"]
    ]


def _entry(raw: Any) -> dict[str, Any]:
    """A date's entry; a bare index of figures stored by an earlier version gets no point."""
    if raw is None:
        return {"figures": {}, "point": None}
    if "figures" in raw:
        return dict(raw)
    return {"figures": raw, "point": None}


def date_figures(store: MutableMapping[str, Any], sid: str, as_of: str) -> dict[str, Figure]:
    """Every figure reported for one date of a series, by value key."""
    index = _entry(store.get(date_key(sid, as_of)))["figures"]
    return {v: store[figure_key(sid, as_of, v)] for v in index}


def _chosen_point_json(
    store: MutableMapping[str, Any], sid: str, as_of: str, index: dict[str, list[Any]], chosen: str
) -> dict[str, Any]:
    """A date's point in JSON form (`_point_json`): its chosen figure `chosen`, the others'
    values (sorted) as alternatives."""
    others = sorted(float(index[v][3]) for v in index if v != chosen)
    return _point_json(as_of, store[figure_key(sid, as_of, chosen)], others)


def _alternatives_after(
    before: dict[str, Any] | None, chosen: str, changed: str, value: float, known: bool
) -> list[float] | None:
    """The alternatives of a date's point after a report changed its figure `changed` (of
    `value`; `known`: the date had that figure before), from the point before (`before`, its
    JSON form); None when they must be computed again (no point before, or one stored without
    them).

    A date can hold dozens of conflicting figures: sorting them all again for every report
    cost more than the rest of the report's update. The figure chosen is either the one
    chosen before or the changed one (`_choose_after`): in the first case the alternatives
    gain the changed figure's value when it is new; in the second, they gain the value chosen
    before and lose the changed figure's.
    """
    kept = None if before is None else before.get("alternatives")
    if kept is None:
        return None
    alternatives = [float(v) for v in kept]
    if chosen == _figure_key(before["value"]):  # type: ignore[index]
        if not known and changed != chosen:
            bisect.insort(alternatives, float(value))
        return alternatives
    bisect.insort(alternatives, float(before["value"]))  # type: ignore[index]
    if known:
        try:
            alternatives.remove(float(value))
        except ValueError:  # not listed: computed again from the date's figures
            return None
    return alternatives


def add_report(
    store: MutableMapping[str, Any], sid: str, report: Report, seen: MutableMapping[str, Any]
) -> tuple[SeriesState | None, SeriesPoint | None]:
    """Add one report to a series in `store`; returns the series' header and the new point of
    the report's date (both None when the report was already counted). See `_add_report`."""
    state, point, _ = _add_report(store, sid, report, seen)
    return state, None if point is None else SeriesPoint.model_validate(point)


def _add_report(
    store: MutableMapping[str, Any], sid: str, report: Report, seen: MutableMapping[str, Any]
) -> tuple[SeriesState | None, dict[str, Any] | None, bool]:
    """Add one report to a series in `store`; returns the series' header, the new point of the
    report's date in JSON form (both None when the report was already counted) and whether the
    date's value moved: the date is new, or its chosen figure now has another value.

    The series lives under three kinds of keys, so that an update writes a few small values
    whatever the series' length and however many conflicting figures a date has:
    * `sid` -- the header: what the series measures and its dates (`point_dates`, sorted),
      rewritten only when a date comes or goes;
    * `sid|as_of` -- the date's entry: a summary of each of its figures (`figures`, what
      `_choose` needs) and its point (the chosen figure with its sources, ids, claimants,
      evidence and the alternatives);
    * `sid|as_of|value` -- one figure: its reports folded in (`_merge`).
    `seen` lists the reports already counted per article and partition (`counted_key`): the
    same figure for the same date from the same article counts once, however often it is
    redelivered.
    """
    key, rkey = counted_key(sid, report), report_key(sid, report)
    counted = seen.get(key) or []
    if rkey in counted:
        return None, None, False
    seen[key] = [*counted, rkey]
    state = store.get(sid)
    if state is None:
        state = {"series_id": sid, **report["series"], "point_dates": []}
    elif "point_dates" not in state:
        state = _upgrade(store, sid, state)
    as_of = report["as_of"]
    vkey = _figure_key(report["value"])
    dkey = date_key(sid, as_of)
    entry = _entry(store.get(dkey))
    index = dict(entry["figures"])
    fkey = figure_key(sid, as_of, vkey)
    known = vkey in index
    figure = _merge(store.get(fkey) if known else None, report)
    store[fkey] = figure
    index[vkey] = _summary(figure)
    before = entry["point"]
    chosen = _choose_after(index, before and _figure_key(before["value"]), vkey)
    alternatives = _alternatives_after(before, chosen, vkey, figure["value"], known)
    if alternatives is None:
        point_json = _chosen_point_json(store, sid, as_of, index, chosen)
    else:
        chosen_figure = figure if chosen == vkey else store[figure_key(sid, as_of, chosen)]
        point_json = _point_json(as_of, chosen_figure, alternatives)
    store[dkey] = {"figures": index, "point": point_json}
    dates = state["point_dates"]
    i = bisect.bisect_left(dates, as_of)
    if i == len(dates) or dates[i] != as_of:
        dates = [*dates[:i], as_of, *dates[i:]]
        for old in dates[: max(0, len(dates) - MAX_DATES)]:
            _drop_date(store, sid, old)
        state = {**state, "point_dates": dates[-MAX_DATES:]}
        store[sid] = state  # reassign: a Faust table only logs assignments
    return state, point_json, before is None or before["value"] != point_json["value"]


def _drop_date(store: MutableMapping[str, Any], sid: str, as_of: str) -> None:
    dkey = date_key(sid, as_of)
    for v in _entry(store.get(dkey))["figures"]:
        store.pop(figure_key(sid, as_of, v), None)
    store.pop(dkey, None)


def _upgrade(store: MutableMapping[str, Any], sid: str, old: SeriesState) -> SeriesState:
    """A series stored by an earlier version, in the current layout.

    Two earlier layouts: every date's figures in the header (`dates`), and the points in the
    header (`points`) with a bare index of figures per date.
    """
    meta = {k: v for k, v in old.items() if k not in ("dates", "points")}
    if "dates" in old:
        for as_of, figures in old["dates"].items():
            for v, f in figures.items():
                store[figure_key(sid, as_of, v)] = f
            store[date_key(sid, as_of)] = {v: _summary(f) for v, f in figures.items()}
        dates = sorted(old["dates"])
    else:
        dates = sorted(old.get("points", {}))
    for as_of in dates:
        index = _entry(store.get(date_key(sid, as_of)))["figures"]
        point = _chosen_point_json(store, sid, as_of, index, _choose(index))
        store[date_key(sid, as_of)] = {"figures": index, "point": point}
    state = {**meta, "point_dates": dates}
    store[sid] = state
    return state


def metric_update(
    state: SeriesState,
    report: Report,
    pts: list[SeriesPoint],
    idx: int,
    window_days: int = WINDOW_DAYS,
    ingested_at: str | None = None,
) -> MetricUpdate:
    """The `news.metrics` record for a change of the series at `pts[idx]`, caused by `report`.

    `pts` are the series' points within `window_days` of that date, at least its neighbours,
    and the series' latest point (`window_dates`). `ingested_at` (ISO) replaces the report's
    ingest time (a record that stands for several reports carries the earliest).
    """
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
        points_total=len(state["point_dates"]),
        window_days=window_days,
        event_time=dt.datetime.fromisoformat(report["published_at"]),
        updated_at=utcnow(),
        ingested_at=dt.datetime.fromisoformat(ingested_at or report["ingested_at"]),
    )


def _has_date(dates: list[str], as_of: str) -> bool:
    i = bisect.bisect_left(dates, as_of)
    return i < len(dates) and dates[i] == as_of


_POINT_JSON = SeriesPoint.__pydantic_serializer__
_UPDATE_JSON = MetricUpdate.__pydantic_serializer__
_NO_POINTS = {"points"}


def window_dates(dates: list[str], as_of: str, days: int) -> tuple[list[str], int]:
    """The dates a record of a change at `as_of` carries, and the index of `as_of` in them:
    those within `days` of it, at least its neighbours, and the series' latest date."""
    day = dt.date.fromisoformat(as_of)
    span = dt.timedelta(days=days)
    k = bisect.bisect_left(dates, as_of)
    lo = min(bisect.bisect_left(dates, (day - span).isoformat()), max(0, k - 1))
    hi = max(bisect.bisect_right(dates, (day + span).isoformat()), min(len(dates), k + 2))
    chosen = dates[lo:hi] if hi == len(dates) else [*dates[lo:hi], dates[-1]]
    return chosen, k - lo


class SeriesTracker:
    """Keeps every series in a mapping (a Faust table in the service, a dict in tests).

    `seen` holds the dedup keys of the reports already counted (a second table in the
    service); without one, an in-memory dict is used.
    """

    def __init__(
        self,
        store: MutableMapping[str, Any],
        seen: MutableMapping[str, Any] | None = None,
        window_days: int = WINDOW_DAYS,
        scope: Scope | None = None,
    ) -> None:
        self.store = store
        self.window_days = window_days
        # Enters the context of the record (`store.owner`) that changed a date, while `flush`
        # builds the date's record: a Faust table reads a key only in the partition of the
        # current event, and after a batch that is the batch's last record, not necessarily
        # the one whose partition holds the series (core/tables.py).
        self.scope = scope
        self.seen: MutableMapping[str, Any] = {} if seen is None else seen
        # Decoded points by date key, with the stored entry they came from: an update decodes
        # only the points of its window that changed since. Only a cache: used while the
        # store's generation holds, or when the stored entry is that very object, so a
        # rolled-back write is never seen.
        self._points: OrderedDict[str, tuple[Any, SeriesPoint]] = OrderedDict()
        # A store that tells when values read from it may have been taken back
        # (`StagedStore.generation`): while it is unchanged, the remembered points are the
        # stored ones and are used without reading their entries again -- every write of a
        # date's entry goes through `_stage`, which forgets the point remembered for it (the
        # new one is decoded when a record carries it). Without it, each remembered point is
        # checked against its stored entry.
        self._generation: Any = getattr(store, "generation", None)
        # The JSON of the points recent updates carried, by the point object's id.
        self._point_json: OrderedDict[int, tuple[SeriesPoint, bytes]] = OrderedDict()
        # Dates changed since the last `flush`: (series id, as_of) -> (its last report, the
        # earliest ingest time of its reports, the record that made its writes), in the order
        # first changed.
        self._pending: dict[tuple[str, str], tuple[Report, str, Any]] = {}

    def _trusted(self) -> bool:
        """Whether remembered points can be used unchecked (see `__init__`); when the store's
        generation moved, they are all forgotten."""
        if self._generation is None:
            return False
        now = getattr(self.store, "generation", None)
        if now != self._generation:
            self._points.clear()
            self._generation = now
        return True

    def _stored_point(self, sid: str, as_of: str, trusted: bool = False) -> SeriesPoint:
        dkey = date_key(sid, as_of)
        cached = self._points.get(dkey)
        if trusted and cached is not None:
            self._points.move_to_end(dkey)
            return cached[1]
        entry = self.store[dkey]
        if cached is not None and cached[0] is entry:
            self._points.move_to_end(dkey)
            return cached[1]
        point = SeriesPoint.model_validate(entry["point"])
        self._remember(dkey, entry, point)
        return point

    def _remember(self, dkey: str, entry: Any, point: SeriesPoint) -> None:
        self._points[dkey] = (entry, point)
        self._points.move_to_end(dkey)
        if len(self._points) > POINTS_CACHED:
            self._points.popitem(last=False)

    def encode(self, update: MetricUpdate) -> bytes:
        """`update` as JSON, the same bytes as `serde.encode(update)`.

        A record carries its series' points around the changed date (14 on average in the
        benchmark's feed, about 5.5 KiB with their evidence) and only one of them changed:
        encoding every point again was a quarter of the tracker's logic in process. The JSON
        of the (immutable) point objects is cached; the rest of the record is encoded with no
        points and the points' JSON put in their place.
        """
        parts: list[bytes] = []
        for p in update.points:
            cached = self._point_json.get(id(p))
            if cached is not None and cached[0] is p:
                self._point_json.move_to_end(id(p))
                parts.append(cached[1])
                continue
            data = _POINT_JSON.to_json(p)
            # The entry holds the point itself, so its id is not reused while it is cached.
            self._point_json[id(p)] = (p, data)
            if len(self._point_json) > POINTS_CACHED:
                self._point_json.popitem(last=False)
            parts.append(data)
        # The record without its points (a copy of the model without them cost as much as
        # the encoding), the points' JSON put back where the field comes, before
        # `points_total`: `,"points_total":` occurs once, as quotes inside JSON strings are
        # escaped and no model nested in a record has a field of that name.
        head = _UPDATE_JSON.to_json(update, exclude=_NO_POINTS)
        whole = b',"points":[' + b",".join(parts) + b'],"points_total":'
        return head.replace(b',"points_total":', whole, 1)

    def window(
        self, sid: str, state: SeriesState, as_of: str, trusted: bool = False
    ) -> tuple[list[SeriesPoint], int]:
        """The points a record of a change at `as_of` carries (`window_dates`), and the
        index of `as_of`'s point in them; `trusted`: remembered points are used unchecked."""
        dates, idx = window_dates(state["point_dates"], as_of, self.window_days)
        if not trusted:
            return [self._stored_point(sid, d) for d in dates], idx
        # Most points of a window are remembered: taken here without a call each.
        remembered, out = self._points, []
        for d in dates:
            dkey = date_key(sid, d)
            cached = remembered.get(dkey)
            if cached is None:
                out.append(self._stored_point(sid, d, trusted))
            else:
                remembered.move_to_end(dkey)
                out.append(cached[1])
        return out, idx

    def _stage(self, sid: str, report: Report) -> bool | None:
        """Add a routed report, its date then pending (see `stage`); None when the report
        was already counted (or its date fell off the MAX_DATES cap at once), else whether
        the date's value moved (`_add_report`)."""
        # Forget what a rollback or a rebalance may have taken back.
        self._trusted()
        state, point, moved = _add_report(self.store, sid, report, self.seen)
        if state is None or point is None:
            return None
        as_of = report["as_of"]
        if not _has_date(state["point_dates"], as_of):
            return None  # the date fell off the MAX_DATES cap at once
        # The date's point is validated when a record carries it (`_stored_point`): until
        # then the one remembered is out of date.
        self._points.pop(date_key(sid, as_of), None)
        before = self._pending.get((sid, as_of))
        # The record's ingest time is its earliest report's: the latency it shows is that of
        # the article that waited longest.
        ingested = report["ingested_at"]
        if before is not None and dt.datetime.fromisoformat(before[1]) < dt.datetime.fromisoformat(
            ingested
        ):
            ingested = before[1]
        self._pending[(sid, as_of)] = (report, ingested, getattr(self.store, "owner", None))
        return moved

    def stage(self, sid: str, report: Report) -> bool:
        """Add a routed report; whether it changed the series (its date is then pending: the
        next `flush` publishes it). False when the report was already counted."""
        return self._stage(sid, report) is not None

    def _record(
        self, sid: str, as_of: str, report: Report, ingested: str, trusted: bool
    ) -> MetricUpdate | None:
        """The record of a change at `as_of` from the series' current state; None when the
        date was dropped since by the MAX_DATES cap."""
        state = self.store.get(sid)
        if state is None or not _has_date(state["point_dates"], as_of):
            return None
        pts, idx = self.window(sid, state, as_of, trusted)
        return metric_update(state, report, pts, idx, self.window_days, ingested)

    def flush(self) -> list[tuple[str, MetricUpdate | Failed]]:
        """The `news.metrics` records of the dates changed since the last flush, one per
        (series, date) in the order first changed, each built from the series' current state:
        the date's point after all its reports, its window as it is now. The event time is
        that of the date's last report, the ingest time its earliest report's. A date whose
        record cannot be built gives a `Failed` (its last report) and the others go on."""
        if not self._pending:
            return []
        trusted = self._trusted()
        out: list[tuple[str, MetricUpdate | Failed]] = []
        for (sid, as_of), (report, ingested, owner) in self._pending.items():
            try:
                with within(self.scope, owner):
                    update = self._record(sid, as_of, report, ingested, trusted)
            except Exception as exc:  # one date's state must not stop the batch
                error = f"{type(exc).__name__}: {exc}"
                out.append((sid, Failed(error, [sid, report], report.get("article_id"))))
                continue
            if update is not None:
                out.append((sid, update))
        self._pending.clear()
        return out

    def discard(self) -> None:
        """Forget the pending dates (their staged writes were dropped)."""
        self._pending.clear()

    def apply(self, sid: str, report: Report) -> MetricUpdate | None:
        """Add a routed report; the update to publish at once, or None when it was already
        known (`stage`, then the date's record built at once)."""
        if self._pending:
            raise RuntimeError("apply() with dates pending: flush() them first")
        if self._stage(sid, report) is None:
            return None
        return self._publish_now(sid, report["as_of"])

    def apply_moved(self, sid: str, report: Report) -> MetricUpdate | None:
        """Add a routed report; its record at once when it moved its date's value (a new
        date, or another figure chosen), else None and the date pending until `flush`.

        This is the setting `metrics_coalesce: unchanged`. The records left to `flush` are
        those of reports that changed only what a record says about a point (corroboration,
        sources, evidence, alternatives, the approximate flag), never a point's date or value.
        An alert's id and whether it fires depend only on the dates and values of the points
        (and the event time, for suppression, of the first record giving that id), and the
        last move of every value a rule looks at was published at once, in order on its
        series' partition: so the alerts are the same as with a record per report
        (docs/decisions.md), with fewer records to build, send and decode.
        """
        if not self._stage(sid, report):
            return None
        return self._publish_now(sid, report["as_of"])

    def _publish_now(self, sid: str, as_of: str) -> MetricUpdate | None:
        """The record of a pending date, built now (with what the date's earlier reports of
        the batch changed); the date is no longer pending."""
        report, ingested, _ = self._pending.pop((sid, as_of))
        return self._record(sid, as_of, report, ingested, self._trusted())

    def process(self, rec: ArticleObservations) -> list[MetricUpdate]:
        """Route and apply one article's observations (what the two Faust stages do together)."""
        out = []
        for sid, report in route_observations(rec):
            update = self.apply(sid, report)
            if update is not None:
                out.append(update)
        return out
