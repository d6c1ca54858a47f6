"""Alerts from tracker state: rule evaluation (`Evaluator`) and the idempotent gate (`AlertGate`).

Evaluation is stateless: it turns one `news.metrics`, `news.actors` or `news.events` record
into candidate alerts whose id is a digest of the rule and the cause, so the same cause always
gives the same id. The gate is the only stateful step: it drops ids it has already emitted
(replays, restarts), applies the suppression window per rule and subject (in event time, so a
replay decides the same way), tracks firing threshold alerts and turns their recovery into a
`resolved` alert when the rule asks for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, MutableMapping
from typing import Any

from newsmon.alerter.rules import (
    ChangeRule,
    DiplomaticActionRule,
    NewActorRule,
    RuleSet,
    ThresholdRule,
    ToneShiftRule,
)
from newsmon.core.ids import digest
from newsmon.core.models import (
    ActorSalience,
    Alert,
    ArticleEvents,
    Event,
    MetricUpdate,
    RelationTone,
    SeriesPoint,
    SeriesValue,
    SourcedEvidence,
    utcnow,
)
from newsmon.core.textsafe import clean

#: Names of CAMEO root codes (and a few frequent sub-codes) for alert titles.
CAMEO_NAMES: dict[str, str] = {
    "01": "make public statement",
    "02": "appeal",
    "03": "express intent to cooperate",
    "04": "consult",
    "05": "engage in diplomatic cooperation",
    "06": "engage in material cooperation",
    "07": "provide aid",
    "08": "yield",
    "09": "investigate",
    "10": "demand",
    "11": "disapprove",
    "12": "reject",
    "13": "threaten",
    "14": "protest",
    "15": "exhibit force posture",
    "16": "reduce relations",
    "17": "coerce",
    "18": "assault",
    "19": "fight",
    "20": "use unconventional mass violence",
    "160": "reduce relations",
    "161": "reduce or break diplomatic relations",
    "162": "reduce or stop material aid",
    "163": "impose embargo, boycott or sanctions",
    "164": "halt negotiations",
    "165": "halt mediation",
    "166": "expel or withdraw",
    "172": "impose administrative sanctions",
    "173": "arrest, detain or charge",
    "174": "expel or deport individuals",
    "190": "use conventional military force",
    "195": "employ aerial weapons",
}


def cameo_name(code: str) -> str:
    return CAMEO_NAMES.get(code) or CAMEO_NAMES.get(code[:3]) or CAMEO_NAMES.get(code[:2], "")


def fmt_date(d: dt.date) -> str:
    """13 Nov 2023."""
    return f"{d.day} {d:%b %Y}"


def fmt_range(a: dt.date, b: dt.date) -> str:
    """'10 and 13 Nov 2023', '30 Oct and 2 Nov 2023', '30 Dec 2023 and 2 Jan 2024'."""
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day} and {b.day} {b:%b %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%b} and {b.day} {b:%b %Y}"
    return f"{fmt_date(a)} and {fmt_date(b)}"


def fmt_value(value: float, approximate: bool = False) -> str:
    """100 -> '100', 1500 -> '1,500', 2.5 -> '2.5'; approximate values get a '~'."""
    text = f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")
    return ("~" if approximate else "") + text


_PLURALS = {"person": "people", "child": "children", "tonne": "tonnes", "litre": "litres"}


def units(value: float, unit: str) -> str:
    """'1 truck', '70 trucks', '3 people'."""
    if abs(value) == 1:
        return unit
    return _PLURALS.get(unit) or (
        unit + "es" if unit.endswith(("s", "x", "ch", "sh")) else unit + "s"
    )


def place_name(location: str | None) -> str:
    if not location:
        return "all locations"
    return " ".join(w.capitalize() for w in location.replace("_", "-").split("-"))


def metric_label(rules: RuleSet, metric: str, location: str | None) -> str:
    """The metric as named in titles: the rules file's label, else its id in words."""
    template = rules.labels.get(metric)
    if template is None:
        words = metric.replace("_", " ").strip().capitalize()
        template = words + (" in {location}" if location else "")
    return clean(template.format(location=place_name(location)), single_line=True)


def _merge_evidence(*groups: Iterable[SourcedEvidence]) -> list[SourcedEvidence]:
    out: list[SourcedEvidence] = []
    seen: set[tuple[str, int, int]] = set()
    for group in groups:
        for ev in group:
            key = (ev.article_id, ev.start, ev.end)
            if key not in seen:
                seen.add(key)
                out.append(ev.model_copy(update={"text": clean(ev.text, single_line=True)}))
    return out


