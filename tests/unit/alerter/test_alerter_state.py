"""The gate over staged tables: an alert is recorded as emitted only once it was published."""

from __future__ import annotations

from typing import Any

from tests.unit.alerter.builders import ev, events

from newsmon.alerter.alerts import AlertGate, Evaluator
from newsmon.alerter.rules import RuleSet
from newsmon.core.tables import StagedStore


def test_unpublished_alert_is_admitted_again(default_rules: RuleSet) -> None:
    """After a failed publish (rollback) the candidate passes again; after commit it does not."""
    tables: list[dict[str, Any]] = [{}, {}, {}]
    staged = [StagedStore(t) for t in tables]
    gate = AlertGate(default_rules, staged[0], staged[1], staged[2], 3600)
    (cand,) = Evaluator(default_rules).on_events(events(ev()))
    assert gate.admit(cand) is not None
    for s in staged:
        s.rollback()
    assert tables[0] == {} and gate.admit(cand) is not None
    for s in staged:
        s.commit()
    assert gate.admit(cand) is None and cand.id in tables[0]
