"""Relation tone: a rolling Goldstein sum and mean per ordered pair (actor, target).

The window covers `window_days` days of event time ending at the latest event date of the
pair. Negated events ("did not withdraw") and events without a target are not counted. The
same CAMEO action of a pair on one date counts once however many articles report it, so
that tone measures what happened rather than how much it was reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from typing import Any

from newsmon.core import lean
from newsmon.core.models import ArticleEvents, Event, RelationTone, utcnow

ToneState = dict[str, Any]
Report = dict[str, Any]


#: The model the tracker's router decodes `news.events` with: the contract's, with the
#: items it nests as dicts (core/lean.py).
ROUTED = lean.lean_model(ArticleEvents)


def pair_key(actor_id: str, target_id: str) -> str:
    """The key of an ordered pair: 'turkey>israel'."""
    return f"{actor_id}>{target_id}"


def route_events(rec: ArticleEvents) -> list[tuple[str, Report]]:
    """One report per countable event, keyed by its ordered pair (the repartition step).

    `rec` is best decoded by `ROUTED` (its events as dicts, core/lean.py)."""
    ingested = rec.ingested_at or rec.extracted_at
    out = []
    for ev in lean.items(rec.events):
        target = ev["target"]
        if ev["negated"] or target is None or target["id"] == ev["actor"]["id"]:
            continue
        out.append(
            (
                pair_key(ev["actor"]["id"], target["id"]),
                {
                    "article_id": rec.article_id,
                    "published_at": rec.published_at.isoformat(),
                    "ingested_at": ingested.isoformat(),
                    # The event as JSON values (its date the only one that is not).
                    "event": {**ev, "date": ev["date"].isoformat()},
                },
            )
        )
    return out


def _summary(events: list[dict[str, Any]]) -> tuple[int, float, float]:
    total = round(sum(e["goldstein"] for e in events), 4)
    return len(events), total, round(total / len(events), 4) if events else 0.0


class ToneTracker:
    """Rolling tone per pair, in a mapping (a Faust table in the service, a dict in tests)."""

    def __init__(self, store: MutableMapping[str, Any], window_days: int) -> None:
        self.store = store
        self.window_days = window_days

    def apply(self, pair: str, report: Report) -> RelationTone | None:
        """Count one event of a pair; the record to publish when the tone changed, else None."""
        ev = Event.model_validate(report["event"])
        state: ToneState = self.store.get(pair) or {
            "actor": ev.actor.model_dump(),
            "target": ev.target.model_dump() if ev.target else None,
            "events": [],
        }
        day = ev.date.isoformat()
        same = (day, ev.cameo)
        if any(e["id"] == ev.id or (e["date"], e["cameo"]) == same for e in state["events"]):
            return None
        # ISO dates (YYYY-MM-DD) order as the dates do: compared as stored, not parsed.
        end = dt.date.fromisoformat(max([day, *(e["date"] for e in state["events"])]))
        start = (end - dt.timedelta(days=self.window_days - 1)).isoformat()
        if day < start:
            return None  # older than the window: it cannot change the rolling tone
        before = [e for e in state["events"] if e["date"] >= start]
        prev_count, _, prev_mean = _summary(state["events"])
        entry = {
            "id": ev.id,
            "date": day,
            "cameo": ev.cameo,
            "goldstein": ev.goldstein,
            "article_id": report["article_id"],
        }
        window = sorted([*before, entry], key=lambda e: (e["date"], e["id"]))
        count, total, mean = _summary(window)
        self.store[pair] = {**state, "events": window}  # reassign: tables log assignments only
        # One validation: the pair's actors as stored (dicts), the event as validated.
        return RelationTone.model_validate(
            {
                "actor": state["actor"],
                "target": state["target"],
                "window_days": self.window_days,
                "window_end": end,
                "events": count,
                "goldstein_sum": total,
                "goldstein_mean": mean,
                "previous_mean": prev_mean if prev_count else None,
                "last_event": ev,
                # The article of the event that moved the tone comes last (alerts quote it).
                "article_ids": [
                    *sorted({e["article_id"] for e in window} - {report["article_id"]}),
                    report["article_id"],
                ],
                "event_time": dt.datetime.fromisoformat(report["published_at"]),
                "updated_at": utcnow(),
                "ingested_at": dt.datetime.fromisoformat(report["ingested_at"]),
            }
        )

    def process(self, rec: ArticleEvents) -> list[RelationTone]:
        """Route and apply one article's events (what the two Faust stages do together)."""
        out = []
        for pair, report in route_events(rec):
            result = self.apply(pair, report)
            if result is not None:
                out.append(result)
        return out
