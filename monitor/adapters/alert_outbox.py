"""The alert outbox: deliveries not yet acknowledged by their sink, kept in the store.

When the leader records alerts it writes one ``pending`` row per ``(notification, sink)`` in the
same run that saves its alert state; when a sink takes the alert (or delivery is given up, or
another worker claimed it) a final row follows. A restarted worker reads what is still pending
and delivers it. The key of a notification is the deduplication key
(``fingerprint:status:starts_at``), so a notification is pending at most once per sink.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from monitor.adapters.alert_sinks import delivery_key
from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.alerts.state import Alert

__all__ = ["FINAL_STATES", "AlertOutbox"]

PENDING = "pending"
FINAL_STATES = ("delivered", "given_up", "duplicate")
_COLUMNS = ["delivery_key", "sink", "state", "alert", "updated_at"]


class AlertOutbox:
    """Blocking; call it from the store's executor thread like every other store call."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store

    def _now(self) -> datetime:
        return datetime.fromtimestamp(time.time(), tz=UTC)

    def add(self, alerts: Sequence[Alert], sinks: Iterable[str]) -> None:
        """Record ``alerts`` as pending for each of ``sinks``."""
        now, names = self._now(), list(sinks)
        rows = [
            [
                delivery_key(a),
                sink,
                PENDING,
                json.dumps(a.to_dict(), sort_keys=True, default=str),
                now,
            ]
            for a in alerts
            for sink in names
        ]
        self.store.insert("alert_outbox", rows, _COLUMNS)

    def finish(self, alert: Alert, sink: str, state: str) -> None:
        """Close ``alert``'s delivery to ``sink`` with a final ``state``."""
        if state not in FINAL_STATES:
            raise ValueError(f"state: {state!r} is not one of {FINAL_STATES}")
        self.store.insert(
            "alert_outbox", [[delivery_key(alert), sink, state, "", self._now()]], _COLUMNS
        )

    def pending(self, sinks: Iterable[str]) -> list[tuple[str, Alert]]:
        """``(sink, alert)`` for every delivery to one of ``sinks`` without a final row, oldest first."""
        names = list(sinks)
        if not names:
            return []
        rows = self.store.query(
            f"SELECT sink, anyIf(alert, state = 'pending') AS alert, min(updated_at) AS first "
            f"FROM {self.store.table('alert_outbox')} WHERE sink IN {{sinks:Array(String)}} "
            "GROUP BY sink, delivery_key HAVING countIf(state != 'pending') = 0 AND alert != '' "
            "ORDER BY first, sink",
            {"sinks": names},
        ).rows
        return [(sink, Alert.from_dict(json.loads(alert))) for sink, alert, _ in rows]
