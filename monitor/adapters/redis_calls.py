"""One Redis client, connected on first use, whose failures are :class:`StoreError` s naming what
failed and the masked URL: the judge's token ledger, statistics journal and request buffer share
it. A refusal retrying cannot fix (the credentials, an ACL) is a :class:`StoreRefused`;
:func:`check_redis` is the one PING ``monitor judge`` makes at start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from monitor.errors import StoreError, StoreRefused
from monitor.redact import mask_text, mask_url

__all__ = ["RedisCalls", "check_redis", "refusal"]

T = TypeVar("T")

_CONNECT_TIMEOUT = 2.0
_CALL_TIMEOUT = 5.0


def refusal(exc: BaseException, url: str) -> tuple[str, str] | None:
    """What Redis refused and what to fix, when ``exc`` is a refusal retrying cannot fix: the
    credentials (WRONGPASS, NOAUTH) or the user's ACL (NOPERM). None for what passes, to be
    retried: a refused connection, a timeout, LOADING, BUSY, READONLY after a failover, OOM.

    >>> import redis
    >>> refusal(redis.AuthenticationError("invalid username-password pair"), "redis://:pw@h/0")
    ('refused the credentials (invalid username-password pair)', 'check the password (and user) in MONITOR_REDIS_URL')
    >>> refusal(redis.ConnectionError("Connection refused"), "redis://h/0") is None
    True
    """
    import redis
    from redis.exceptions import AuthenticationWrongNumberOfArgsError, NoPermissionError

    said = mask_text(str(exc))
    if isinstance(exc, redis.AuthenticationError | AuthenticationWrongNumberOfArgsError):
        if urlsplit(url).password is None:
            return (
                f"asks for a password and MONITOR_REDIS_URL gives none ({said})",
                "set it there: redis://:PASSWORD@host:port/db",
            )
        return (
            f"refused the credentials ({said})",
            "check the password (and user) in MONITOR_REDIS_URL",
        )
    if isinstance(exc, NoPermissionError):
        return (
            f"refused a command to MONITOR_REDIS_URL's user (NOPERM {said})",
            "grant that user the judge's commands and keys (docs/judge.md, Setup)",
        )
    return None


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
        refused = refusal(exc, url)
        if refused is not None:
            cause, fix = refused
            raise StoreRefused(f"{subject} at {mask_url(url)} {cause}: {fix}") from exc
        raise StoreError(
            f"{subject} at {mask_url(url)} is unreachable ({mask_text(str(exc))}): "
            "check MONITOR_REDIS_URL and that Redis is up"
        ) from exc
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
            refused = refusal(exc, self.url)
            if refused is not None:
                cause, fix = refused
                raise StoreRefused(f"{where}: Redis {cause}: {fix}") from exc
            raise StoreError(f"{where}: {mask_text(str(exc))}") from exc

    def _redis(self) -> Any:
        if self._client is None:
            self._client = _client(self.url, self.client_options)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
