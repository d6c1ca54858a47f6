"""Unit tests of the topic registry and the schema export (drift check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsmon.core import models, schemas, topics

ROOT = Path(__file__).resolve().parents[3]


def test_contract_topic_names() -> None:
    """The registry owns exactly the topics of ARCHITECTURE.md."""
    assert set(topics.TOPICS) == {
        "news.articles.raw",
        "news.articles.dlq",
        "news.entities",
        "news.observations",
        "news.events",
        "news.metrics",
        "news.actors",
        "news.alerts",
    }


def test_table_source_topics_share_one_partition_count() -> None:
    """Topics that feed Faust tables have the same partition count as the tables' changelogs."""
    for spec in (
        topics.ARTICLES_RAW,
        topics.ENTITIES,
        topics.OBSERVATIONS,
        topics.EVENTS,
        topics.METRICS,
        topics.ACTORS,
    ):
        assert spec.partitions == topics.PARTITIONS, spec.name


def test_exported_schemas_match_the_models() -> None:
    """schemas/ is what `newsmon schemas export` generates now (run it after a model change)."""
    assert schemas.drift(ROOT / "schemas") == []


def test_drift_is_detected_when_a_model_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changing a model without re-exporting makes the drift check fail."""
    schemas.export(tmp_path)
    assert schemas.drift(tmp_path) == []

    class ChangedAlert(models.Alert):
        extra_field: int = 0

    changed = topics.TopicSpec(
        "news.alerts", 1, "id", ChangedAlert, "delete", topics.ALERTS.description
    )
    monkeypatch.setitem(topics.TOPICS, "news.alerts", changed)
    assert schemas.drift(tmp_path) == ["news.alerts.schema.json", "asyncapi.yaml"] or (
        "news.alerts.schema.json" in schemas.drift(tmp_path)
    )


def test_asyncapi_describes_every_topic_with_its_key() -> None:
    """The AsyncAPI 3 document has a channel per topic with partitions and key."""
    doc = schemas.asyncapi()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == set(topics.TOPICS)
    raw = addresses["news.articles.raw"]
    assert raw["bindings"]["kafka"]["partitions"] == topics.PARTITIONS


def test_series_updates_are_kept_a_week_before_compaction() -> None:
    """A consumer up to a week behind reads every series update, not only each series' latest."""
    cfg = topics.METRICS.config()
    assert cfg["cleanup.policy"] == "compact"
    assert int(cfg["min.compaction.lag.ms"]) == 7 * 24 * 3600 * 1000


def test_topic_requests_carry_the_spec_and_overrides() -> None:
    """The admin request has the prefixed name, partitions and configs; an override (the
    benchmark's fed topics: delete, not compact) replaces one config and keeps the others."""
    from newsmon.core.config import load_settings
    from newsmon.ops.topics import new_topic

    settings = load_settings(topic_prefix="t1.", replication_factor=1)
    req = new_topic(topics.METRICS, settings)
    assert (req.name, req.num_partitions, req.replication_factor) == (
        "t1." + topics.METRICS.name,
        topics.METRICS.partitions,
        1,
    )
    assert req.topic_configs == topics.METRICS.config()
    fed = new_topic(topics.METRICS, settings, **{"cleanup.policy": "delete"})
    assert fed.topic_configs == {**topics.METRICS.config(), "cleanup.policy": "delete"}
    assert fed.topic_configs["min.compaction.lag.ms"] == req.topic_configs["min.compaction.lag.ms"]
