"""`newsmon alerts`: filters and the terminal table (the Kafka part is in the integration test)."""

from __future__ import annotations

from tests.unit.alerter.builders import ev, events, point, salience, update

from newsmon.alerter.alerts import Evaluator
from newsmon.alerter.rules import RuleSet
from newsmon.cli.alerts import HEADER, format_row, selected
from newsmon.cli.main import build_parser


def test_filters_by_kind_and_min_severity(default_rules: RuleSet) -> None:
    """--kind keeps the listed kinds; --min-severity drops lower severities."""
    e = Evaluator(default_rules)
    (dip,) = e.on_events(events(ev()))
    (new,) = e.on_actor(salience())
    assert selected(dip, ["diplomatic_action"], "info") and not selected(new, ["change"], "info")
    assert selected(dip, None, "warning") and not selected(new, None, "warning")


def test_table_row_is_one_clean_line(default_rules: RuleSet) -> None:
    """A row shows event time, severity, kind and title, without control characters."""
    (change,) = [
        a
        for a in Evaluator(default_rules).on_metric(update([point(10, 100), point(13, 30, True)]))
        if a.kind == "change"
    ]
    row = format_row(change)
    assert row.startswith("2023-11-13 09:00  critical  change")
    assert row.endswith("fell 70% (100 → ~30) between 10 and 13 Nov 2023")
    assert "\n" not in row and HEADER.startswith("EVENT TIME")
    assert "\x1b[1;31m" in format_row(change, colour=True)


def test_alerts_command_line() -> None:
    """The documented options parse, with a 10 s idle timeout by default."""
    args = build_parser().parse_args(
        ["alerts", "--from-beginning", "--kind", "change", "--min-severity", "warning", "--json"]
    )
    assert (args.from_beginning, args.follow, args.kind, args.json) == (
        True,
        False,
        ["change"],
        True,
    )
    assert args.idle_timeout == 10.0 and args.min_severity == "warning"
