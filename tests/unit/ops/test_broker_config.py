"""Unit tests of the local broker's configuration rendering."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from newsmon.core.config import Settings
from newsmon.ops import broker


def test_plaintext_config_uses_the_state_folder_and_ports(tmp_path: Path) -> None:
    """server.properties has KRaft combined mode, the ports and a log dir in the state folder."""
    s = Settings(state_dir=tmp_path, broker_port=31092, controller_port=31093)
    text = broker.render_config(s, broker.broker_paths(s))
    assert "process.roles=broker,controller" in text
    assert "PLAINTEXT://127.0.0.1:31092" in text
    assert "1@127.0.0.1:31093" in text
    assert f"log.dirs={tmp_path.resolve() / 'kafka' / 'data'}" in text
    assert "group.initial.rebalance.delay.ms=0" in text
    assert "SASL" not in text


def test_sasl_users_open_a_sasl_listener(tmp_path: Path) -> None:
    """With users configured the broker also listens with SASL PLAIN and SCRAM-SHA-512."""
    s = Settings(
        state_dir=tmp_path, broker_sasl_users={"alice": SecretStr("pw")}, broker_sasl_port=31094
    )
    text = broker.render_config(s, broker.broker_paths(s))
    assert "SASL_PLAINTEXT://127.0.0.1:31094" in text
    assert "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512" in text
    assert 'user_alice="pw"' in text


def test_cluster_ids_never_look_like_options() -> None:
    """A generated cluster id never starts with '-' (the storage tool would read an option)."""
    ids = {broker.new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


def test_given_properties_replace_the_templates(tmp_path: Path) -> None:
    """Properties given at start come after the template's, so they are the ones that count
    (Java's Properties keeps a key's last value); the benchmark uses Kafka's default delay
    of a new group's first assignment."""
    import io

    s = Settings(state_dir=tmp_path)
    text = broker.render_config(
        s, broker.broker_paths(s), {"group.initial.rebalance.delay.ms": "3000"}
    )
    values: dict[str, str] = {}
    for line in io.StringIO(text):
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition("=")
            values[key] = value  # the last value of a key wins, as in Java
    assert values["group.initial.rebalance.delay.ms"] == "3000"
    assert text.count("group.initial.rebalance.delay.ms=") == 2
    assert text.endswith("group.initial.rebalance.delay.ms=3000\n")