def _alert_id(kind: str, rule: str, *cause: object) -> str:
    return f"{kind}-{digest(kind, rule, *cause)}"


def _value(p: SeriesPoint) -> SeriesValue:
    return SeriesValue(as_of=p.as_of, value=p.value, approximate=p.approximate)


def _pct(before: float, after: float) -> float | None:
    return None if before == 0 else round(100.0 * (after - before) / before, 2)


class Evaluator:
    """Applies the rules to one input record at a time; pure, no state."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    # -- series -----------------------------------------------------------------------------
    def on_metric(self, u: MetricUpdate) -> list[Alert]:
        out: list[Alert] = []
        for rule in self.rules.of_kind("change"):
            if rule.matches(u.metric, u.location, u.period):
                out.extend(self._change(rule, u))
        for rule in self.rules.of_kind("threshold"):
            if rule.matches(u.metric, u.location, u.period) and u.points:
                out.append(self._threshold(rule, u))
        return out

    def _change_pairs(self, rule: ChangeRule, u: MetricUpdate) -> list[tuple[int, int]]:
        """Point index pairs (before, after) that the update can have changed."""
        pts = u.points
        k = next((i for i, p in enumerate(pts) if p.as_of == u.as_of), None)
        if k is None:
            return []
        if rule.window_days is None:
            # A point inserted late changes its own change and the next point's change.
            return [(i - 1, i) for i in (k, k + 1) if 0 < i < len(pts)]
        span = dt.timedelta(days=rule.window_days)
        pairs = []
        for j, pj in enumerate(pts):
            if not (u.as_of <= pj.as_of <= u.as_of + span):
                continue
            candidates = [
                i
                for i, pi in enumerate(pts[:j])
                if pj.as_of - span <= pi.as_of and rule.holds(pi.value, pj.value)
            ]
            if candidates:
                # The largest move in the window is the one worth telling.
                best = max(candidates, key=lambda i: (abs(pj.value - pts[i].value), i))
                pairs.append((best, j))
        return pairs

    def _change(self, rule: ChangeRule, u: MetricUpdate) -> list[Alert]:
        out = []
        for i, j in self._change_pairs(rule, u):
            a, b = u.points[i], u.points[j]
            if not rule.holds(a.value, b.value):
                continue
            delta = b.value - a.value
            pct = _pct(a.value, b.value)
            label = metric_label(self.rules, u.metric, u.location)
            verb = "fell" if delta < 0 else "rose"
            amount = f"{abs(pct):.0f}%" if pct is not None else f"by {fmt_value(abs(delta))}"
            values = f"{fmt_value(a.value, a.approximate)} → {fmt_value(b.value, b.approximate)}"
            title = f"{label} {verb} {amount} ({values}) between {fmt_range(a.as_of, b.as_of)}"
            sources = sorted(set(a.sources) | set(b.sources))
            summary = (
                f"{label}: {fmt_value(a.value, a.approximate)} {units(a.value, u.unit)} on "
                f"{fmt_date(a.as_of)}, {fmt_value(b.value, b.approximate)} on {fmt_date(b.as_of)}"
                f" ({'' if pct is None else f'{pct:+.0f}%, '}{delta:+g} {units(delta, u.unit)})."
                f" Reported by {', '.join(sources)}"
                f" (corroboration {b.corroboration}). Rule {rule.name}: {rule.description}"
            )
            out.append(
                Alert(
                    id=_alert_id(
                        "change", rule.name, u.series_id, a.as_of, a.value, b.as_of, b.value
                    ),
                    kind="change",
                    severity=rule.severity,
                    title=clean(title, single_line=True),
                    summary=clean(summary, single_line=True),
                    subject=u.series_id,
                    rule=rule.name,
                    event_time=u.event_time,
                    created_at=utcnow(),
                    article_ids=sorted(set(a.article_ids) | set(b.article_ids)),
                    evidence=_merge_evidence(a.evidence, b.evidence),
                    metric=u.metric,
                    values=[_value(a), _value(b)],
                    details={
                        "series_id": u.series_id,
                        "unit": u.unit,
                        "location": u.location,
                        "period": u.period,
                        "change_abs": delta,
                        "change_pct": pct,
                        "from": a.as_of.isoformat(),
                        "to": b.as_of.isoformat(),
                        "sources": sources,
                        "alternatives": b.alternatives,
                    },
                )
            )
        return out

    def _threshold(self, rule: ThresholdRule, u: MetricUpdate) -> Alert:
        """A firing candidate when the latest point is beyond the bound, else a resolved one."""
        p = u.points[-1]
        firing = rule.holds(p.value)
        bound = rule.below if rule.below is not None else rule.above
        side = "below" if rule.below is not None else "above"
        label = metric_label(self.rules, u.metric, u.location)
        value = fmt_value(p.value, p.approximate)
        if firing:
            title = f"{label} {side} {fmt_value(bound or 0)}: {value} on {fmt_date(p.as_of)}"
        else:
            title = f"Resolved: {label} back to {value} on {fmt_date(p.as_of)} (bound {bound:g})"
        summary = (
            f"{label} was {value} {units(p.value, u.unit)} on {fmt_date(p.as_of)}; "
            f"rule {rule.name} fires {side} {bound:g}. Reported by {', '.join(p.sources)}. "
            f"{rule.description}"
        )
        return Alert(
            id=_alert_id("threshold", rule.name, u.series_id, p.as_of, p.value, firing),
            kind="threshold",
            status="firing" if firing else "resolved",
            severity=rule.severity,
            title=clean(title, single_line=True),
            summary=clean(summary, single_line=True),
            subject=u.series_id,
            rule=rule.name,
            event_time=u.event_time,
            created_at=utcnow(),
            article_ids=p.article_ids,
            evidence=_merge_evidence(p.evidence),
            metric=u.metric,
            values=[_value(p)],
            details={"series_id": u.series_id, "unit": u.unit, side: bound},
        )

    # -- actors -----------------------------------------------------------------------------
    def on_actor(self, rec: ActorSalience | RelationTone) -> list[Alert]:
        if isinstance(rec, ActorSalience):
            return [
                self._new_actor(r, rec) for r in self.rules.of_kind("new_actor") if _fits(r, rec)
            ]
        return [
            a for r in self.rules.of_kind("tone_shift") if (a := self._tone(r, rec)) is not None
        ]

    def _new_actor(self, rule: NewActorRule, rec: ActorSalience) -> Alert:
        name = clean(rec.actor.name, single_line=True, limit=120)
        kind = rec.actor_type or rec.type.lower()
        co = ", ".join(clean(c.name, single_line=True) for c in rec.co_occurring[:5])
        summary = (
            f"{name} ({rec.type}{', ' + rec.actor_type if rec.actor_type else ''}, "
            f"{'in' if rec.known else 'not in'} the actor catalogue) was first seen on "
            f"{fmt_date(rec.first_seen.date())} in article {rec.first_article_id}; "
            f"{rec.mentions} mention(s) in {rec.articles} article(s) so far."
            + (f" Seen with: {co}." if co else "")
        )
        return Alert(
            id=_alert_id("new_actor", rule.name, rec.actor.id),
            kind="new_actor",
            severity=rule.severity,
            title=f"New actor: {name} ({kind}), first seen {fmt_date(rec.first_seen.date())}",
            summary=clean(summary, single_line=True),
            subject=rec.actor.id,
            rule=rule.name,
            event_time=rec.event_time,
            created_at=utcnow(),
            article_ids=[rec.first_article_id],
            evidence=_merge_evidence(rec.evidence),
            actor=rec.actor,
            details={
                "type": rec.type,
                "actor_type": rec.actor_type,
                "known": rec.known,
                "mentions": rec.mentions,
                "articles": rec.articles,
                "first_seen": rec.first_seen.isoformat(),
            },
        )

    def _tone(self, rule: ToneShiftRule, rec: RelationTone) -> Alert | None:
        if rec.previous_mean is None or rec.events < rule.min_events:
            return None
        if rule.actors is not None and not {rec.actor.id, rec.target.id} <= set(rule.actors):
            return None
        shift = rec.goldstein_mean - rec.previous_mean
        if (rule.direction == "down" and shift > 0) or (rule.direction == "up" and shift < 0):
            return None
        if abs(shift) < rule.min_shift:
            return None
        a = clean(rec.actor.name, single_line=True)
        b = clean(rec.target.name, single_line=True)
        verb = "worsened" if shift < 0 else "improved"
        title = (
            f"Tone of {a} → {b} {verb} by {abs(shift):.1f} (mean {rec.previous_mean:+.1f} → "
            f"{rec.goldstein_mean:+.1f} over {rec.window_days} days to {fmt_date(rec.window_end)})"
        )
        ev = rec.last_event
        summary = (
            f"{a} → {b}: {rec.events} event(s) in the {rec.window_days} days to "
            f"{fmt_date(rec.window_end)}, Goldstein sum {rec.goldstein_sum:+.1f}, mean "
            f"{rec.goldstein_mean:+.1f} (was {rec.previous_mean:+.1f}). Latest: "
            f"{clean(ev.action, single_line=True)} (CAMEO {ev.cameo}) on {fmt_date(ev.date)}."
        )
        # tone.py puts the article of the event that moved the tone last.
        quoted = rec.article_ids[-1] if rec.article_ids else ""
        return Alert(
            id=_alert_id("tone_shift", rule.name, rec.actor.id, rec.target.id, ev.id),
            kind="tone_shift",
            severity=rule.severity,
            title=clean(title, single_line=True),
            summary=clean(summary, single_line=True),
            subject=f"{rec.actor.id}>{rec.target.id}",
            rule=rule.name,
            event_time=rec.event_time,
            created_at=utcnow(),
            article_ids=rec.article_ids,
            evidence=_merge_evidence(
                [SourcedEvidence(article_id=quoted, **ev.evidence.model_dump())]
            ),
            actor=rec.actor,
            target=rec.target,
            cameo=ev.cameo,
            goldstein=rec.goldstein_mean,
            details={
                "window_days": rec.window_days,
                "window_end": rec.window_end.isoformat(),
                "events": rec.events,
                "goldstein_sum": rec.goldstein_sum,
                "previous_mean": rec.previous_mean,
                "shift": round(shift, 4),
            },
        )

    # -- events -----------------------------------------------------------------------------
    def on_events(self, rec: ArticleEvents) -> list[Alert]:
        out = []
        for ev in rec.events:
            for rule in self.rules.of_kind("diplomatic_action"):
                if _event_matches(rule, ev):
                    out.append(self._diplomatic(rule, ev, rec))
        return out

    def _diplomatic(self, rule: DiplomaticActionRule, ev: Event, rec: ArticleEvents) -> Alert:
        a = clean(ev.actor.name, single_line=True)
        b = clean(ev.target.name, single_line=True) if ev.target else None
        action = clean(ev.action, single_line=True, limit=120)
        what = cameo_name(ev.cameo)
        pair = f"{a} → {b}" if b else a
        code = f"CAMEO {ev.cameo}: {what}" if what else f"CAMEO {ev.cameo}"
        title = f"{pair}: {action} ({code}) on {fmt_date(ev.date)}"
        summary = (
            f"{a} {'did not ' if ev.negated else ''}{action}"
            f"{' (target: ' + b + ')' if b else ''} on {fmt_date(ev.date)}: CAMEO {ev.cameo}"
            f"{' (' + what + ')' if what else ''}, quad class {ev.quad_class}, Goldstein "
            f"{ev.goldstein:+.1f}. Reported by {clean(rec.source, single_line=True)}."
        )
        subject = f"{ev.actor.id}>{ev.target.id}" if ev.target else ev.actor.id
        return Alert(
            # The same coded action of a pair on a date is one cause, whichever article tells it.
            id=_alert_id(
                "diplomatic_action",
                rule.name,
                ev.actor.id,
                ev.target.id if ev.target else "",
                ev.cameo,
                ev.date,
                ev.negated,
            ),
            kind="diplomatic_action",
            severity=rule.severity,
            title=clean(title, single_line=True),
            summary=clean(summary, single_line=True),
            subject=subject,
            rule=rule.name,
            event_time=rec.published_at,
            created_at=utcnow(),
            article_ids=[rec.article_id],
            evidence=_merge_evidence(
                [SourcedEvidence(article_id=rec.article_id, **ev.evidence.model_dump())]
            ),
            actor=ev.actor,
            target=ev.target,
            cameo=ev.cameo,
            goldstein=ev.goldstein,
            details={
                "action": action,
                "date": ev.date.isoformat(),
                "quad_class": ev.quad_class,
                "negated": ev.negated,
                "cameo_name": what,
            },
        )


def _fits(rule: NewActorRule, rec: ActorSalience) -> bool:
    return (
        (rule.types is None or rec.type in rule.types)
        and (rule.actor_types is None or rec.actor_type in rule.actor_types)
        and (rule.known is None or rec.known == rule.known)
        and rec.mentions >= rule.min_mentions
        and rec.articles >= rule.min_articles
    )


def _event_matches(rule: DiplomaticActionRule, ev: Event) -> bool:
    if ev.negated and not rule.include_negated:
        return False
    if rule.actors is not None and (
        ev.target is None or not {ev.actor.id, ev.target.id} <= set(rule.actors)
    ):
        return False
    by_code = any(ev.cameo.startswith(p) for p in rule.cameo_prefixes)
    by_tone = rule.goldstein_at_most is not None and ev.goldstein <= rule.goldstein_at_most
    return by_code or by_tone


class AlertGate:
    """Decides which candidate alerts are published; its state lives in three mappings.

    `emitted`: alert id -> when it was published (or suppressed), so a replayed cause is dropped;
    `last_fired`: 'rule|subject' -> event time of the last published alert (suppression);
    `active`: 'rule|subject' -> the firing threshold alert, until it resolves.
    """

    def __init__(
        self,
        rules: RuleSet,
        emitted: MutableMapping[str, Any],
        last_fired: MutableMapping[str, Any],
        active: MutableMapping[str, Any],
        default_suppress_s: float,
    ) -> None:
        self.rules = rules
        self.emitted = emitted
        self.last_fired = last_fired
        self.active = active
        self.default_suppress_s = default_suppress_s
        #: Ids found on `news.alerts` itself (its recent tail, read at start and after each
        #: rebalance): an alert published just before a crash, whose state change was lost,
        #: is recognised there and not published again.
        self.published: set[str] = set()
        #: Why the last candidate was dropped (for logs and counters); None when admitted.
        self.last_reason: str | None = None

    def admit(self, alert: Alert) -> Alert | None:
        """The alert to publish for this candidate, or None (see `last_reason`)."""
        self.last_reason = None
        rule = self.rules.get(alert.rule)
        if rule is None:
            self.last_reason = "unknown_rule"
            return None
        key = f"{alert.rule}|{alert.subject}"
        now = utcnow()
        if alert.status == "resolved":
            firing = self.active.get(key)
            if not firing:
                self.last_reason = "not_firing"
                return None
            if not _newer(alert, firing):
                # A redelivered or late update about older data must not resolve a newer alert.
                self.last_reason = "stale"
                return None
            self.active.pop(key, None)
            if not getattr(rule, "resolve", False):
                self.last_reason = "no_resolve"
                return None
            rid = f"{firing['id']}-resolved"
            if self.emitted.get(rid):
                self.last_reason = "duplicate"
                return None
            self.emitted[rid] = {"at": now.isoformat(), "status": "published"}
            if rid in self.published:
                self.last_reason = "duplicate"
                return None
            return alert.model_copy(update={"id": rid, "created_at": now})
        if self.emitted.get(alert.id):
            self.last_reason = "duplicate"
            return None
        if alert.id in self.published:
            self._record(alert, key, now)  # published before a crash: catch the state up
            self.last_reason = "duplicate"
            return None
        if alert.kind == "threshold" and self.active.get(key):
            self.last_reason = "still_firing"
            return None
        window = rule.suppress_s if rule.suppress_s is not None else self.default_suppress_s
        last = self.last_fired.get(key)
        if last is not None:
            since = abs((alert.event_time - dt.datetime.fromisoformat(last)).total_seconds())
            if since < window:
                # Remember it as handled so that it does not fire once the window has passed.
                self.emitted[alert.id] = {"at": now.isoformat(), "status": "suppressed"}
                self.last_reason = "suppressed"
                return None
        self._record(alert, key, now)
        return alert.model_copy(update={"created_at": now})

    def _record(self, alert: Alert, key: str, now: dt.datetime) -> None:
        """Remember a published alert: its id, its firing time, and a threshold's firing state."""
        self.emitted[alert.id] = {"at": now.isoformat(), "status": "published"}
        self.last_fired[key] = alert.event_time.isoformat()
        if alert.kind == "threshold":
            self.active[key] = {
                "id": alert.id,
                "as_of": alert.values[-1].as_of.isoformat() if alert.values else None,
                "event_time": alert.event_time.isoformat(),
            }


def _newer(alert: Alert, firing: dict[str, Any]) -> bool:
    """Whether a candidate is about later data than the firing alert (by as_of, then event time)."""
    as_of = alert.values[-1].as_of.isoformat() if alert.values else None
    if as_of and firing.get("as_of") and as_of != firing["as_of"]:
        return bool(as_of > firing["as_of"])
    return alert.event_time > dt.datetime.fromisoformat(firing["event_time"])
