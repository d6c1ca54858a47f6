"""The rules file: shipped defaults, overrides by path, validation errors naming rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsmon.alerter.rules import RulesError, RuleSet, load_rules, parse_rules


def test_default_rules_cover_every_kind(default_rules: RuleSet) -> None:
    """The shipped file validates and has a rule of each of the five kinds."""
    kinds = {r.kind for r in default_rules.rules}
    assert kinds == {"threshold", "change", "new_actor", "diplomatic_action", "tone_shift"}
    prefixes = {p for r in default_rules.of_kind("diplomatic_action") for p in r.cameo_prefixes}
    assert prefixes == {"13", "16", "17", "18", "19", "20"}


def test_rules_path_overrides_defaults(tmp_path: Path) -> None:
    """A file given by path replaces the shipped rules."""
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: only, kind: new_actor, types: [ORG]}\n")
    assert [r.name for r in load_rules(path).rules] == ["only"]


def test_error_names_rule_and_field() -> None:
    """A wrong value is reported with the rule's name, position and the field."""
    with pytest.raises(RulesError) as exc:
        parse_rules({"rules": [{"name": "drop", "kind": "change", "min_pct": -5}]})
    assert "rule 'drop' (#1), field 'min_pct'" in str(exc.value)


def test_errors_listed_for_every_rule() -> None:
    """Unknown kinds, unknown fields, missing bounds and duplicates are all reported at once."""
    doc = {
        "rules": [
            {"name": "a", "kind": "sideways"},
            {"name": "b", "kind": "threshold", "metrics": ["x"], "bleow": 3},
            {"name": "c", "kind": "threshold"},
            {"name": "d", "kind": "new_actor"},
            {"name": "d", "kind": "new_actor"},
        ]
    }
    with pytest.raises(RulesError) as exc:
        parse_rules(doc)
    text = str(exc.value)
    assert "rule 'a' (#1), field 'kind'" in text
    assert "rule 'b' (#2), field 'bleow'" in text
    assert "rule 'c' (#3)" in text and "exactly one of 'below' or 'above'" in text
    assert "rule 'd' (#5), field 'name': duplicate" in text


def test_missing_file_and_bad_yaml_are_explained(tmp_path: Path) -> None:
    """A missing file names the setting; unparsable YAML names the file."""
    with pytest.raises(RulesError, match="NEWSMON_RULES_PATH"):
        load_rules(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(RulesError, match="cannot parse YAML"):
        load_rules(bad)


def test_a_change_window_longer_than_the_metrics_window_stops_the_alerter() -> None:
    """A change rule cannot look further back than a news.metrics record reaches."""
    from newsmon.alerter.main import check_windows

    rs = parse_rules(
        {"rules": [{"name": "slow", "kind": "change", "min_pct": 50, "window_days": 45}]}
    )
    check_windows(rs, 45)
    with pytest.raises(RulesError) as exc:
        check_windows(rs, 30)
    assert "rule 'slow': window_days 45" in str(exc.value)
    assert "NEWSMON_METRICS_WINDOW_DAYS" in str(exc.value)
