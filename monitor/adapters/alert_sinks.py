"""Alert delivery: Alertmanager, signed webhooks, logs and Kafka, behind a retrying queue.

Every sink has a ``name`` and an ``async send(alert)`` that raises on failure. A
:class:`DeliveryQueue` gives each sink its own FIFO and background task, so a sink that is down
retries with exponential backoff while the others keep delivering, and ``enqueue`` never blocks.
:class:`AlertDeduplicator` lets only one of several workers send a given notification.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp

from monitor.alerts.state import Alert
from monitor.redact import mask_text

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

SERVICE = "llm-monitor"
SIGNATURE_HEADER = "X-Monitor-Signature"
DELIVERY_HEADER = "X-Monitor-Delivery-Id"  # the same for every retry of one notification
_TIMEOUT = aiohttp.ClientTimeout(total=10)
log = logging.getLogger(__name__)


class AlertSink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...


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


def alertmanager_payload(alert: Alert, generator_url: str = "") -> dict[str, Any]:
    """One Alertmanager API v2 ``postableAlert``; resolved alerts carry ``endsAt``."""
    item: dict[str, Any] = {
        "labels": {
            "alertname": alert.rule,
            "severity": alert.severity,
            "model": alert.model,
            "model_version": alert.model_version,
            "service": SERVICE,
        },
        "annotations": {
            "summary": alert.summary,
            **_runbook_annotations(alert.description, alert.runbook_url),
            "recommended_action": alert.recommended_action or "",
            "evidence": json.dumps(dict(alert.evidence), sort_keys=True, default=str),
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
        async with self._client().post(
            url, data=data, headers={**self._headers, **headers}, ssl=self._ssl
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
    keeps them for its ``resolve_timeout`` (set it longer than your incidents; see docs/alerts.md)."""

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
    """Writes each alert as one JSON log line: WARNING when firing, INFO when resolved."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None, *, name: str = "log") -> None:
        self.name = name
        self.logger = logger or log

    async def send(self, alert: Alert) -> None:
        level = logging.WARNING if alert.status == "firing" else logging.INFO
        self.logger.log(
            level, "alert %s %s: %s", alert.status, alert.rule, alert_json(alert).decode()
        )


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


FailureCallback = Callable[[str, Alert, BaseException], None]
GiveUpCallback = Callable[[str, Alert, BaseException], Awaitable[None] | None]
SizeCallback = Callable[[str, int], None]
DeliveredCallback = Callable[[str, Alert], Awaitable[None] | None]


async def _settle(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Run a delivery or give-up callback (sync or async); its failure never stops the sink's queue."""
    try:
        result = callback(*args)
        if result is not None:
            await result
    except Exception:  # a boundary: the next alert of this sink must still go out
        log.exception("alert delivery callback %s failed", getattr(callback, "__name__", callback))


