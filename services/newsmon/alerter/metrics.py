"""Prometheus metrics of the alerter (names `newsmon_<what>_<unit>`, bounded label sets)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALERTS = Counter(
    "newsmon_alerts_total",
    "Alerts published, by kind, severity and status",
    ["kind", "severity", "status"],
)
ALERTS_DROPPED = Counter(
    "newsmon_alerts_dropped_total",
    "Candidate alerts not published, by kind and reason (duplicate, suppressed, ...)",
    ["kind", "reason"],
)
RULES_LOADED = Gauge("newsmon_alert_rules", "Enabled alert rules, by kind", ["kind"])
STATE_ENTRIES = Gauge(
    "newsmon_alerter_state_entries", "Entries in each alerter table (state size)", ["table"]
)
EVENT_TIME_LAG = Gauge(
    "newsmon_alerter_event_time_lag_seconds",
    "Seconds between the causing article's publication and the last published alert",
)
