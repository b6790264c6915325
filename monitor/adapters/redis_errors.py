"""What a failed Redis call means, told by redis-py's exception class, in one place for every
Redis store (the worker's join stores, the judge's token count, statistics and buffer):

- a refusal only a change of configuration fixes: the credentials (``WRONGPASS``, ``NOAUTH``),
  the user's ACL (``NOPERM``, or a command a script runs refused) or a URL that points at a Redis
  Cluster node, whose redirects our clients do not follow (``MOVED``, ``ASK``, ``CROSSSLOT``, or a
  script's key on another node): :class:`StoreRefused`, never retried, the process stops and says
  what to fix;
- an outage: no answer, a timeout, ``LOADING``, ``BUSY``, ``READONLY`` after a failover, ``OOM``
  under ``maxmemory``, ``TRYAGAIN``, ``CLUSTERDOWN``, ``MASTERDOWN``: a retryable
  :class:`StoreError`, waited for;
- anything else (a script refusing its arguments or what it found under a key): a
  :class:`StoreError` that retrying does not fix.

redis-py strips the reply's code from the message and maps it to a class (``READONLY`` to
``ReadOnlyError``, ``OOM`` to ``OutOfMemoryError``, ...), so the class decides, not the text.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.errors import StoreError, StoreRefused
from monitor.redact import mask_text, mask_url

__all__ = ["cluster_reply", "is_transient", "refusal", "store_error", "unreachable_or_refused"]

# Replies redis-py maps to no class of their own: their code stays at the start of the message.
_TRANSIENT_CODES = ("BUSY ", "MISCONF ", "NOREPLICAS ")
# An ACL refusal of a command a script runs is an ERR reply, without NOPERM: Redis 7.0 and 7.1
# say "The user executing the script can't ...", 7.2 and later "ACL failure in script: ...".
_SCRIPT_ACL_REFUSALS = ("The user executing the script can't", "ACL failure in script:")
# A cluster node refuses a script's key another node serves, or keys in several slots, with an ERR
# reply, not MOVED or CROSSSLOT (the wordings of Redis 7.0 and later).
_SCRIPT_CLUSTER_REFUSALS = (
    "Script attempted to access a non local key in a cluster node",
    "Script attempted to access keys that do not hash to the same slot",
)
_SCRIPT_CROSS_SLOT = "in script attempted to access keys that don't hash to the same slot"
_NOT_A_CLUSTER_CLIENT = (
    "MONITOR_REDIS_URL points at a Redis Cluster node, and the monitor's Redis client is not a "
    "cluster client (it follows no redirects)"
)


def refusal(exc: BaseException, url: str, needs: str) -> tuple[str, str] | None:
    """What Redis refused and what to fix, when ``exc`` is a refusal retrying cannot fix: the
    credentials (WRONGPASS, NOAUTH), the user's ACL (NOPERM) or a Redis Cluster node's redirect;
    ``needs`` names where the commands and keys the user needs are listed. None for anything else.

    >>> import redis
    >>> refusal(redis.AuthenticationError("invalid username-password pair"), "redis://:pw@h/0", "")
    ('refused the credentials (invalid username-password pair)', 'check the password (and user) in MONITOR_REDIS_URL')
    >>> refusal(redis.ConnectionError("Connection refused"), "redis://h/0", "") is None
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
    if isinstance(exc, NoPermissionError) or (
        type(exc) is redis.ResponseError and str(exc).startswith(_SCRIPT_ACL_REFUSALS)
    ):
        return (
            f"refused a command to MONITOR_REDIS_URL's user (NOPERM {said})",
            f"grant that user {needs}",
        )
    reply = cluster_reply(exc)
    if reply is not None:
        return (
            f"answered {reply}: {_NOT_A_CLUSTER_CLIENT}",
            "point MONITOR_REDIS_URL at a Redis not in cluster mode (docs/SECURITY.md, Redis)",
        )
    return None


def cluster_reply(exc: BaseException) -> str | None:
    """The reply, its code first, when ``exc`` is a Redis Cluster node's answer to a client that is
    not a cluster client: a key served by another node (``MOVED``, or ``ASK`` while its slot
    migrates; an ``ERR`` from inside a script) or keys in several slots (``CROSSSLOT``). None for
    anything else.

    >>> from redis.exceptions import MovedError, ResponseError
    >>> cluster_reply(MovedError("12182 10.0.0.7:6379"))
    'MOVED (12182 10.0.0.7:6379)'
    >>> cluster_reply(ResponseError("unknown command 'CLUSTER'")) is None
    True
    """
    import redis
    from redis.exceptions import AskError, ClusterCrossSlotError, MovedError

    said = mask_text(str(exc))
    # redis-py strips the code: the class tells (a MovedError is an AskError)
    for code, cls in (
        ("MOVED", MovedError),
        ("ASK", AskError),
        ("CROSSSLOT", ClusterCrossSlotError),
    ):
        if isinstance(exc, cls):
            return f"{code} ({said})"
    text = str(exc)
    if type(exc) is redis.ResponseError and (
        text.startswith(_SCRIPT_CLUSTER_REFUSALS) or _SCRIPT_CROSS_SLOT in text
    ):
        return f"ERR ({said})"
    return None


def is_transient(exc: BaseException) -> bool:
    """True when a later attempt can succeed without anyone changing anything but the time.

    >>> from redis.exceptions import ReadOnlyError, ResponseError
    >>> is_transient(ReadOnlyError("You can't write against a read only replica.")), is_transient(
    ...     ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    (True, False)
    """
    import redis
    from redis.exceptions import (
        AuthenticationWrongNumberOfArgsError,
        ClusterDownError,
        OutOfMemoryError,
        ReadOnlyError,
        TryAgainError,
    )

    if isinstance(exc, redis.AuthenticationError | AuthenticationWrongNumberOfArgsError):
        return False  # a ConnectionError to redis-py, a configuration error to us
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        return True  # BusyLoadingError (LOADING) is a ConnectionError
    if isinstance(exc, ReadOnlyError | OutOfMemoryError | TryAgainError | ClusterDownError):
        return True  # MasterDownError (MASTERDOWN) is a ClusterDownError
    return type(exc) is redis.ResponseError and str(exc).startswith(_TRANSIENT_CODES)


def store_error(exc: BaseException, url: str, where: str, needs: str) -> StoreError:
    """The error to raise for ``exc`` met by ``where`` (what failed, naming the masked URL): a
    :class:`StoreRefused` ending with what to fix, else a :class:`StoreError`, retryable when
    :func:`is_transient`."""
    refused = refusal(exc, url, needs)
    if refused is not None:
        cause, fix = refused
        return StoreRefused(f"{where}: Redis {cause}: {fix}")
    return StoreError(f"{where}: {mask_text(str(exc))}", retryable=is_transient(exc))


def unreachable_or_refused(exc: BaseException, url: str, subject: str, needs: str) -> StoreError:
    """The one line a start-up check raises when its PING failed: ``subject`` at the masked URL
    refused (:class:`StoreRefused`) or is unreachable (:class:`StoreError`)."""
    refused = refusal(exc, url, needs)
    if refused is not None:
        cause, fix = refused
        return StoreRefused(f"{subject} at {mask_url(url)} {cause}: {fix}")
    return StoreError(
        f"{subject} at {mask_url(url)} is unreachable ({mask_text(str(exc))}): "
        "check MONITOR_REDIS_URL and that Redis is up"
    )
