"""The alert sinks a worker delivers to, from its settings."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from monitor.adapters.alert_sinks import (
    AlertmanagerSink,
    AlertSink,
    KafkaAlertSink,
    LogSink,
    WebhookSink,
)
from monitor.settings import Settings

__all__ = ["build_sinks"]


def build_sinks(settings: Settings, send_to_kafka: Callable[[bytes, bytes], Awaitable[None]]) -> list[AlertSink]:
    """The log always; Alertmanager, the webhook and the Kafka alerts topic when configured."""
    sinks: list[AlertSink] = [LogSink(logging.getLogger("monitor.alerts"))]
    if settings.alertmanager_url:
        sinks.append(AlertmanagerSink(settings.alertmanager_url))
    if settings.alert_webhook_url:
        secret = settings.alert_webhook_secret.get_secret_value() if settings.alert_webhook_secret else None
        sinks.append(WebhookSink(settings.alert_webhook_url, secret))
    if settings.alerts_to_kafka:
        sinks.append(KafkaAlertSink(send_to_kafka))
    return sinks
