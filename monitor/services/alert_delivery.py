"""Alert delivery for the leader: the sinks from the settings, deduplication across workers, a
durable outbox so that a restart loses no notification, and a retrying queue per sink.

The life of one notification (``delivery_key``: series, status, incident start):

1. ``record`` (inside the alert run, before the alert state is saved): one ``pending`` outbox row
   per configured sink;
2. ``deliver``: the deduplicator lets one worker claim it; the claimant queues it, the others close
   their outbox rows as ``duplicate``;
3. when a sink takes it, its row is closed as ``delivered`` (``given_up`` after ``max_attempts``);
4. ``recover`` (once per process, when it first leads): every row still pending, for example
   because the sink was down when the worker was killed, is queued again, without a new claim.

A notification is sent at least once; it is sent twice only if the worker dies between a sink
accepting it and the acknowledgement reaching the store. Webhook receivers can drop such repeats
by the ``X-Monitor-Delivery-Id`` header; Alertmanager merges identical alerts itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from monitor.adapters.alert_outbox import AlertOutbox
from monitor.adapters.alert_queue import SizeCallback
from monitor.adapters.alert_sinks import (
    AlertDeduplicator,
    AlertmanagerSink,
    AlertSink,
    DeliveryQueue,
    KafkaAlertSink,
    LogSink,
    WebhookSink,
    auth_headers,
    delivery_key,
)
from monitor.adapters.client_security import http_ssl_context
from monitor.alerts.state import Alert
from monitor.errors import MonitorError
from monitor.settings import Settings

__all__ = ["AlertDelivery", "build_sinks"]

log = logging.getLogger("monitor.alerts")
RunBlocking = Callable[..., Awaitable[Any]]
_MAX_REMEMBERED = 100_000  # notification keys queued by this process (alerts are rare)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_sinks(
    settings: Settings, send_to_kafka: Callable[[bytes, bytes], Awaitable[None]]
) -> list[AlertSink]:
    """The log always; Alertmanager, the webhook and the Kafka alerts topic when configured."""
    sinks: list[AlertSink] = [LogSink(logging.getLogger("monitor.alerts"))]
    ssl_context = http_ssl_context(settings)
    if settings.alertmanager_url:
        headers = auth_headers(
            _secret(settings.alertmanager_token),
            {k: v.get_secret_value() for k, v in settings.alertmanager_headers.items()},
        )
        sinks.append(
            AlertmanagerSink(settings.alertmanager_url, headers=headers, ssl_context=ssl_context)
        )
    if settings.alert_webhook:
        headers = auth_headers(
            _secret(settings.alert_webhook_token),
            {k: v.get_secret_value() for k, v in settings.alert_webhook_headers.items()},
        )
        sinks.append(
            WebhookSink(
                settings.alert_webhook,
                _secret(settings.alert_webhook_secret),
                headers=headers,
                ssl_context=ssl_context,
            )
        )
    if settings.alerts_to_kafka:
        sinks.append(KafkaAlertSink(send_to_kafka))
    return sinks


class AlertDelivery:
    """Outbox, deduplicator and queue around ``sinks``; ``blocking`` runs a store call off the loop."""

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        outbox: AlertOutbox,
        dedup: AlertDeduplicator,
        blocking: RunBlocking,
        *,
        max_attempts: int | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        on_failure: Callable[[str, Alert, BaseException], None] | None = None,
        on_queue_size: SizeCallback | None = None,
    ) -> None:
        self.outbox = outbox
        self.dedup = dedup
        self.blocking = blocking
        self.sink_names = [s.name for s in sinks]
        self.queue = DeliveryQueue(
            sinks,
            max_attempts,
            base_delay,
            max_delay,
            on_failure=on_failure,
            on_queue_size=on_queue_size,
            on_delivered=self._delivered,
            on_give_up=self._given_up,
        )
        self.recovered = False
        self._queued: set[tuple[str, str]] = set()

    def record(self, alerts: Sequence[Alert]) -> None:
        """Blocking: the new alerts are pending for every sink (called inside the alert run)."""
        self.outbox.add(alerts, self.sink_names)

    async def deliver(self, alerts: Sequence[Alert]) -> None:
        """Queue the notifications this worker claims; close the others' outbox rows. A claim the
        deduplicator's Redis refuses (:class:`StoreRefused`) ends the call: that notification and
        the ones after it are not queued, their outbox rows stay pending."""
        for alert in alerts:
            if await self.dedup.should_send(alert):
                self._enqueue(alert, self.sink_names)
                continue
            for sink in self.sink_names:
                await self._finish(alert, sink, "duplicate")

    async def recover(self) -> int:
        """Queue every delivery still pending in the outbox (from before a restart); how many."""
        pending = await self.blocking(self.outbox.pending, self.sink_names)
        for sink, alert in pending:
            self._enqueue(alert, [sink])
        self.recovered = True
        if pending:
            log.info(
                "alert outbox: %d deliveries pending from before a restart, sending them",
                len(pending),
            )
        return len(pending)

    def _enqueue(self, alert: Alert, sinks: Sequence[str]) -> None:
        key = delivery_key(alert)
        fresh = [sink for sink in sinks if (sink, key) not in self._queued]
        if len(self._queued) > _MAX_REMEMBERED:
            self._queued.clear()
        self._queued.update((sink, key) for sink in fresh)
        if fresh:
            self.queue.enqueue(alert, fresh)

    async def _delivered(self, sink: str, alert: Alert) -> None:
        await self._finish(alert, sink, "delivered")

    async def _given_up(self, sink: str, alert: Alert, exc: BaseException) -> None:
        await self._finish(alert, sink, "given_up")

    async def _finish(self, alert: Alert, sink: str, state: str) -> None:
        try:
            await self.blocking(self.outbox.finish, alert, sink, state)
        except MonitorError as exc:  # the row stays pending: at worst a repeat after a restart
            log.warning(
                "alert outbox: %s to %s not marked %s: %s", delivery_key(alert), sink, state, exc
            )

    async def close(self, timeout: float | None = 5.0) -> bool:
        """Flush the queue for up to ``timeout`` (the rest stays pending in the outbox)."""
        flushed = await self.queue.close(timeout)
        await self.dedup.close()
        return flushed
