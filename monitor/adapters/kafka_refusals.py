"""The Kafka errors that only a change of the broker's configuration fixes.

A broker with authorization on answers a principal that lacks an ACL with an authorization error,
and one whose SASL credentials it does not take with an authentication error. Retried as an outage,
such a batch waited for ever while its log said "retrying": the worker now stops at the first one,
as it does when a store refuses its credentials (:class:`~monitor.errors.StoreRefused`), and says
what to grant (docs/SECURITY.md, "Kafka ACLs").

>>> from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
>>> refused = broker_refusal(TopicAuthorizationFailedError(), "the dead letters", "monitor.contract.dlq")
>>> print(refused)
the Kafka broker refused the dead letters ([Error 29] TopicAuthorizationFailedError): the worker's \
principal needs Write and Describe on topic monitor.contract.dlq (docs/SECURITY.md, Kafka ACLs)
>>> broker_refusal(KafkaConnectionError("no route to host"), "the dead letters", "t") is None
True

:func:`send_failure` is what a failed send raises: the refusal, else a retryable outage.

>>> print(send_failure(KafkaConnectionError("no route to host"), "dead letters", "t"))
dead letters not delivered: KafkaConnectionError: no route to host
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from monitor.errors import BrokerError, BrokerRefused, MonitorError

__all__ = ["broker_refusal", "read_refusal", "send_failure", "topic_refusal"]

_SECURITY = "(docs/SECURITY.md, Kafka ACLs)"

# What each refusal asks of the user; "{topic}" is the topic the worker was writing to.
_FIXES: tuple[tuple[type[BaseException], str], ...] = (
    (
        TopicAuthorizationFailedError,
        "the worker's principal needs {needs} on topic {topic} " + _SECURITY,
    ),
    (
        ClusterAuthorizationFailedError,
        "the worker's principal needs the cluster operation the broker names (IdempotentWrite for "
        "an idempotent producer) " + _SECURITY,
    ),
    (GroupAuthorizationFailedError, "the worker's principal needs Read on its groups " + _SECURITY),
    (
        TransactionalIdAuthorizationFailed,
        "the worker's principal needs Write on its transactional id " + _SECURITY,
    ),
    (
        SaslAuthenticationFailed,
        (
            "check MONITOR_KAFKA_SASL_USERNAME, MONITOR_KAFKA_SASL_PASSWORD and "
            "MONITOR_KAFKA_SASL_MECHANISM against the broker's users"
        ),
    ),
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (Faust wraps the producer's errors), without looping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _named(exc: BaseException) -> str:
    """The error's type and text, the type once (aiokafka's texts often start with it)."""
    name, detail = type(exc).__name__, str(exc).strip()
    return detail if name in detail else f"{name}: {detail}" if detail else name


def broker_refusal(
    exc: BaseException, doing: str, topic: str, needs: str = "Write and Describe"
) -> BrokerRefused | None:
    """A :class:`BrokerRefused` naming what to fix when ``exc`` (or its cause) is a refusal of the
    worker's principal while ``doing`` something with ``topic``, which ``needs`` those operations;
    None for anything else (an outage, a timeout: retried).

    >>> print(broker_refusal(TopicAuthorizationFailedError("monitor.inference"), "the source records",
    ...                      "monitor.inference", needs="Read and Describe"))
    the Kafka broker refused the source records ([Error 29] TopicAuthorizationFailedError: \
monitor.inference): the worker's principal needs Read and Describe on topic monitor.inference \
(docs/SECURITY.md, Kafka ACLs)
    """
    for cause in _causes(exc):
        for kind, fix in _FIXES:
            if isinstance(cause, kind):
                return BrokerRefused(
                    f"the Kafka broker refused {doing} ({_named(cause)}): "
                    + fix.format(topic=topic, needs=needs)
                )
    return None


def topic_refusal(
    exc: BaseException, doing: str, topics: Sequence[str], needs: str
) -> BrokerRefused | None:
    """:func:`broker_refusal` naming the topic the broker refused (aiokafka's error carries it),
    else every one of ``topics``.

    >>> print(topic_refusal(TopicAuthorizationFailedError("in"), "the source records", ["in", "fb"],
    ...                     "Read and Describe"))  # doctest: +ELLIPSIS
    the Kafka broker refused the source records (...): the worker's principal needs Read and \
Describe on topic in (docs/SECURITY.md, Kafka ACLs)
    """
    named = [
        cause.args[0]
        for cause in _causes(exc)
        if isinstance(cause, TopicAuthorizationFailedError) and cause.args
    ]
    topic = next((t for t in named if isinstance(t, str)), " and ".join(topics))
    return broker_refusal(exc, doing, topic, needs=needs)


def read_refusal(exc: BaseException, topics: Sequence[str]) -> BrokerRefused | None:
    """:func:`topic_refusal` of the source consumer's reads of ``topics``."""
    return topic_refusal(exc, "the source records", topics, "Read and Describe")


def send_failure(exc: BaseException, what: str, topic: str) -> MonitorError:
    """What a failed send of ``what`` to ``topic`` raises: :func:`broker_refusal` (the worker
    stops), else a :class:`~monitor.errors.BrokerError` (retried)."""
    refused = broker_refusal(exc, f"the {what}", topic)
    return refused or BrokerError(f"{what} not delivered: {_named(exc)}")
