"""Lean decoding (core/lean.py): the tracker's input records accepted and rejected exactly as
by their contracts, their nested items given as the dicts the models hold."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from tests.unit.tracker.builders import PUBLISHED

from newsmon.core import lean
from newsmon.core.models import (
    ActorRef,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    Contract,
    Entity,
    Event,
    Evidence,
    Mention,
    Observation,
)
from newsmon.tracker import actors, series, tone

MODELS = [ArticleEntities, ArticleObservations, ArticleEvents]


def _header(article: str, source: str, ingested: dt.datetime | None = None) -> dict[str, Any]:
    """An article record's header fields (extracted a minute after publication)."""
    return {
        "article_id": article,
        "source": source,
        "published_at": PUBLISHED,
        "extracted_at": PUBLISHED + dt.timedelta(minutes=1),
        "ingested_at": ingested,
    }


def _entities(rng: random.Random, article: str) -> ArticleEntities:
    ents = []
    for i in range(rng.randint(0, 6)):
        name = rng.choice(["Antony Blinken", "UNRWA", "Hamas", "Egypt", "Rafah crossing"])
        ents.append(
            Entity(
                id=f"e{i}-{name.lower().replace(' ', '-')}",
                name=name,
                type=rng.choice(["PERSON", "ORG", "GPE", "LOC", "NORP", "FAC"]),
                actor_type=rng.choice([None, "state", "armed_group", "igo", "person"]),
                country=rng.choice([None, "EG", "US"]),
                known=rng.random() < 0.5,
                mentions=[
                    Mention(text=name, start=s, end=s + len(name))
                    for s in sorted(rng.sample(range(0, 5000), rng.randint(1, 5)))
                ],
            )
        )
    return ArticleEntities(
        **_header(article, "Levant Wire", rng.choice([None, PUBLISHED])), entities=ents
    )


def _observations(rng: random.Random, article: str) -> ArticleObservations:
    obs = []
    for i in range(rng.randint(0, 6)):
        start = rng.randint(0, 4000)
        obs.append(
            Observation(
                id=f"{article}-{start}-{i}",
                metric=rng.choice(["aid_trucks_entered", "deaths", "count_ambulance"]),
                unit=rng.choice(["truck", "person", "ambulance"]),
                value=rng.choice([30.0, 100.0, 6.0, 2.5, 1_200_000.0]),
                approximate=rng.random() < 0.5,
                as_of=dt.date(2023, 11, rng.randint(1, 28)),
                as_of_text=rng.choice([None, "on Friday", "in the following days"]),
                period=rng.choice(["daily", "cumulative", "planned", "baseline", "point"]),
                location=rng.choice([None, "gaza", "rafah"]),
                qualifiers=rng.sample(["north", "since-2023-10-07", "medical"], rng.randint(0, 2)),
                claimant=rng.choice([None, "UN OCHA", "Egyptian Red Crescent"]),
                raw=rng.choice(["about 30", "100", "six"]),
                linked_to=rng.choice([None, f"{article}-other"]),
                evidence=Evidence(text="About 30 trucks entered.", start=start, end=start + 24),
            )
        )
    return ArticleObservations(**_header(article, "Nile Courier"), observations=obs)


def _events(rng: random.Random, article: str) -> ArticleEvents:
    evs = []
    for i in range(rng.randint(0, 5)):
        actor = rng.choice(["turkey", "israel", "egypt"])
        target = rng.choice([None, "turkey", "israel", "qatar"])
        evs.append(
            Event(
                id=f"{article}-ev{i}",
                actor=ActorRef(id=actor, name=actor.title()),
                target=ActorRef(id=target, name=target.title()) if target else None,
                action="withdrew its ambassador",
                cameo=rng.choice(["161", "0231", "12"]),
                quad_class=rng.randint(1, 4),
                goldstein=rng.choice([-4.0, 3.4, -10.0, 10.0]),
                date=dt.date(2023, 11, rng.randint(1, 28)),
                negated=rng.random() < 0.2,
                evidence=Evidence(text="Turkey withdrew its ambassador.", start=i, end=i + 31),
            )
        )
    return ArticleEvents(**_header(article, "Harbor Dispatch", PUBLISHED), events=evs)


BUILDERS = {ArticleEntities: _entities, ArticleObservations: _observations, ArticleEvents: _events}
NESTED = {ArticleEntities: "entities", ArticleObservations: "observations", ArticleEvents: "events"}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_lean_record_holds_what_the_contract_model_holds(model: type[BaseModel]) -> None:
    rng = random.Random(7)
    lean_model = lean.lean_model(model)
    field = NESTED[model]
    for n in range(60):
        rec = BUILDERS[model](rng, f"a{n}")
        # exclude_defaults: a producer may leave out what has a default.
        for raw in (rec.model_dump_json(), rec.model_dump_json(exclude_defaults=True)):
            decoded = lean_model.model_validate_json(raw)
            assert isinstance(decoded, model)
            assert decoded.model_dump() == rec.model_dump()
            items = getattr(decoded, field)
            assert all(type(item) is dict for item in items)
            assert items == [item.model_dump() for item in getattr(rec, field)]