class DeliveryQueue:
    """Delivers every enqueued alert to every sink, in order per sink, retrying with backoff.

    ``max_attempts=None`` retries forever: nothing is lost while the process runs. Callbacks
    (e.g. Prometheus counters) see each failed attempt, queue sizes, deliveries and give-ups; the
    delivery and give-up callbacks may be coroutines (an outbox acknowledgement), awaited before
    the sink's next alert.
    """

    def __init__(
        self,
        sinks: Iterable[AlertSink],
        max_attempts: int | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        *,
        on_failure: FailureCallback | None = None,
        on_queue_size: SizeCallback | None = None,
        on_delivered: DeliveredCallback | None = None,
        on_give_up: GiveUpCallback | None = None,
    ) -> None:
        self.sinks = tuple(sinks)
        names = [s.name for s in self.sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sinks: names {names} are not unique; pass name= to tell them apart")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts: {max_attempts} is not >= 1 (or None for forever)")
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError(
                f"delays: need 0 <= base_delay ({base_delay}) <= max_delay ({max_delay})"
            )
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._on_failure = on_failure
        self._on_queue_size = on_queue_size
        self._on_delivered = on_delivered
        self._on_give_up = on_give_up
        self._queues: dict[str, asyncio.Queue[Alert]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[str, int] = {s.name: 0 for s in self.sinks}
        self.failures: dict[str, int] = {s.name: 0 for s in self.sinks}
        self.delivered: dict[str, int] = {s.name: 0 for s in self.sinks}

    def _start(self) -> None:
        if self._tasks:
            return
        for sink in self.sinks:
            queue: asyncio.Queue[Alert] = asyncio.Queue()
            self._queues[sink.name] = queue
            self._tasks.append(
                asyncio.create_task(self._deliver(sink, queue), name=f"alert-sink-{sink.name}")
            )

    def enqueue(self, alert: Alert, sinks: Iterable[str] | None = None) -> None:
        """Queue ``alert`` for every sink (or the named ``sinks``); call from the event loop. Never blocks."""
        self._start()
        names = set(self._queues) if sinks is None else set(sinks)
        for name, queue in self._queues.items():
            if name not in names:
                continue
            queue.put_nowait(alert)
            self._pending[name] += 1
            self._report_size(name)

    def pending(self) -> dict[str, int]:
        """Alerts not yet delivered, per sink (including one in flight)."""
        return dict(self._pending)

    def _report_size(self, name: str) -> None:
        if self._on_queue_size:
            self._on_queue_size(name, self._pending[name])

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): doubling, capped at ``max_delay``."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))

    async def _deliver(self, sink: AlertSink, queue: asyncio.Queue[Alert]) -> None:
        while True:
            alert = await queue.get()
            try:
                await self._deliver_one(sink, alert)
            finally:
                self._pending[sink.name] -= 1
                self._report_size(sink.name)
                queue.task_done()

    async def _deliver_one(self, sink: AlertSink, alert: Alert) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await sink.send(alert)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any sink failure is retried and counted
                self.failures[sink.name] += 1
                if self._on_failure:
                    self._on_failure(sink.name, alert, exc)
                if self.max_attempts is not None and attempt >= self.max_attempts:
                    log.error(
                        "alert %s to %s given up after %d attempts: %s",
                        alert.fingerprint,
                        sink.name,
                        attempt,
                        mask_text(str(exc)),
                    )
                    if self._on_give_up:
                        await _settle(self._on_give_up, sink.name, alert, exc)
                    return
                log.warning(
                    "alert %s to %s failed (attempt %d): %s",
                    alert.fingerprint,
                    sink.name,
                    attempt,
                    mask_text(str(exc)),
                )
                await asyncio.sleep(self.delay(attempt))
                continue
            self.delivered[sink.name] += 1
            if self._on_delivered:
                await _settle(self._on_delivered, sink.name, alert)
            return

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued alert is delivered or given up; ``False`` on timeout."""
        waits = [q.join() for q in self._queues.values()]
        if not waits:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float | None = 5.0) -> bool:
        """Flush for up to ``timeout``, stop the tasks and close sinks that hold sessions."""
        flushed = await self.flush(timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                await close()
        return flushed


class AlertDeduplicator:
    """Lets one worker send each notification: key = fingerprint, status and incident start.

    With ``redis_url`` the claim is a Redis ``SET NX`` with a TTL, shared by all workers; without
    it, an in-memory set for one process. If Redis cannot be reached the alert is sent: a
    duplicate notification is better than a lost one.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        ttl_seconds: float = 7 * 86400,
        prefix: str = "monitor:alert-sent:",
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.client_options = dict(client_options or {})
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self._client: Any = None
        self._seen: dict[str, float] = {}

    def key(self, alert: Alert) -> str:
        return f"{self.prefix}{delivery_key(alert)}"

    async def should_send(self, alert: Alert) -> bool:
        """``True`` exactly once per key across the workers sharing the Redis."""
        key = self.key(alert)
        if self.redis_url is None:
            return self._claim_locally(key, time.monotonic())
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.redis_url, socket_connect_timeout=2, socket_timeout=2, **self.client_options
            )
        try:
            return bool(await self._client.set(key, "1", nx=True, ex=max(1, int(self.ttl_seconds))))
        except (RedisError, OSError) as exc:
            log.warning("alert dedup via Redis failed, sending anyway: %s", mask_text(str(exc)))
            return True

    def _claim_locally(self, key: str, now: float) -> bool:
        self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
        if key in self._seen:
            return False
        self._seen[key] = now + self.ttl_seconds
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
