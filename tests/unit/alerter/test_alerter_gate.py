"""The gate: dedup of replayed causes, suppression per rule and subject, resolved alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.alerter.builders import T0, ev, events, point, rules, update

from newsmon.alerter.alerts import AlertGate, Evaluator
from newsmon.alerter.rules import RuleSet


def gate(rs: RuleSet, suppress_s: float = 3600) -> AlertGate:
    return AlertGate(rs, {}, {}, {}, suppress_s)


def run(g: AlertGate, candidates: list[Any]) -> list[Any]:
    return [a for c in candidates if (a := g.admit(c)) is not None]


def test_replayed_cause_is_published_once(default_rules: RuleSet) -> None:
    """The same candidate twice (replay, restart) is published once."""
    g = gate(default_rules)
    cands = Evaluator(default_rules).on_events(events(ev()))
    assert len(run(g, cands)) == 1
    assert run(g, Evaluator(default_rules).on_events(events(ev()))) == []
    assert g.last_reason == "duplicate"


def test_suppression_window_per_rule_and_subject() -> None:
    """Another cause for the same rule and subject within the window is suppressed, later not."""
    rs = rules(
        {"name": "r", "kind": "diplomatic_action", "cameo_prefixes": ["16"], "suppress_s": 600}
    )
    g, e = gate(rs), Evaluator(rs)
    assert len(run(g, e.on_events(events(ev("161"))))) == 1
    assert run(g, e.on_events(events(ev("164")))) == [] and g.last_reason == "suppressed"
    later = events(ev("166")).model_copy(update={"published_at": T0 + dt.timedelta(hours=1)})
    assert len(run(g, e.on_events(later))) == 1
    other_pair = events(ev("161", actor="jordan"))
    assert len(run(g, e.on_events(other_pair))) == 1


def test_threshold_fires_once_while_firing_then_resolves() -> None:
    """A threshold alert fires on crossing, stays quiet while below, and resolves once."""
    rs = rules({"name": "low", "kind": "threshold", "below": 100, "resolve": True, "suppress_s": 0})
    g, e = gate(rs), Evaluator(rs)
    fired = run(g, e.on_metric(update([point(10, 100), point(13, 30)])))
    assert [a.status for a in fired] == ["firing"]
    assert run(g, e.on_metric(update([point(10, 100), point(13, 30), point(14, 20)]))) == []
    resolved = run(g, e.on_metric(update([point(13, 30), point(14, 20), point(15, 150)])))
    assert [(a.status, a.id) for a in resolved] == [("resolved", f"{fired[0].id}-resolved")]
    assert run(g, e.on_metric(update([point(13, 30), point(14, 20), point(15, 150)]))) == []


def test_no_resolved_alert_unless_rule_asks() -> None:
    """Without resolve: true, recovery only clears the firing state."""
    rs = rules({"name": "low", "kind": "threshold", "below": 100, "suppress_s": 0})
    g, e = gate(rs), Evaluator(rs)
    run(g, e.on_metric(update([point(13, 30)])))
    assert run(g, e.on_metric(update([point(13, 30), point(15, 150)]))) == []
    assert g.last_reason == "no_resolve" and g.active == {}


def test_gate_state_is_json_serialisable(default_rules: RuleSet) -> None:
    """The gate's tables hold plain JSON values."""
    import json

    g = gate(default_rules)
    run(g, Evaluator(default_rules).on_events(events(ev())))
    for table in (g.emitted, g.last_fired, g.active):
        assert json.loads(json.dumps(table)) == table


def test_stale_update_does_not_resolve() -> None:
    """A redelivered older update (latest point above the bound) leaves the alert firing."""
    rs = rules({"name": "low", "kind": "threshold", "below": 100, "resolve": True})
    g, e = gate(rs), Evaluator(rs)
    run(g, e.on_metric(update([point(10, 100), point(13, 30)])))
    assert run(g, e.on_metric(update([point(10, 100)]))) == []
    assert g.last_reason == "stale" and g.active


def test_alert_already_on_the_topic_is_not_republished(default_rules: RuleSet) -> None:
    """An id found on news.alerts (published before a crash lost its state) is not sent again."""
    g = gate(default_rules)
    (cand,) = Evaluator(default_rules).on_events(events(ev()))
    g.published.add(cand.id)
    assert g.admit(cand) is None and g.last_reason == "duplicate"
    assert cand.id in g.emitted  # the state caught up
