"""Incident state: when a rule fires and resolves, with time passed in, and the alert value.

Per ``(rule, model, model_version)`` key the tracker counts consecutive breaching windows. It
fires once ``for_windows`` windows in a row breached with at least ``min_samples`` samples each,
and fires once per incident: no new firing until the condition clears and the incident resolves.
After a resolve, ``cooldown_seconds`` must pass before the key can fire again. Windows with fewer
than ``min_samples`` samples carry no evidence either way and leave the state unchanged.

>>> from monitor.alerts.rules import AlertRule
>>> rule = AlertRule("takeover", "metric", "warning", "human_takeover_rate", "above", 0.15,
...                  for_windows=2, min_samples=10, cooldown_seconds=900)
>>> t = AlertTracker()
>>> [t.observe(rule, ("chat", "v1"), b, 50, now) for b, now in
...  [(True, 300), (True, 600), (True, 900), (False, 1200), (True, 1500), (True, 1800), (True, 2100)]]
[None, 'fire', None, 'resolve', None, None, 'fire']
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from monitor.alerts.rules import AlertRule

__all__ = [
    "SUPERSEDED_BY",
    "Alert",
    "AlertTracker",
    "Resolution",
    "fingerprint",
    "status_text",
    "successor",
]

Transition = Literal["fire", "resolve"]
Resolution = Literal["cleared", "superseded"]
_SEP = "\x1f"
# The evidence key of an alert closed because a more urgent alert took its incident over.
SUPERSEDED_BY = "superseded_by"


@dataclass
class _KeyState:
    consecutive: int = 0
    firing: bool = False
    started_at: float | None = None
    cooldown_until: float = float("-inf")


class AlertTracker:
    """Pure incident state machine over ``(rule name, *key)``; serialisable with ``to_state``."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._states: dict[tuple[str, ...], _KeyState] = {}

    def observe(
        self, rule: AlertRule, key: tuple[str, ...], breached: bool, samples: int, now: float
    ) -> Transition | None:
        """Record one window's outcome for ``rule`` at ``key``; return the transition, if any."""
        if samples < rule.min_samples:
            return None
        state = self._states.setdefault((rule.name, *key), _KeyState())
        if not breached:
            state.consecutive = 0
            if state.firing:
                state.firing = False
                state.started_at = None
                state.cooldown_until = now + rule.cooldown_seconds
                return "resolve"
            return None
        state.consecutive += 1
        if state.firing or state.consecutive < rule.for_windows or now < state.cooldown_until:
            return None
        state.firing = True
        state.started_at = now
        return "fire"

    def is_firing(self, rule: AlertRule, key: tuple[str, ...]) -> bool:
        state = self._states.get((rule.name, *key))
        return bool(state and state.firing)

    def incident_start(self, rule: AlertRule, key: tuple[str, ...]) -> float | None:
        """When the current incident of ``rule`` at ``key`` fired, ``None`` when not firing."""
        state = self._states.get((rule.name, *key))
        return state.started_at if state else None

    def to_state(self) -> dict[str, Any]:
        """A JSON-compatible snapshot (infinite cooldowns stored as ``None``)."""
        return {
            "version": 1,
            "keys": [
                {
                    "key": list(k),
                    "consecutive": s.consecutive,
                    "firing": s.firing,
                    "started_at": s.started_at,
                    "cooldown_until": None
                    if s.cooldown_until == float("-inf")
                    else s.cooldown_until,
                }
                for k, s in self._states.items()
            ],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AlertTracker:
        tracker = cls()
        for entry in state.get("keys", ()):
            cooldown = entry.get("cooldown_until")
            tracker._states[tuple(entry["key"])] = _KeyState(
                consecutive=int(entry["consecutive"]),
                firing=bool(entry["firing"]),
                started_at=entry.get("started_at"),
                cooldown_until=float("-inf") if cooldown is None else float(cooldown),
            )
        return tracker


def fingerprint(rule: str, model: str, model_version: str) -> str:
    """A stable 16-hex-digit id of one alert series.

    >>> fingerprint("takeover", "chat", "v1")
    '8c41659a5342a866'
    """
    digest = hashlib.sha256(_SEP.join((rule, model, model_version)).encode()).hexdigest()
    return digest[:16]


def successor(evidence: Mapping[str, Any]) -> str | None:
    """``<rule> (<action>)`` of the alert that took the incident over when ``evidence`` is a
    superseded alert's, else ``None``.

    >>> successor({"superseded_by": {"rule": "takeover_vs_previous", "action": "rollback"}})
    'takeover_vs_previous (rollback)'
    >>> successor({"psi": 0.4}) is None
    True
    """
    by = evidence.get(SUPERSEDED_BY)
    if not isinstance(by, Mapping) or not by.get("rule"):
        return None
    action = by.get("action")
    return f"{by['rule']} ({action})" if action else str(by["rule"])


def status_text(status: str, evidence: Mapping[str, Any]) -> str:
    """A notification's status as a person should read it: a resolved alert whose incident goes
    on under a more urgent alert did not clear.

    >>> status_text("resolved", {"superseded_by": {"rule": "takeover", "action": "rollback"}})
    'superseded by takeover (rollback)'
    >>> status_text("resolved", {}), status_text("firing", {})
    ('resolved', 'firing')
    """
    new = successor(evidence) if status == "resolved" else None
    return f"superseded by {new}" if new else status


@dataclass(frozen=True)
class Alert:
    """One notification: a firing or a resolved incident. Times are epoch seconds.

    >>> a = Alert.firing("takeover", "warning", "chat", "v1", 600.0, "too many takeovers")
    >>> r = a.resolved(1200.0)
    >>> (r.status, r.ends_at, r.fingerprint == a.fingerprint, r.resolution)
    ('resolved', 1200.0, True, 'cleared')

    An escalated incident closes its old alert as superseded: still ``resolved`` (the series
    stops), with ``resolution`` saying the incident goes on under the new alert.

    >>> new = Alert.firing("rollback_rule", "critical", "chat", "v1", 900.0, "roll back",
    ...                    recommended_action="rollback")
    >>> s = a.superseded(new, 900.0)
    >>> (s.status, s.resolution, s.evidence["superseded_by"], s.status_text)
    ('resolved', 'superseded', {'rule': 'rollback_rule', 'action': 'rollback'}, 'superseded by rollback_rule (rollback)')
    """

    fingerprint: str
    rule: str
    severity: str
    status: Literal["firing", "resolved"]
    model: str
    model_version: str
    starts_at: float
    ends_at: float | None
    summary: str
    description: str = ""
    recommended_action: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    runbook_url: str = ""

    @classmethod
    def firing(
        cls,
        rule: str,
        severity: str,
        model: str,
        model_version: str,
        starts_at: float,
        summary: str,
        **extra: Any,
    ) -> Alert:
        """A firing alert; ``extra`` sets description, recommended_action, evidence, runbook_url."""
        return cls(
            fingerprint(rule, model, model_version),
            rule,
            severity,
            "firing",
            model,
            model_version,
            starts_at,
            None,
            summary,
            **extra,
        )

    def resolved(self, ends_at: float) -> Alert:
        return replace(self, status="resolved", ends_at=ends_at)

    def superseded(self, by: Alert, ends_at: float) -> Alert:
        """This alert resolved because ``by``, a more urgent alert, took its incident over."""
        note = {"rule": by.rule, "action": by.recommended_action}
        return replace(self.resolved(ends_at), evidence={**self.evidence, SUPERSEDED_BY: note})

    @property
    def resolution(self) -> Resolution | None:
        """``None`` while firing; ``superseded`` when a more urgent alert took the incident over
        (``evidence.superseded_by`` names it), else ``cleared``."""
        if self.status != "resolved":
            return None
        return "superseded" if successor(self.evidence) else "cleared"

    @property
    def status_text(self) -> str:
        """``firing``, ``resolved`` or ``superseded by <rule> (<action>)``."""
        return status_text(self.status, self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (``evidence`` must hold JSON-compatible values) with the
        derived ``resolution``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["evidence"] = dict(self.evidence)
        out["resolution"] = self.resolution
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Alert:
        """The alert :meth:`to_dict` made (unknown keys and the derived ``resolution`` are
        ignored, so a payload saved before ``resolution`` existed reads the same).

        >>> a = Alert.firing("takeover", "warning", "chat", "v1", 600.0, "s", evidence={"n": 3})
        >>> Alert.from_dict(a.to_dict()) == a
        True
        >>> old = {k: v for k, v in a.resolved(900.0).to_dict().items() if k != "resolution"}
        >>> Alert.from_dict(old).to_dict()["resolution"]
        'cleared'
        """
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
