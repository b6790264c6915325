"""The join store's port: the :class:`JoinStore` Protocol, its defaults and the helpers both stores
(:mod:`monitor.adapters.memory_join_store`, :mod:`monitor.adapters.redis_join_store`) share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from monitor.contract.fields import DEFAULT_MAX_FEEDBACK

__all__ = [
    "DEFAULT_MAX_FEEDBACK",
    "DEFAULT_MAX_RECORDS",
    "DEFAULT_TTL_SECONDS",
    "REQUEST_ID",
    "FeedbackAdded",
    "FeedbackMatch",
    "InferenceMatch",
    "JoinStore",
    "event_of",
    "first_occurrences",
]

DEFAULT_TTL_SECONDS = 7 * 86400.0
DEFAULT_MAX_RECORDS = 200_000
InferenceMatch = tuple[str, bytes, list[bytes]]
FeedbackMatch = tuple[str, bytes, bytes]


@dataclass(frozen=True, slots=True)
class FeedbackAdded:
    """What :meth:`JoinStore.add_feedback` did with a batch: the pairs it completed, and the
    ``(request_id, feedback_id)`` it refused because the request held ``max_feedback`` records
    already (neither stored nor joined; each refused once per batch)."""

    matches: list[FeedbackMatch] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


class JoinStore(Protocol):
    """Where inference and feedback wait for each other."""

    max_feedback: int  # feedback records one request holds at most

    def setup(self) -> None:
        """Connect (and check the connection); the other methods call it when needed."""

    def add_inferences(
        self, items: Sequence[tuple[str, bytes]], now: float
    ) -> list[InferenceMatch]:
        """Store ``(request_id, payload)``; return the inferences that already have feedback."""

    def add_feedback(self, items: Sequence[tuple[str, str, bytes]], now: float) -> FeedbackAdded:
        """Store ``(request_id, feedback_id, payload)``; return feedback whose inference is known
        (older), except a payload of another event than the one stored under its feedback id. A new
        feedback id of a request that holds ``max_feedback`` records already is refused: neither
        stored nor joined (one stored before is never refused, so a replay returns the same)."""

    def stored_inferences(self, request_ids: Sequence[str]) -> dict[str, bytes]:
        """The payloads held under those ``request_ids`` that have an inference; reads only."""

    def mark(self, names: Sequence[str], now: float) -> None:
        """Note ``names`` (e.g. models with shadow traffic) as active until ``now`` + the TTL; shared by
        every worker of the store."""

    def marked(self, names: Sequence[str], now: float) -> set[str]:
        """The ``names`` that are active at ``now``."""

    def expire(self, now: float) -> dict[str, int]:
        """Forget records older than the TTL; count the unmatched ones by kind."""

    def pending(self) -> dict[str, int]:
        """Unmatched records currently held, by kind."""

    def close(self) -> None:
        """Release the connection."""


def event_of(payload: bytes) -> bytes:
    """The event a payload stands for: its leading ``"id"`` (``topic:partition:offset:index``), else
    the payload itself. An inference already stored returns its pairs again only to the same event
    (a replay), never to a second event with the same request id.

    >>> event_of(b'{"id":"inf:0:7:2","t":1.0}'), event_of(b"raw")
    (b'inf:0:7:2', b'raw')
    """
    if payload.startswith(b'{"id":"'):
        end = payload.find(b'"', 7)
        if end > 0:
            return payload[7:end]
    return payload


REQUEST_ID = itemgetter(0)  # of an inference item, (request_id, payload)


def first_occurrences(items: Sequence[Any], key: Any) -> list[Any]:
    """Drop repeats inside one batch so that a batch never yields the same pair twice."""
    seen: set[Any] = set()
    unique = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            unique.append(item)
    return unique
