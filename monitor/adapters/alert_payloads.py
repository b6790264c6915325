"""What an alert notification looks like on the wire: its delivery key, JSON body, signature,
Alertmanager payload and request headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.state import Alert, successor

__all__ = [
    "DELIVERY_HEADER",
    "SERVICE",
    "SIGNATURE_HEADER",
    "alert_json",
    "alertmanager_payload",
    "auth_headers",
    "delivery_key",
    "sign",
]

SERVICE = "llm-monitor"
SIGNATURE_HEADER = "X-Monitor-Signature"
DELIVERY_HEADER = "X-Monitor-Delivery-Id"  # the same for every retry of one notification


def delivery_key(alert: Alert) -> str:
    """One notification: the alert series, its status and its incident start. The deduplication
    key, the outbox key and the ``X-Monitor-Delivery-Id`` header a receiver can deduplicate on.

    >>> delivery_key(Alert.firing("r", "warning", "m", "v1", 600.0, "s"))
    '0d781e74e2eda0ee:firing:600.000'
    """
    return f"{alert.fingerprint}:{alert.status}:{alert.starts_at:.3f}"


def alert_json(alert: Alert) -> bytes:
    """The alert as compact, key-sorted JSON bytes (the signed webhook body, the Kafka value)."""
    return json.dumps(alert.to_dict(), sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of the signature header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _runbook_annotations(description: str, runbook: str) -> dict[str, str]:
    """``runbook_url`` only for a link receivers can open; a relative runbook (no
    MONITOR_RUNBOOK_BASE_URL) is named at the end of the description instead.

    >>> _runbook_annotations("Latency rose.", "docs/alerts.md#latency")
    {'description': 'Latency rose. Runbook: docs/alerts.md#latency'}
    >>> _runbook_annotations("Latency rose.", "https://wiki.example/latency")["runbook_url"]
    'https://wiki.example/latency'
    """
    if runbook.startswith(("https://", "http://")):
        return {"description": description, "runbook_url": runbook}
    if runbook:
        return {"description": f"{description} Runbook: {runbook}".strip()}
    return {"description": description}


def _texts(alert: Alert) -> tuple[str, str, dict[str, str]]:
    """Summary, description and extra annotations. A superseded alert resolves (Alertmanager
    knows only firing and resolved) but its texts say it did not clear: default templates show
    ``[RESOLVED]`` and then the annotations, ``description`` first.

    >>> old = Alert.firing("drift", "warning", "m", "v1", 60.0, "m v1: input drift",
    ...                    description="Inputs moved.")
    >>> new = Alert.firing("takeover", "critical", "m", "v1", 120.0, "roll back",
    ...                    recommended_action="rollback")
    >>> _texts(old.superseded(new, 120.0))[0]
    'Superseded by takeover (rollback): m v1: input drift'
    >>> _texts(old.resolved(120.0))
    ('m v1: input drift', 'Inputs moved.', {})
    """
    new = successor(alert.evidence) if alert.status == "resolved" else None
    if new is None:
        return alert.summary, alert.description, {}
    lead = f"Superseded by {new}"
    description = f"{lead}: not cleared, the incident goes on under that alert. {alert.description}"
    return f"{lead}: {alert.summary}", description.strip(), {"superseded_by": new}


def alertmanager_payload(alert: Alert, generator_url: str = "") -> dict[str, Any]:
    """One Alertmanager API v2 ``postableAlert``; resolved alerts carry ``endsAt``, superseded
    ones say so in ``summary``, ``description`` and ``superseded_by``."""
    summary, description, superseded = _texts(alert)
    item: dict[str, Any] = {
        "labels": {
            "alertname": alert.rule,
            "severity": alert.severity,
            "model": alert.model,
            "model_version": alert.model_version,
            "service": SERVICE,
        },
        "annotations": {
            "summary": summary,
            **_runbook_annotations(description, alert.runbook_url),
            "recommended_action": alert.recommended_action or "",
            "evidence": json.dumps(dict(alert.evidence), sort_keys=True, default=str),
            **superseded,
        },
        "startsAt": _rfc3339(alert.starts_at),
    }
    if alert.status == "resolved":
        item["endsAt"] = _rfc3339(alert.ends_at if alert.ends_at is not None else time.time())
    if generator_url:
        item["generatorURL"] = generator_url
    return item


def auth_headers(token: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    """``Authorization: Bearer <token>`` (when given) and custom headers, e.g. an API key.

    >>> auth_headers("t0k", {"X-Team": "ml"})
    {'X-Team': 'ml', 'Authorization': 'Bearer t0k'}
    """
    out = dict(headers or {})
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out
