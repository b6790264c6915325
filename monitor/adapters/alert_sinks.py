"""Alert delivery: Alertmanager, signed webhooks, logs and Kafka, behind a retrying queue.

Every sink has a ``name`` and an ``async send(alert)`` that raises on failure. A
:class:`DeliveryQueue` gives each sink its own FIFO and background task, so a sink that is down
retries with exponential backoff while the others keep delivering, and ``enqueue`` never blocks.
:class:`AlertDeduplicator` lets only one of several workers send a given notification.
The sinks live here; the wire format in :mod:`monitor.adapters.alert_payloads`, the queue in
:mod:`monitor.adapters.alert_queue` and the deduplicator in :mod:`monitor.adapters.alert_dedup`,
re-exported here for every importer.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import aiohttp

from monitor.adapters.alert_dedup import AlertDeduplicator
from monitor.adapters.alert_payloads import (
    DELIVERY_HEADER,
    SERVICE,
    SIGNATURE_HEADER,
    alert_json,
    alertmanager_payload,
    auth_headers,
    delivery_key,
    sign,
)
from monitor.adapters.alert_queue import DeliveryQueue
from monitor.alerts.state import Alert

__all__ = [
    "SERVICE",
    "AlertDeduplicator",
    "AlertSink",
    "AlertmanagerSink",
    "DeliveryQueue",
    "KafkaAlertSink",
    "LogSink",
    "WebhookSink",
    "alert_json",
    "alertmanager_payload",
    "auth_headers",
    "delivery_key",
    "sign",
]

_TIMEOUT = aiohttp.ClientTimeout(total=10)
log = logging.getLogger(__name__)


class AlertSink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...


class _HttpSink:
    """Shared aiohttp session handling: built on first send, closed by ``close``.

    ``headers`` go with every request (bearer token, API keys); ``ssl`` is the TLS context for
    ``https`` URLs (``None``: the system CAs).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._headers = dict(headers or {})
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
            self._owns_session = True
        return self._session

    async def _post(self, url: str, data: bytes, headers: Mapping[str, str]) -> None:
        async with self._client().post(  # never redirected: the headers hold secrets
            url,
            data=data,
            headers={**self._headers, **headers},
            ssl=self._ssl,
            allow_redirects=False,
        ) as response:
            if response.status >= 300:
                text = (await response.text())[:200]
                raise aiohttp.ClientResponseError(
                    response.request_info, response.history, status=response.status, message=text
                )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None


class AlertmanagerSink(_HttpSink):
    """POSTs alerts to ``{url}/api/v2/alerts``. Firing alerts carry no ``endsAt``: Alertmanager
    ends them ``resolve_timeout`` after the last post, so the leader posts open ones again
    (:mod:`monitor.services.alert_refresh`; docs/alerts.md)."""

    name = "alertmanager"

    def __init__(
        self,
        url: str,
        *,
        generator_url: str = "",
        name: str = "alertmanager",
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(session, headers, ssl_context)
        self.name = name
        self.url = url.rstrip("/")
        self.generator_url = generator_url

    async def send(self, alert: Alert) -> None:
        body = json.dumps([alertmanager_payload(alert, self.generator_url)]).encode()
        await self._post(f"{self.url}/api/v2/alerts", body, {"Content-Type": "application/json"})


class WebhookSink(_HttpSink):
    """POSTs :func:`alert_json`; with a ``secret``, signs it in ``X-Monitor-Signature``."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        name: str = "webhook",
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(session, headers, ssl_context)
        self.name = name
        self.url = url
        self._secret = secret

    async def send(self, alert: Alert) -> None:
        body = alert_json(alert)
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_key(alert)}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        await self._post(self.url, body, headers)


class LogSink:
    """Writes each alert as one JSON log line: WARNING when firing, INFO when resolved. The
    message reads ``alert firing <rule>``, ``alert resolved <rule>`` or, for an escalated
    incident's old alert, ``alert <rule> superseded by <rule> (<action>)``: it did not clear."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None, *, name: str = "log") -> None:
        self.name = name
        self.logger = logger or log

    async def send(self, alert: Alert) -> None:
        level = logging.WARNING if alert.status == "firing" else logging.INFO
        body = alert_json(alert).decode()
        if alert.resolution == "superseded":
            self.logger.log(level, "alert %s %s: %s", alert.rule, alert.status_text, body)
        else:
            self.logger.log(level, "alert %s %s: %s", alert.status, alert.rule, body)


class KafkaAlertSink:
    """Hands ``(key=fingerprint, value=alert JSON)`` to ``send``, e.g. a producer's send-and-wait."""

    name = "kafka"

    def __init__(
        self, send: Callable[[bytes, bytes], Awaitable[None]], *, name: str = "kafka"
    ) -> None:
        self.name = name
        self._send = send

    async def send(self, alert: Alert) -> None:
        await self._send(alert.fingerprint.encode(), alert_json(alert))
