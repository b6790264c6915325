"""Errors raised by the monitor: one root, small named subclasses with precise messages."""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BrokerRefused",
    "ConfigError",
    "InvalidEvent",
    "MonitorError",
    "StoreError",
    "StoreRefused",
    "blames_the_input",
    "is_retryable",
]


class MonitorError(Exception):
    """Root of every error this project raises on purpose."""


class InvalidEvent(MonitorError):
    """An event breaks the contract. ``reason`` is a stable code, ``field`` the dotted path.

    >>> str(InvalidEvent("out_of_range", "rating", "7 is outside 1-5"))
    'rating: 7 is outside 1-5'
    """

    def __init__(self, reason: str, field: str, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}" if field else detail)


class ConfigError(MonitorError):
    """A setting or a configuration file is wrong; the message names the value and the choices."""


class StoreError(MonitorError):
    """The aggregate store (ClickHouse) or the join store cannot be reached or refused an operation.

    ``retryable`` is False when retrying cannot help: the data itself was refused (a value the
    encoders or the column types cannot hold), as opposed to an outage or a timeout.

    >>> StoreError("insert failed: value out of range", retryable=False).retryable
    False
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class StoreRefused(StoreError):
    """A store answered and refused what it was asked for a reason only a change of configuration
    fixes (Redis refusing the credentials or a command to the user): never retried, the process
    that meets it stops and says what to fix.

    >>> error = StoreRefused("judge Redis at redis://:***@cache:6379/0 refused the credentials")
    >>> isinstance(error, StoreError), error.retryable
    (True, False)
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class PositionMoved(StoreError):
    """A batch's write was refused because its source partition moved on since the batch was prepared:
    another writer (or an earlier attempt whose answer was lost) wrote those offsets. Re-read the
    position and prepare the batch again; what is already written is then skipped."""


class BrokerError(MonitorError):
    """A broker could not be started, reached or logged into: the local one, or MONITOR_KAFKA_BOOTSTRAP's."""

    retryable = True


class BrokerRefused(StoreRefused):
    """The Kafka broker answered and refused the worker's principal an operation (an ACL, the SASL
    credentials): never retried as an outage, the worker stops and says what to grant.

    >>> error = BrokerRefused("the Kafka broker refused to take the dead letters")
    >>> isinstance(error, StoreRefused), is_retryable(error)
    (True, False)
    """


def is_retryable(exc: BaseException) -> bool:
    """True for failures a later attempt can fix: outages and timeouts, never bad data.

    >>> is_retryable(StoreError("connection refused")), is_retryable(TypeError("Integer exceeds 64-bit range"))
    (True, False)
    """
    return bool(getattr(exc, "retryable", False)) or isinstance(
        exc, (ConnectionError, TimeoutError)
    )


def blames_the_input(exc: BaseException) -> bool:
    """False for failures that say nothing about the messages being processed: outages (a later
    attempt fixes them) and a store's refusal only a change of configuration fixes
    (:class:`StoreRefused`). Only the others are worth looking for a bad message, and dead-lettering.

    >>> blames_the_input(ValueError("rating: 7")), blames_the_input(StoreError("timed out"))
    (True, False)
    >>> blames_the_input(StoreRefused("Redis join store at redis://h/0 refused the credentials"))
    False
    """
    return not (is_retryable(exc) or isinstance(exc, StoreRefused))
