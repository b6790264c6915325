"""Join store: pairs feedback with its inference by ``request_id``, whichever arrives first.

Both sides are kept for ``ttl_seconds`` and are not deleted when they match, so re-processing a
batch after a crash returns the same pairs again. A pair belongs to the side that arrived second:
each record gets a sequence number on first arrival and a call returns exactly the pairs whose
other half is older than its own record. Several feedback events per request are kept side by side
under their ``feedback_id``, at most ``max_feedback`` of them (more are refused, not stored);
re-adding a ``feedback_id`` keeps the first payload, and only that same
event (a replay: the same leading ``"id"``) gets its pair again, never a resend. Feedback lists
are returned sorted by ``feedback_id``. :meth:`JoinStore.expire` forgets records older than the TTL
and counts those that never matched.

The Protocol and the helpers both stores share are in :mod:`monitor.adapters.join_protocol`, the
stores in :mod:`monitor.adapters.memory_join_store` and :mod:`monitor.adapters.redis_join_store`;
this module picks one (:func:`make_join_store`) and is the one every other module imports.

>>> store = MemoryJoinStore(ttl_seconds=60, max_feedback=2)
>>> store.add_feedback([("r1", "f1", b"good")], now=0.0)
FeedbackAdded(matches=[], refused=[])
>>> store.add_inferences([("r1", b"inf")], now=1.0)
[('r1', b'inf', [b'good'])]
>>> store.add_feedback([("r1", "f2", b"bad"), ("r1", "f3", b"worse")], now=2.0)
FeedbackAdded(matches=[('r1', b'inf', b'bad')], refused=[('r1', 'f3')])
>>> store.pending(), store.expire(now=100.0), store.pending()
({'inference': 0, 'feedback': 0}, {'inference': 0, 'feedback': 0}, {'inference': 0, 'feedback': 0})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.adapters.join_protocol import (
    DEFAULT_MAX_FEEDBACK,
    DEFAULT_MAX_RECORDS,
    DEFAULT_TTL_SECONDS,
    FeedbackAdded,
    JoinStore,
)
from monitor.adapters.memory_join_store import MemoryJoinStore
from monitor.adapters.redis_join_store import RedisJoinStore

__all__ = [
    "DEFAULT_MAX_FEEDBACK",
    "DEFAULT_MAX_RECORDS",
    "DEFAULT_TTL_SECONDS",
    "FeedbackAdded",
    "JoinStore",
    "MemoryJoinStore",
    "RedisJoinStore",
    "make_join_store",
]


def make_join_store(
    redis_url: str | None,
    ttl_seconds: float,
    prefix: str = "monitor:join:",
    client_options: dict[str, Any] | None = None,
    max_records: int = DEFAULT_MAX_RECORDS,
    on_reset: Callable[[], None] | None = None,
    known_instance: str | None = None,
    on_instance: Callable[[str], None] | None = None,
    max_feedback: int = DEFAULT_MAX_FEEDBACK,
) -> JoinStore:
    """A :class:`RedisJoinStore` when a URL is given (``on_reset`` called on each reset it
    detects; ``known_instance`` and ``on_instance`` as there), else a :class:`MemoryJoinStore`;
    either holds at most ``max_feedback`` feedback records per request.

    >>> type(make_join_store(None, 3600)).__name__
    'MemoryJoinStore'
    """
    if redis_url:
        return RedisJoinStore(
            redis_url,
            ttl_seconds,
            prefix,
            client_options,
            on_reset,
            known_instance,
            on_instance,
            max_feedback,
        )
    return MemoryJoinStore(ttl_seconds, max_records, max_feedback)
