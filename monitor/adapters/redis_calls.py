"""One Redis client, connected on first use, whose failures are :class:`StoreError` s naming what
failed and the masked URL: the judge's token ledger, statistics journal and request buffer share
it. A refusal retrying cannot fix (the credentials, an ACL) is a :class:`StoreRefused`
(:mod:`monitor.adapters.redis_errors` tells them apart); :func:`check_redis` is the one PING
``monitor judge`` makes at start; :func:`refuse_open_redis` stops a start whose URL's password
protects nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from monitor.adapters.redis_errors import store_error, unreachable_or_refused
from monitor.errors import ConfigError
from monitor.redact import mask_url

__all__ = ["JUDGE_NEEDS", "RedisCalls", "check_key_access", "check_redis", "refuse_open_redis"]

T = TypeVar("T")

_CONNECT_TIMEOUT = 2.0
_CALL_TIMEOUT = 5.0
JUDGE_NEEDS = "the judge's commands and keys (docs/judge.md, Setup)"


def _client(url: str, client_options: dict[str, Any]) -> Any:
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=_CONNECT_TIMEOUT,
        socket_timeout=_CALL_TIMEOUT,
        **client_options,
    )


def check_redis(url: str, subject: str, client_options: dict[str, Any] | None = None) -> None:
    """One PING with the options the stores use: a :class:`StoreRefused` if Redis refuses the
    credentials, a :class:`StoreError` if it does not answer, each one line naming ``subject``
    and the masked URL."""
    import redis

    client = _client(url, dict(client_options or {}))
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise unreachable_or_refused(exc, url, subject, JUDGE_NEEDS) from exc
    finally:
        client.close()
    refuse_open_redis(url, subject, client_options)


def refuse_open_redis(url: str, subject: str, client_options: dict[str, Any] | None = None) -> None:
    """``ConfigError`` when ``url`` carries a password but its Redis answers a client without one.

    redis-py ignores Redis's "AUTH called without any password configured" reply, so such a URL
    works and the operator believes Redis protected while anyone who reaches it can read and write
    the join state: one unauthenticated PING tells. A URL without credentials is not checked.
    """
    import redis

    parts = urlsplit(url)
    if not parts.password:
        return
    anonymous = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    client = _client(anonymous, dict(client_options or {}))
    try:
        client.ping()
    except (redis.RedisError, OSError):
        return  # refused (NOAUTH, NOPERM) or not answered: the credentials are what let us in
    finally:
        client.close()
    raise ConfigError(
        f"{subject} at {mask_url(url)} answers clients without a password: the password in "
        "MONITOR_REDIS_URL protects nothing. Require one on Redis (requirepass, or ACL users with "
        "the default user off), or remove it from MONITOR_REDIS_URL to run on an open Redis knowingly"
    )


def check_key_access(
    url: str,
    prefixes: list[str],
    subject: str,
    needs: str,
    client_options: dict[str, Any] | None = None,
) -> None:
    """A ``SET`` (10 s TTL) and a ``DEL`` of a probe key under each of ``prefixes``: an ACL whose
    key patterns leave one out is a :class:`StoreRefused` at start, not at the first batch or the
    first alert."""
    import redis

    client = _client(url, dict(client_options or {}))
    try:
        for prefix in prefixes:
            key = f"{prefix}access-probe"
            client.set(key, "1", px=10_000)
            client.delete(key)
    except (redis.RedisError, OSError) as exc:
        raise unreachable_or_refused(exc, url, subject, needs) from exc
    finally:
        client.close()


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
        """``call(client)``; a StoreError saying ``what`` failed when Redis does not answer, a
        :class:`StoreRefused` when it refuses the credentials or the command."""
        import redis

        try:
            return call(self._redis())
        except (redis.RedisError, OSError) as exc:
            where = f"{self.subject} in Redis at {mask_url(self.url)}: {what} failed"
            raise store_error(exc, self.url, where, JUDGE_NEEDS) from exc

    def _redis(self) -> Any:
        if self._client is None:
            self._client = _client(self.url, self.client_options)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
