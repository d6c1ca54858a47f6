"""Settings of every newsmon command and service (pydantic-settings).

Sources, highest priority first: keyword arguments, `NEWSMON_*` environment variables
(nested fields with `__`, e.g. `NEWSMON_KAFKA_SECURITY__PROTOCOL`), the YAML or TOML file named
by `NEWSMON_CONFIG`, then defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SERVICES = ("ingester", "extractor", "tracker", "alerter")
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True}
_BOOL_WORDS.update({"false": False, "0": False, "no": False, "off": False})


class ConfigError(Exception):
    """A setting has a wrong value; the message names the setting and what to do."""


class KafkaSecurity(BaseModel):
    """How clients authenticate to Kafka. The local broker uses PLAINTEXT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "kafka_security.protocol is SASL_*: set kafka_security.sasl_mechanism, "
                "kafka_security.sasl_username and kafka_security.sasl_password"
            )
        return self


class Feed(BaseModel):
    """An RSS/Atom feed the ingester polls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    name: str | None = None
    interval_s: float = Field(default=300.0, gt=0)


class _FileSource(PydanticBaseSettingsSource):
    """Reads the YAML or TOML file named by NEWSMON_CONFIG."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("NEWSMON_CONFIG")
        if not path:
            return {}
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"NEWSMON_CONFIG={path}: no such file")
        text = p.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text) if p.suffix == ".toml" else yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"NEWSMON_CONFIG={path}: cannot parse: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"NEWSMON_CONFIG={path}: expected a mapping of settings")
        return data


