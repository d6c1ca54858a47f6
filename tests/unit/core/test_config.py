"""Unit tests of the settings: environment, config file, errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from newsmon.core import logs
from newsmon.core.config import ConfigError, load_settings


def test_environment_variables_set_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """NEWSMON_* variables override defaults, nested ones with a double underscore."""
    monkeypatch.setenv("NEWSMON_EXTRACTOR_PORT", "9999")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__SASL_USERNAME", "alice")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__SASL_PASSWORD", "s3cret")
    s = load_settings()
    assert s.extractor_port == 9999
    assert s.kafka_security.sasl_mechanism == "SCRAM-SHA-512"
    assert "s3cret" not in repr(s)


def test_local_broker_is_the_default_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without NEWSMON_KAFKA_BOOTSTRAP the local broker's address is used."""
    monkeypatch.delenv("NEWSMON_KAFKA_BOOTSTRAP", raising=False)
    s = load_settings(broker_port=29092)
    assert s.uses_local_broker
    assert s.bootstrap == "127.0.0.1:29092"
    monkeypatch.setenv("NEWSMON_KAFKA_BOOTSTRAP", "kafka.example:9092")
    assert load_settings().bootstrap == "kafka.example:9092"


def test_a_copy_with_other_servers_uses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """`model_copy` with another `kafka_bootstrap` gives those servers, even when the
    original's had been read before (a cached value was copied along once)."""
    monkeypatch.delenv("NEWSMON_KAFKA_BOOTSTRAP", raising=False)
    s = load_settings(kafka_bootstrap="one:9092")
    assert s.bootstrap == "one:9092"
    assert s.model_copy(update={"kafka_bootstrap": "two:9092"}).bootstrap == "two:9092"
    assert s.model_copy(update={"kafka_bootstrap": None}).bootstrap == "127.0.0.1:19092"


def test_wrong_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value gives an error naming the setting and its environment variable."""
    monkeypatch.setenv("NEWSMON_TRACKER_PORT", "not-a-port")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "tracker_port" in str(err.value)
    assert "NEWSMON_TRACKER_PORT" in str(err.value)


@pytest.mark.parametrize(
    ("value", "mode"),
    [("unchanged", "unchanged"), ("all", "all"), ("none", "none"), ("true", "all"),
     ("false", "none"), ("1", "all"), ("off", "none")],
)  # fmt: skip
def test_metrics_coalesce_takes_a_mode_or_the_booleans_it_was(
    monkeypatch: pytest.MonkeyPatch, value: str, mode: str
) -> None:
    """`metrics_coalesce` was a boolean: true and false still mean "all" and "none"; the
    default is "unchanged"; anything else is an error that names the setting."""
    assert load_settings().metrics_coalesce == "unchanged"
    monkeypatch.setenv("NEWSMON_METRICS_COALESCE", value)
    assert load_settings().metrics_coalesce == mode
    monkeypatch.setenv("NEWSMON_METRICS_COALESCE", "sometimes")
    with pytest.raises(ConfigError, match="NEWSMON_METRICS_COALESCE"):
        load_settings()


def test_incomplete_sasl_settings_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL without credentials is an error that says which settings are missing."""
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="sasl_username"):
        load_settings()


def test_secret_values_never_appear_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rejected secret is not echoed back in the error message."""
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__SASL_MECHANISM", "BOGUS")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY__SASL_PASSWORD", "hunter2")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "hunter2" not in str(err.value)


def test_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NEWSMON_CONFIG names a YAML file of settings; the environment still wins."""
    cfg = tmp_path / "newsmon.yaml"
    cfg.write_text("spacy_model: my_model\nalerter_port: 9555\nfeeds:\n  - url: http://x/f.xml\n")
    monkeypatch.setenv("NEWSMON_CONFIG", str(cfg))
    monkeypatch.setenv("NEWSMON_ALERTER_PORT", "9666")
    s = load_settings()
    assert s.spacy_model == "my_model"
    assert s.alerter_port == 9666
    assert s.feeds[0].url == "http://x/f.xml"


def test_unknown_setting_in_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt setting in the config file is reported, not ignored."""
    cfg = tmp_path / "newsmon.yaml"
    cfg.write_text("spacy_modle: x\n")
    monkeypatch.setenv("NEWSMON_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="spacy_modle"):
        load_settings()


def test_article_id_is_bound_into_log_lines() -> None:
    """Log lines emitted while an article is processed carry its id."""
    logs.configure("test")
    with (
        structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as captured,
        logs.bound_article("a-42"),
    ):
        logs.get_logger("t").info("article_processed", entities=3)
    assert captured[0]["article_id"] == "a-42"
    assert captured[0]["event"] == "article_processed"
