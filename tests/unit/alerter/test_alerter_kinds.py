"""Every rule kind: when it fires, its deterministic id, title, values and evidence."""

from __future__ import annotations

from tests.unit.alerter.builders import (
    SID,
    day,
    ev,
    events,
    point,
    rules,
    salience,
    tone,
    update,
)

from newsmon.alerter.alerts import Evaluator, fmt_range, fmt_value
from newsmon.alerter.rules import RuleSet


def test_change_alert_for_seed_drop(default_rules: RuleSet) -> None:
    """100 → ~30 between 10 and 13 Nov gives the issue's title, values and evidence."""
    u = update([point(10, 100), point(13, 30, approx=True)])
    (alert,) = [a for a in Evaluator(default_rules).on_metric(u) if a.kind == "change"]
    assert alert.title == "Aid trucks entering Gaza fell 70% (100 → ~30) between 10 and 13 Nov 2023"
    assert alert.severity == "critical" and alert.subject == SID and alert.rule == "aid-fuel-drop"
    assert [(v.as_of, v.value, v.approximate) for v in alert.values or []] == [
        (day(10), 100, False),
        (day(13), 30, True),
    ]
    assert alert.article_ids == ["a1"] and alert.details["change_pct"] == -70.0
    assert {e.text for e in alert.evidence} == {"100 trucks", "30 trucks"}


def test_same_cause_same_id() -> None:
    """Evaluating the same series twice gives the same alert id (and another cause another id)."""
    rs = rules({"name": "drop", "kind": "change", "direction": "down", "min_pct": 50})
    first = Evaluator(rs).on_metric(update([point(10, 100), point(13, 30)]))
    again = Evaluator(rs).on_metric(update([point(10, 100), point(13, 30)]))
    other = Evaluator(rs).on_metric(update([point(10, 100), point(14, 30)]))
    assert [a.id for a in first] == [a.id for a in again] != [a.id for a in other]


def test_change_direction_and_bounds() -> None:
    """Drops below the bound, rises, and changes in planned series do not fire a 'down' rule."""
    rs = rules({"name": "drop", "kind": "change", "direction": "down", "min_pct": 50})
    ev_ = Evaluator(rs)
    assert ev_.on_metric(update([point(10, 100), point(13, 60)])) == []
    assert ev_.on_metric(update([point(10, 30), point(13, 100)])) == []
    assert ev_.on_metric(update([point(10, 100), point(13, 30)], period="planned")) == []
    rs_abs = rules({"name": "up", "kind": "change", "direction": "up", "min_abs": 50})
    (a,) = Evaluator(rs_abs).on_metric(update([point(10, 30), point(13, 100)]))
    assert a.title.startswith("Aid trucks entered in Gaza rose 233%")


def test_change_late_point_checks_both_neighbours() -> None:
    """A point inserted between two others is compared with its previous and its next point."""
    rs = rules({"name": "drop", "kind": "change", "direction": "down", "min_pct": 40})
    pts = [point(10, 100), point(11, 50), point(13, 20)]
    alerts = Evaluator(rs).on_metric(update(pts, as_of=11))
    assert [(a.values[0].as_of, a.values[1].as_of) for a in alerts if a.values] == [
        (day(10), day(11)),
        (day(11), day(13)),
    ]


def test_change_over_window() -> None:
    """With window_days, a point is compared with the points of the days before it."""
    rs = rules(
        {"name": "w", "kind": "change", "direction": "down", "min_pct": 50, "window_days": 5}
    )
    pts = [point(8, 100), point(10, 70), point(12, 45)]
    (a,) = Evaluator(rs).on_metric(update(pts))
    assert [v.value for v in a.values or []] == [100, 45]


def test_threshold_fires_below_bound_and_resolves(default_rules: RuleSet) -> None:
    """Below 100 trucks is a firing candidate; back above is a resolved candidate."""
    rs = rules({"name": "low", "kind": "threshold", "below": 100, "resolve": True})
    (a,) = Evaluator(rs).on_metric(update([point(10, 100), point(13, 30, approx=True)]))
    assert (a.status, a.title) == (
        "firing",
        "Aid trucks entered in Gaza below 100: ~30 on 13 Nov 2023",
    )
    (r,) = Evaluator(rs).on_metric(update([point(13, 30), point(15, 120)]))
    assert r.status == "resolved"


