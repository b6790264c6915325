"""One notification sent once across workers: a Redis ``SET NX`` claim, or in memory for one process."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from monitor.adapters.alert_payloads import delivery_key
from monitor.adapters.redis_errors import store_error
from monitor.adapters.redis_join_store import WORKER_NEEDS
from monitor.alerts.state import Alert
from monitor.errors import StoreRefused
from monitor.redact import mask_text, mask_url

__all__ = ["AlertDeduplicator"]

log = logging.getLogger("monitor.adapters.alert_sinks")  # the logger these records always had


class AlertDeduplicator:
    """Lets one worker send each notification: key = fingerprint, status and incident start.

    With ``redis_url`` the claim is a Redis ``SET NX`` with a TTL, shared by all workers; without
    it, an in-memory set for one process. If Redis cannot be reached the alert is sent: a
    duplicate notification is better than a lost one. A Redis that refuses the claim for a reason
    only a change of configuration fixes (the credentials, the ACL, a cluster node) raises
    :class:`StoreRefused` instead: no wait fixes it, and an unclaimed notification is one two
    leaders of a rebalance may both send.
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
        """``True`` exactly once per key across the workers sharing the Redis; ``True`` as well
        when Redis does not answer; :class:`StoreRefused` when it refuses the claim."""
        key = self.key(alert)
        if self.redis_url is None:
            return self._claim_locally(key, time.monotonic())
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as Disconnected
        from redis.exceptions import RedisError

        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.redis_url,
                socket_connect_timeout=2,
                socket_timeout=2,
                # once, on a new connection: an idle one Redis closed (after a password change,
                # say) is not an outage, and a refusal shows only when connecting again
                retry=Retry(NoBackoff(), 1, supported_errors=(Disconnected,)),
                **self.client_options,
            )
        try:
            return bool(await self._client.set(key, "1", nx=True, ex=max(1, int(self.ttl_seconds))))
        except (RedisError, OSError) as exc:
            where = f"alert deduplicator in Redis at {mask_url(self.redis_url)}: claim failed"
            error = store_error(exc, self.redis_url, where, WORKER_NEEDS)
            if isinstance(error, StoreRefused):
                raise error from exc
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
