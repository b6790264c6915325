"""The judge's daily token count in Redis: it outlives a runner's restart and is shared by every
runner of an app id, so a crash loop or a second runner cannot spend the budget again.

One key per UTC day, ``<prefix><day>``, counted with ``INCRBY`` and kept two days.
"""

from __future__ import annotations

from typing import Any

from monitor.adapters.redis_calls import RedisCalls
from monitor.errors import StoreError
from monitor.redact import mask_url

__all__ = ["RedisTokenLedger"]

_KEEP_SECONDS = 2 * 86400  # yesterday's count is no longer read; two days leave room for clocks


class RedisTokenLedger:
    """:class:`monitor.judge.budget.TokenLedger` in Redis; :class:`StoreError` when unreachable."""

    def __init__(self, url: str, prefix: str, client_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.prefix = prefix
        self._calls = RedisCalls(url, "judge token budget", client_options)

    def spent(self, day: int) -> int:
        value = self._calls.run("read", lambda c: c.get(f"{self.prefix}{day}"))
        try:
            return int(value or 0)
        except ValueError:  # another program's value under our key: count nothing against it
            raise StoreError(
                f"judge token budget in Redis at {mask_url(self.url)}: {self.prefix}{day} holds "
                f"{value[:40]!r}, not a count"
            ) from None

    def add(self, day: int, tokens: int) -> int:
        def add(client: Any) -> int:
            pipe = client.pipeline(transaction=True)
            pipe.incrby(f"{self.prefix}{day}", tokens)
            pipe.expire(f"{self.prefix}{day}", _KEEP_SECONDS)
            return int(pipe.execute()[0])

        return self._calls.run("count", add)

    def close(self) -> None:
        self._calls.close()
