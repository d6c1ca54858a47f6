"""End to end: broker + the four services as processes; the seed in, alerts out."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest

from newsmon.core import models, topics
from newsmon.core.config import Settings
from tests.helpers import ROOT, StackUnderTest, publish

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture
def stack(contract_topics: Settings) -> Iterator[StackUnderTest]:
    s = StackUnderTest(contract_topics)
    try:
        s.start()
        yield s
    finally:
        s.close()


def _alerts(stack: StackUnderTest) -> list[models.Alert]:
    return [a for a in stack.read(topics.ALERTS) if isinstance(a, models.Alert)]


def test_seed_replay_produces_the_expected_alerts_once(stack: StackUnderTest) -> None:
    """The seed yields aid-truck change, Turkey→Israel 161 and new-actor alerts; a replay adds none."""
    res = stack.replay(str(ROOT / "seeds"), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    stack.drain()

    entities = stack.read(topics.ENTITIES)
    assert len(entities) == 1 and entities[0].entities

    alerts = _alerts(stack)
    assert alerts, "no alert on news.alerts"
    ids = [a.id for a in alerts]
    assert len(ids) == len(set(ids)), "an alert was published twice"

    change = [a for a in alerts if a.kind == "change" and a.metric and "truck" in a.metric]
    assert change, f"no aid-truck change alert in {[a.title for a in alerts]}"
    values = [v.value for v in change[0].values or []]
    assert 100 in values and 30 in values

    diplomatic = [
        a
        for a in alerts
        if a.kind == "diplomatic_action"
        and a.cameo
        and a.cameo.startswith("16")
        and a.actor
        and a.actor.name == "Turkey"
        and a.target
        and a.target.name == "Israel"
    ]
    assert diplomatic, f"no Turkey→Israel 16x alert in {[a.title for a in alerts]}"

    new_actor = [a for a in alerts if a.kind == "new_actor"]
    subjects = collections.Counter(a.subject for a in new_actor)
    assert new_actor and max(subjects.values()) == 1, subjects

    # A second replay of the same files adds no alert and no second set of results.
    res = stack.replay(str(ROOT / "seeds"), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    stack.drain()
    assert len(_alerts(stack)) == len(alerts)
    assert len(stack.read(topics.ENTITIES)) == 1

    # The same record published again straight to Kafka (bypassing any replay-side index)
    # is recognised downstream by its id.
    raw = stack.read(topics.ARTICLES_RAW)
    publish(stack.settings, topics.ARTICLES_RAW, raw[0], key=raw[0].id)
    stack.drain()
    assert len(stack.read(topics.ENTITIES)) == 1
    assert len(_alerts(stack)) == len(alerts)
