"""Unit tests of the actor, metric and verb catalogues and their loader."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from newsmon.core.ids import slugify
from newsmon.extractor.catalogue import (
    CatalogueError,
    load_catalogues,
    parse_actors,
    parse_verbs,
)
from newsmon.extractor.nlp import ruler_patterns

CAT = load_catalogues()


def test_shipped_catalogues_load() -> None:
    """The shipped data files load, with ids that are slugs and references that resolve."""
    assert len(CAT.actors.actors) > 300
    for actor in CAT.actors.actors.values():
        assert actor.id == slugify(actor.id)
        if actor.capital_of:
            assert actor.capital_of in CAT.actors.actors


@pytest.mark.parametrize(
    ("surface", "actor_id"),
    [
        ("US", "united-states"), ("U.S.", "united-states"), ("the United States", "united-states"),
        ("Netanyahu", "benjamin-netanyahu"), ("Blinken", "antony-blinken"),
        ("OIC", "oic"), ("Türkiye", "turkey"), ("Israeli", "israel"), ("UNRWA", "unrwa"),
        ("Houthis", "houthis"), ("RSF", "rapid-support-forces"),
        ("Erdogan", "recep-tayyip-erdogan"),
    ],
)  # fmt: skip
def test_aliases_and_demonyms(surface: str, actor_id: str) -> None:
    """Aliases, acronyms, surnames and demonyms resolve to the canonical actor."""
    actor = CAT.actors.lookup(surface)
    assert actor is not None and actor.id == actor_id


def test_role_holder_depends_on_date() -> None:
    """'US Secretary of State' is Blinken in 2023 and Rubio in 2025."""
    holder = CAT.actors.holder
    assert (
        holder("secretary_of_state", "united-states", dt.date(2023, 11, 13)).id == "antony-blinken"
    )  # type: ignore[union-attr]
    assert holder("secretary_of_state", "united-states", dt.date(2025, 3, 1)).id == "marco-rubio"  # type: ignore[union-attr]


def test_capitals_stand_for_states() -> None:
    """Capital cities name the state whose government they stand for."""
    assert CAT.actors.actors["tehran"].capital_of == "iran"
    assert CAT.actors.actors["washington"].capital_of == "united-states"


def test_ruler_patterns_cover_roles() -> None:
    """The entity ruler gets a pattern for every alias, and role titles with their country."""
    texts = {p["pattern"] for p in ruler_patterns(CAT.actors)}
    assert {"Hakan Fidan", "Rafah", "Ebrahim Raisi", "Turkish Foreign Minister"} <= texts
    assert "US Secretary of State" in texts


@pytest.mark.parametrize(
    ("noun", "context", "metric"),
    [
        ("truck", {"aid", "enter"}, "aid_trucks_entered"),
        ("truck", {"fuel"}, "fuel_trucks_entered"),
        ("litre", {"fuel"}, "fuel_delivered_litres"),
        ("hostage", {"release"}, "hostages_released"),
        ("person", {"kill"}, "deaths"),
        ("israeli", {"evacuate", "displace"}, "displaced_people"),
    ],
)
def test_metric_matching(noun: str, context: set[str], metric: str) -> None:
    """Unit nouns with context words select the catalogue metric."""
    found = CAT.metrics.match(noun, context)
    assert found is not None and found.id == metric


def test_unknown_noun_has_no_metric() -> None:
    """A noun outside the catalogue matches no metric (it becomes count_<unit>)."""
    assert CAT.metrics.match("balloon", {"release"}) is None


def test_cameo_codes_have_goldstein_and_quad() -> None:
    """All 20 root categories are present; each code carries Goldstein and its root's quad."""
    codes = CAT.verbs.codes
    assert {f"{i:02d}" for i in range(1, 21)} <= set(codes)
    assert (codes["161"].goldstein, codes["161"].quad_class) == (-4.0, 4)
    assert codes["042"].quad_class == 1 and codes["0871"].quad_class == 2
    for code in ("036", "042", "043", "057", "111", "112", "130", "141", "161", "0871"):
        assert code in codes


def test_yaml_particles_are_words() -> None:
    """Unquoted YAML 'on'/'off' (booleans in YAML 1.1) are read as the particles."""
    (rule,) = [r for r in CAT.verbs.verbs["write"] if r.prt]
    assert rule.prt == "off"
    assert (
        "on" in next(r for r in CAT.verbs.verbs["impose"] if "blackout" in r.objects).target_preps
    )


@pytest.mark.parametrize(
    "data",
    [
        {"actors": [{"id": "Not A Slug", "name": "x", "type": "GPE"}]},
        {"actors": [{"id": "x", "name": "x", "type": "CITY"}]},
        {"actors": [{"id": "x", "name": "x", "type": "GPE", "capital_of": "nowhere"}]},
        {
            "actors": [
                {"id": "x", "name": "x", "type": "GPE"},
                {"id": "x", "name": "y", "type": "GPE"},
            ]
        },
    ],
)
def test_bad_actor_catalogue_is_rejected(data: dict[str, Any]) -> None:
    """Malformed actor entries raise a CatalogueError naming the problem."""
    with pytest.raises(CatalogueError):
        parse_actors(data)


def test_unknown_cameo_code_is_rejected() -> None:
    """A verb with a code that is not in the code table is an error."""
    with pytest.raises(CatalogueError, match="unknown code"):
        parse_verbs(
            {
                "roots": {"01": {"label": "x", "quad": 1, "goldstein": 0}},
                "verbs": [{"lemma": "say", "code": "999"}],
            }
        )
