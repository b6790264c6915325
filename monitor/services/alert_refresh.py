"""Keep open incidents active in Alertmanager: re-post their firing alerts every hour.

Alertmanager gives an alert posted without ``endsAt`` an end of *now + resolve_timeout*, and
resolves it then unless it is posted again (Prometheus re-posts every evaluation). The workers
post a firing alert once per incident, so an incident open longer than ``resolve_timeout`` (24 h
in deploy/alertmanager) was resolved there, and its receivers told so, while it still fired.
The leader re-posts every open incident's firing alert each ``every`` seconds: the same labels and
``startsAt``, so Alertmanager only moves the end (no new notification); a worker that stops
re-posting lets its alerts expire ``resolve_timeout`` after the last one. A worker that becomes the
leader (the previous one died, or it restarted) re-posts at once the open alerts it has not posted
itself: it cannot know when they were last posted. An open alert whose text changed (an
experiment's stop whose harmed guardrail is now another) is re-posted at once: Alertmanager takes
the new annotations under the same labels, and notifies no one for them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import aiohttp

from monitor.adapters.alert_sinks import AlertmanagerSink, AlertSink, delivery_key
from monitor.alerts.state import Alert

__all__ = ["REFRESH_SECONDS", "AlertmanagerRefresh"]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 3600.0  # well inside any resolve_timeout an incident-length setting uses


class AlertmanagerRefresh:
    """Re-posts open firing alerts to the Alertmanager sinks among ``sinks``.

    An alert that fired in this refresh (its delivery posts it) is re-posted ``every`` seconds from
    then; one first seen open otherwise (another leader posted it) is re-posted at once, then every
    ``every`` seconds; one that is no longer open is forgotten.
    """

    def __init__(self, sinks: Sequence[AlertSink], every: float = REFRESH_SECONDS) -> None:
        if every <= 0:
            raise ValueError(f"every: {every!r} is not a positive number of seconds")
        self.sinks = [sink for sink in sinks if isinstance(sink, AlertmanagerSink)]
        self.every = every
        # delivery key -> when it was last posted, and the summary it said
        self._posted: dict[str, tuple[float, str]] = {}

    async def refresh(
        self, open_alerts: Sequence[Alert], now: float, delivered: Sequence[Alert] = ()
    ) -> int:
        """Re-post the open firing alerts last posted ``every`` or more ago, or never by this
        worker, or with another summary; ``delivered``: the alerts this refresh's delivery has
        just sent. How many were due."""
        if not self.sinks:
            return 0
        firing = {delivery_key(a): a for a in open_alerts if a.status == "firing"}
        just_sent = {delivery_key(a): a.summary for a in delivered}
        self._posted = {
            key: self._posted.get(
                key, (now, just_sent[key]) if key in just_sent else (-math.inf, "")
            )
            for key in firing
        }
        due = [
            a
            for key, a in firing.items()
            if now - self._posted[key][0] >= self.every or self._posted[key][1] != a.summary
        ]
        for alert in due:
            for sink in self.sinks:
                try:
                    await sink.send(alert)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    # the next refresh tries again, long before Alertmanager's timeout
                    log.warning("alertmanager refresh of %s failed: %s", alert.rule, exc)
            self._posted[delivery_key(alert)] = (now, alert.summary)
        return len(due)
