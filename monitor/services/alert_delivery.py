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
    auth_headers,
)
from monitor.adapters.client_security import http_ssl_context
from monitor.settings import Settings

__all__ = ["build_sinks"]


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_sinks(settings: Settings, send_to_kafka: Callable[[bytes, bytes], Awaitable[None]]) -> list[AlertSink]:
    """The log always; Alertmanager, the webhook and the Kafka alerts topic when configured."""
    sinks: list[AlertSink] = [LogSink(logging.getLogger("monitor.alerts"))]
    ssl_context = http_ssl_context(settings)
    if settings.alertmanager_url:
        headers = auth_headers(_secret(settings.alertmanager_token),
                               {k: v.get_secret_value() for k, v in settings.alertmanager_headers.items()})
        sinks.append(AlertmanagerSink(settings.alertmanager_url, headers=headers, ssl_context=ssl_context))
    if settings.alert_webhook:
        headers = auth_headers(_secret(settings.alert_webhook_token),
                               {k: v.get_secret_value() for k, v in settings.alert_webhook_headers.items()})
        sinks.append(WebhookSink(settings.alert_webhook, _secret(settings.alert_webhook_secret), headers=headers,
                                 ssl_context=ssl_context))
    if settings.alerts_to_kafka:
        sinks.append(KafkaAlertSink(send_to_kafka))
    return sinks