def test_new_actor_filters_by_type_and_salience() -> None:
    """Only matching types with enough mentions fire; one id per actor and rule."""
    rs = rules(
        {"name": "people", "kind": "new_actor", "types": ["PERSON"], "min_mentions": 2},
        {"name": "states", "kind": "new_actor", "types": ["GPE"], "actor_types": ["state"]},
    )
    e = Evaluator(rs)
    assert e.on_actor(salience(mentions=1)) == []
    (a,) = e.on_actor(salience(mentions=3, update_="salience"))
    assert a.title == "New actor: Hakan Fidan (person), first seen 13 Nov 2023"
    assert a.id == e.on_actor(salience(mentions=5, update_="salience"))[0].id
    assert e.on_actor(salience("ankara", "Ankara", "GPE", "place")) == []
    (s,) = e.on_actor(salience("turkey", "Turkey", "GPE", "state"))
    assert (s.rule, s.subject, s.actor and s.actor.id) == ("states", "turkey", "turkey")


def test_diplomatic_action_by_cameo_prefix(default_rules: RuleSet) -> None:
    """Turkey → Israel, CAMEO 161, fires the reduce-relations rule with the pair as subject."""
    (a,) = Evaluator(default_rules).on_events(events(ev()))
    assert a.rule == "reduce-relations" and a.cameo == "161" and a.subject == "turkey>israel"
    assert a.title == (
        "Turkey → Israel: withdrew its ambassador from "
        "(CAMEO 161: reduce or break diplomatic relations) on 11 Nov 2023"
    )
    assert a.evidence[0].article_id == "a1" and a.goldstein == -4.0


def test_diplomatic_action_same_event_other_article_same_id(default_rules: RuleSet) -> None:
    """Two articles telling the same coded action of a pair on a date give one alert id."""
    e = Evaluator(default_rules)
    assert (
        e.on_events(events(ev(eid="x"), article="a1"))[0].id
        == e.on_events(events(ev(eid="y"), article="a2"))[0].id
    )


def test_diplomatic_action_goldstein_watched_and_negated() -> None:
    """Goldstein bound, the watched-actor filter and negation all apply."""
    rs = rules(
        {
            "name": "hostile",
            "kind": "diplomatic_action",
            "goldstein_at_most": -5,
            "actors": ["turkey", "israel"],
        }
    )
    e = Evaluator(rs)
    assert e.on_events(events(ev(goldstein=-4.0))) == []
    assert len(e.on_events(events(ev("172", -5.0)))) == 1
    assert e.on_events(events(ev("172", -5.0, negated=True))) == []
    assert e.on_events(events(ev("172", -5.0, target="iran"))) == []


def test_tone_shift_fires_on_large_drop_only() -> None:
    """A mean falling by at least min_shift fires; small moves, rises and first events don't."""
    rs = rules({"name": "worse", "kind": "tone_shift", "min_shift": 3, "direction": "down"})
    e = Evaluator(rs)
    (a,) = e.on_actor(tone(-3.0, 1.0))
    assert (
        a.title
        == "Tone of Turkey → Israel worsened by 4.0 (mean +1.0 → -3.0 over 7 days to 11 Nov 2023)"
    )
    assert a.subject == "turkey>israel" and a.evidence[0].article_id == "a1"
    assert e.on_actor(tone(-1.0, 1.0)) == []
    assert e.on_actor(tone(5.0, 1.0)) == []
    assert e.on_actor(tone(-5.0, None, events_=1)) == []


def test_formatting_helpers() -> None:
    """Dates ranges and values read like the issue's example."""
    assert fmt_range(day(10), day(13)) == "10 and 13 Nov 2023"
    assert fmt_range(day(1).replace(month=10, day=30), day(2)) == "30 Oct and 2 Nov 2023"
    assert (fmt_value(1500), fmt_value(30, True), fmt_value(2.5)) == ("1,500", "~30", "2.5")


def test_control_characters_never_reach_titles() -> None:
    """Article text with terminal escapes is cleaned before it reaches a title."""
    rs = rules({"name": "p", "kind": "new_actor"})
    (a,) = Evaluator(rs).on_actor(salience(name="Evil\x1b[31m Name"))
    assert "\x1b" not in a.title and "\x1b" not in a.summary