class Settings(BaseSettings):
    """Every setting, with its default. See the README's Configuration section."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSMON_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    # Kafka
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port] of an existing cluster; unset = the local broker.",
    )
    kafka_security: KafkaSecurity = KafkaSecurity()
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=19092, ge=1, le=65535)
    controller_port: int = Field(default=19093, ge=1, le=65535)
    broker_heap: str = "512m"
    broker_sasl_users: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="When set, the local broker also opens a SASL_PLAINTEXT listener "
        "(PLAIN and SCRAM-SHA-512) with these users.",
    )
    broker_sasl_port: int = Field(default=19094, ge=1, le=65535)
    topic_prefix: str = Field(default="", description="Prepended to every topic and group name.")
    replication_factor: int = Field(default=1, ge=1)

    # Processes
    state_dir: Path = Path(".newsmon")
    bind_host: str = "127.0.0.1"
    ingester_port: int = Field(default=9101, ge=1, le=65535)
    extractor_port: int = Field(default=9102, ge=1, le=65535)
    tracker_port: int = Field(default=9103, ge=1, le=65535)
    alerter_port: int = Field(default=9104, ge=1, le=65535)
    prometheus_port: int = Field(default=9190, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    table_store: Literal["rocksdb", "memory"] = "rocksdb"
    # RocksDB memory per table partition (Faust opens one database per partition, and its
    # defaults -- 3 x 64 MiB write buffers and a 2 GiB block cache each -- grow without bound).
    rocksdb_write_buffer_mib: int = Field(default=2, ge=1, le=1024)
    rocksdb_block_cache_mib: int = Field(default=4, ge=1, le=16384)
    # Decoded table values kept in memory per table (tracker, alerter), most recently used.
    table_cache_entries: int = Field(default=10_000, ge=0)
    # Longest a stream batch waits for its next record before it is processed (at most 0.25 s
    # in all; core/faustapp.py for_each_batch); 0 processes what is buffered at once.
    batch_linger_ms: float = Field(default=5.0, ge=0, le=1000)
    # Longest a stateful tracker agent holds the state changes of its batches before it
    # writes them, all at once (core/faustapp.py HeldState): a key changed by every batch in
    # between is written once. Outputs are published with each batch; inputs are acked once
    # their state is written. 0 writes after every batch.
    state_commit_ms: float = Field(default=1000.0, ge=0, le=60_000)
    # Producers per tracker agent (core/faustapp.py lane_producer): each has its own broker
    # connection and one produce request in flight; an agent's partitions are shared out.
    producer_lanes: int = Field(default=4, ge=1, le=16)
    # Python's cyclic garbage collector in the stream services (core/faustapp.py tune_gc):
    # young-generation threshold; 0 keeps Python's defaults (700).
    gc_threshold: int = Field(default=200_000, ge=0)
    # Stall watchdog (core/watchdog.py): records waiting on an input partition and none
    # finished for this long is a stall; 0 turns the watchdog off.
    stall_timeout_s: float = Field(default=120.0, ge=0)
    # Offsets committed only after the changelog records of their state (core/faustapp.py).
    commit_guard: bool = True
    stall_action: Literal["restart", "report"] = "restart"

    # Ingester
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_future_days: int = Field(default=2, ge=0)
    ingest_token: SecretStr | None = None
    http_max_request_bytes: int = Field(default=10_000_000, gt=0)
    http_rate_limit_per_minute: int = Field(default=600, gt=0)
    feeds: list[Feed] = Field(default_factory=list)

    # Extractor
    spacy_model: str = "en_core_web_sm"
    extractor_processes: int = Field(default=1, ge=0, description="0 = run spaCy in-process.")
    extractor_batch_size: int = Field(default=16, ge=1)
    extractor_timeout_s: float = Field(default=60.0, gt=0)
    catalogue_dir: Path | None = None

    # Tracker and alerter
    tone_window_days: int = Field(default=7, ge=1)
    # A news.metrics record carries the series' points this many days either side of the
    # date it changed (and at least the neighbouring points); change rules look no further.
    metrics_window_days: int = Field(default=30, ge=1, le=3660)
    # How many news.metrics records the tracker publishes (docs/decisions.md):
    # "none": one per report that changed a series;
    # "unchanged" (default): one per report that moved a date's value (or added the date) at
    #   once, and one per series date per batch for reports that changed only corroboration,
    #   sources or evidence -- the alerts are the same as with "none";
    # "all": one per series date changed by a batch (its state after the batch); which change
    #   and threshold alerts fire then depends on where batches end.
    # true / false are read as "all" / "none".
    metrics_coalesce: Literal["none", "unchanged", "all"] = "unchanged"
    rules_path: Path | None = None
    alert_suppression_s: float = Field(default=3600.0, ge=0)

    @field_validator("metrics_coalesce", mode="before")
    @classmethod
    def _coalesce_from_bool(cls, value: Any) -> Any:
        """The setting was a boolean before it had three values: true / false still work."""
        if isinstance(value, bool):
            return "all" if value else "none"
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return "all" if _BOOL_WORDS[value.strip().lower()] else "none"
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers every client uses. (Not cached: `model_copy` copies a cached
        value, and a copy with another `kafka_bootstrap` would keep the old servers.)"""
        return self.kafka_bootstrap or f"{self.broker_host}:{self.broker_port}"

    @property
    def uses_local_broker(self) -> bool:
        return self.kafka_bootstrap is None

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def service_dir(self, service: str) -> Path:
        return self.state_dir / service


def to_env(settings: Settings) -> dict[str, str]:
    """NEWSMON_* variables that reproduce `settings` in a child process (secrets included)."""
    import json

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, BaseModel):
            return {k: plain(v) for k, v in value if v is not None}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value.resolve())
        return value

    env: dict[str, str] = {}
    for name in settings.model_fields_set | {"state_dir"}:
        value = plain(getattr(settings, name))
        if value is None:
            continue
        key = f"NEWSMON_{name.upper()}"
        env[key] = value if isinstance(value, str) else json.dumps(value)
    return env


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and file), or a ConfigError that names each bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "NEWSMON_" + "__".join(str(p) for p in err["loc"]).upper()
            secret = any(w in name for w in ("password", "token", "sasl_users"))
            got = "***" if secret else repr(err.get("input"))
            lines.append(f"  {name} (env {env}): {err['msg']} (got {got})")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