def _break(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    target = doc
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()

BROKEN = [
    (ArticleEntities, ["entities", 0, "mentions", 0, "start"], -1),
    (ArticleEntities, ["entities", 0, "mentions", 0, "speaker"], "x"),
    (ArticleEntities, ["entities", 0, "mentions", 0, "text"], _DELETE),
    (ArticleEntities, ["entities", 0, "type"], "VEHICLE"),
    (ArticleEntities, ["entities", 0, "actor_type"], "alien"),
    (ArticleEntities, ["entities", 0, "known"], "perhaps"),
    (ArticleEntities, ["entities", 0, "salience"], 3),
    (ArticleEntities, ["published_at"], "2023-11-13T09:00:00"),
    (ArticleObservations, ["observations", 0, "value"], "thirty"),
    (ArticleObservations, ["observations", 0, "period"], "weekly"),
    (ArticleObservations, ["observations", 0, "as_of"], "13 November"),
    (ArticleObservations, ["observations", 0, "evidence", "end"], -5),
    (ArticleObservations, ["observations", 0, "evidence"], _DELETE),
    (ArticleObservations, ["observations", 0, "qualifiers"], "north"),
    (ArticleObservations, ["observations", 0, "note"], "x"),
    (ArticleEvents, ["events", 0, "cameo"], "16a"),
    (ArticleEvents, ["events", 0, "goldstein"], -11.0),
    (ArticleEvents, ["events", 0, "quad_class"], 5),
    (ArticleEvents, ["events", 0, "actor", "country"], "TR"),
    (ArticleEvents, ["events", 0, "target"], {"id": "israel"}),
    (ArticleEvents, ["events", 0, "evidence", "start"], None),
    (ArticleEvents, ["schema_version"], "one"),
]


def _valid(model: type[BaseModel]) -> dict[str, Any]:
    rng = random.Random(3)
    field = NESTED[model]
    while True:
        rec = BUILDERS[model](rng, "a1")
        if getattr(rec, field):
            return json.loads(rec.model_dump_json())


@pytest.mark.parametrize(
    ("model", "path", "value"),
    BROKEN,
    ids=[f"{m.__name__}:{'.'.join(map(str, p))}" for m, p, _ in BROKEN],
)
def test_a_broken_record_is_rejected_as_the_contract_rejects_it(
    model: type[BaseModel], path: list[Any], value: Any
) -> None:
    raw = json.dumps(_break(_valid(model), path, value))
    with pytest.raises(ValidationError) as contract:
        model.model_validate_json(raw)
    with pytest.raises(ValidationError) as lean_error:
        lean.lean_model(model).model_validate_json(raw)
    # The same errors at the same places (the tracker dead-letters with this text).
    expected = [(e["type"], e["loc"]) for e in contract.value.errors()]
    assert [(e["type"], e["loc"]) for e in lean_error.value.errors()] == expected
    assert str(lean_error.value) == str(contract.value)


def test_a_model_whose_lean_form_could_differ_is_refused() -> None:
    class Checked(Contract):
        text: str

        @field_validator("text")
        @classmethod
        def _strip(cls, v: str) -> str:
            return v.strip()

    class Aliased(Contract):
        text: str = Field(alias="body")

    class Stripping(Contract):
        model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
        text: str

    for nested in (Checked, Aliased, Stripping):

        class Holder(Contract):
            items: list[nested]  # type: ignore[valid-type]

        with pytest.raises(TypeError, match=nested.__name__):
            lean.lean_model(Holder)


def test_items_are_dicts_from_either_form() -> None:
    rec = _entities(random.Random(11), "a1")
    while not rec.entities:
        rec = _entities(random.Random(12), "a1")
    dumped = lean.items(rec.entities)
    assert dumped == [e.model_dump() for e in rec.entities]
    decoded = lean.lean_model(ArticleEntities).model_validate_json(rec.model_dump_json())
    assert lean.items(decoded.entities) is decoded.entities
    assert lean.items([]) == []


@pytest.mark.parametrize(
    ("model", "route", "routed"),
    [
        (ArticleEntities, actors.route_entities, actors.ROUTED),
        (ArticleObservations, series.route_observations, series.ROUTED),
        (ArticleEvents, tone.route_events, tone.ROUTED),
    ],
    ids=["entities", "observations", "events"],
)
def test_the_routers_give_the_same_items_from_either_form(
    model: type[BaseModel], route: Any, routed: Any
) -> None:
    rng = random.Random(5)
    for n in range(40):
        rec = BUILDERS[model](rng, f"a{n}")
        from_model = route(rec)
        from_lean = route(routed.model_validate_json(rec.model_dump_json()))
        # As re-keyed: the same JSON on the internal topics.
        assert json.dumps(from_lean, default=str) == json.dumps(from_model, default=str)
        # What each item quotes is the contract's JSON form of it.
        _assert_quoted_as_json(rec, from_lean)


def _assert_quoted_as_json(rec: Any, routed_items: list[tuple[str, Any]]) -> None:
    items = [item for _, item in routed_items]
    if isinstance(rec, ArticleEvents):
        counted = [
            e for e in rec.events if not e.negated and e.target and e.target.id != e.actor.id
        ]
        assert [i["event"] for i in items] == [e.model_dump(mode="json") for e in counted]
    elif isinstance(rec, ArticleObservations):
        by_id = {o.id: o.evidence.model_dump(mode="json") for o in rec.observations}
        assert [i["evidence"] for i in items] == [by_id[i["observation_id"]] for i in items]
    else:
        mentions = {e.id: e.mentions for e in rec.entities}
        for group in items:
            for ent in group["entities"]:
                expected = [m.model_dump(mode="json") for m in mentions[ent["id"]][:3]]
                assert ent["evidence"] == expected
                assert ent["mentions"] == len(mentions[ent["id"]])


def test_a_nested_items_dict_forbids_unknown_keys_on_its_own() -> None:
    """As `Contract` forbids them, wherever the dict type is used (not only inside a model
    that forbids them)."""
    mention = TypeAdapter(lean.lean_dict(Mention))
    assert mention.validate_python({"text": "Rafah", "start": 3, "end": 8}) == {
        "text": "Rafah",
        "start": 3,
        "end": 8,
    }
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        mention.validate_python({"text": "Rafah", "start": 3, "end": 8, "speaker": "x"})
