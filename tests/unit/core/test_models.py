"""Unit tests of the contract models."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from newsmon.core import models, serde, topics

NOW = dt.datetime(2023, 11, 13, tzinfo=dt.UTC)


def _article(**kw: object) -> models.Article:
    base: dict[str, object] = {
        "id": "a1",
        "source": "seed",
        "title": "T",
        "published_at": NOW,
        "body": "Body.",
        "ingested_at": NOW,
    }
    base.update(kw)
    return models.Article(**base)  # type: ignore[arg-type]


def test_article_round_trips_through_json() -> None:
    """An article encoded for Kafka decodes to an equal model."""
    a = _article(url="https://example.org/x")
    assert serde.decode(topics.ARTICLES_RAW, serde.encode(a)) == a


def test_unknown_fields_are_rejected() -> None:
    """Boundary models forbid fields that the contract does not name."""
    with pytest.raises(ValidationError, match="extra"):
        models.Article.model_validate({**_article().model_dump(), "colour": "red"})


def test_naive_datetimes_are_rejected() -> None:
    """Datetimes must carry a timezone."""
    with pytest.raises(ValidationError, match="timezone"):
        _article(published_at=dt.datetime(2023, 11, 13))


def test_every_value_carries_a_schema_version() -> None:
    """Every topic's value schema has a schema_version field."""
    for spec in topics.TOPICS.values():
        schema = spec.adapter().json_schema()
        text = str(schema)
        assert "schema_version" in text, spec.name


def test_actor_topic_values_are_discriminated_by_record() -> None:
    """news.actors carries actor and tone records, told apart by `record`."""
    ref = models.ActorRef(id="turkey", name="Turkey")
    rec = models.ActorSalience(
        update="first_seen",
        actor=ref,
        type="GPE",
        known=True,
        first_seen=NOW,
        first_article_id="a1",
        mentions=2,
        articles=1,
        event_time=NOW,
        updated_at=NOW,
    )
    back = serde.decode(topics.ACTORS, serde.encode(rec))
    assert isinstance(back, models.ActorSalience)
    assert back.actor.name == "Turkey"


def test_cameo_codes_are_digit_strings() -> None:
    """An event's CAMEO code is a string of 2-4 digits."""
    ev = {
        "id": "e",
        "actor": {"id": "turkey", "name": "Turkey"},
        "action": "withdrew its ambassador",
        "cameo": "161",
        "quad_class": 4,
        "goldstein": -4.0,
        "date": "2023-11-11",
        "evidence": {"text": "x", "start": 0, "end": 1},
    }
    assert models.Event.model_validate(ev).cameo == "161"
    with pytest.raises(ValidationError):
        models.Event.model_validate({**ev, "cameo": "16a"})
