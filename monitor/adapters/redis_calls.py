"""One Redis client, connected on first use, whose failures are :class:`StoreError` s naming what
failed and the masked URL: the judge's token ledger and statistics journal share it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from monitor.errors import StoreError
from monitor.redact import mask_text, mask_url

__all__ = ["RedisCalls"]

T = TypeVar("T")


class RedisCalls:
    """Calls on ``url``'s Redis for ``subject`` (e.g. "judge token budget"), short timeouts."""

    def __init__(
        self, url: str, subject: str, client_options: dict[str, Any] | None = None
    ) -> None:
        self.url = url
        self.subject = subject
        self.client_options = dict(client_options or {})
        self._client: Any = None

    def run(self, what: str, call: Callable[[Any], T]) -> T:
        """``call(client)``; a StoreError saying ``what`` failed when Redis does not answer."""
        import redis

        try:
            return call(self._redis())
        except (redis.RedisError, OSError) as exc:
            raise StoreError(
                f"{self.subject} in Redis at {mask_url(self.url)}: {what} failed: "
                f"{mask_text(str(exc))}"
            ) from exc

    def _redis(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=5, **self.client_options
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
