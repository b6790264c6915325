"""Alerting core: frozen rule specs loaded from YAML (``rules``), the decision table that turns
the signals of a window into a recommended action (``actions``), and the incident state machine
with cooldowns and the alert value handed to sinks (``state``). Pure: time is passed in, and
delivery lives in :mod:`monitor.adapters.alert_sinks`."""

from __future__ import annotations

from monitor.alerts.actions import MetricEvidence, Recommendation, Signals, recommend
from monitor.alerts.rules import AlertRule, default_rules, load_rules
from monitor.alerts.state import Alert, AlertTracker, fingerprint

__all__ = [
    "Alert",
    "AlertRule",
    "AlertTracker",
    "MetricEvidence",
    "Recommendation",
    "Signals",
    "default_rules",
    "fingerprint",
    "load_rules",
    "recommend",
]
