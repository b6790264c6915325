"""The judge runner's buffer: what it holds of a request while the request waits for its partner
(production and shadow) and for flagging feedback.

A request is held ``ttl_seconds`` from when it was first seen, and at most ``size`` requests are
held: past that, the least recently touched go first. The buffer is this process's memory by
default (:class:`MemoryRequestBuffer`), or one that outlives the process
(``monitor.adapters.judge_buffer``, Redis); both pass one contract suite.

>>> from monitor.judge.forward import AnswerRecord
>>> answer = AnswerRecord("r1", 0.0, "bot", "v1", "production", "Q?", "A.", None, None, True)
>>> buffer = MemoryRequestBuffer(size=2, ttl_seconds=60.0)
>>> buffer.put_many([("r1", BufferedRequest(0.0, production=answer, graded=True))], now=0.0)
>>> buffer.get_many(["r1", "r2"], now=30.0)["r1"].graded, buffer.get_many(["r1"], now=61.0)
(True, {})
>>> buffer.put_many([(f"r{i}", BufferedRequest(1.0)) for i in (2, 3, 4)], now=61.0)
>>> buffer.held()  # r1 outlived the TTL, r2 went at the size cap
['r3', 'r4']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.judge.forward import AnswerRecord

__all__ = ["BufferedRequest", "MemoryRequestBuffer", "RequestBuffer", "check_buffer_limits"]


@dataclass(frozen=True, slots=True)
class BufferedRequest:
    """One request as held between judge messages: its answers and what was done with them."""

    seen: float  # when the runner first saw the request (seconds); the TTL counts from here
    production: AnswerRecord | None = None
    shadows: tuple[AnswerRecord, ...] = ()  # one per shadow version, in arrival order
    flagged: bool = False
    graded: bool = False
    compared: frozenset[str] = frozenset()  # shadow versions compared with production
    judge: str | None = None  # the judge's label of the production answer
    human: str | None = None  # the human label from feedback
    agreement_counted: bool = False


class RequestBuffer(Protocol):
    """Requests held by request_id, with a time-to-live and a size cap; adapters raise
    :class:`~monitor.errors.StoreError` when their store does not answer."""

    def get_many(self, request_ids: Sequence[str], now: float) -> dict[str, BufferedRequest]:
        """The requests among ``request_ids`` held and not past their TTL at ``now``."""
        ...

    def put_many(self, requests: Sequence[tuple[str, BufferedRequest]], now: float) -> None:
        """Hold ``requests``, touched in this order (the last one most recently), then drop those
        past their TTL at ``now`` and the least recently touched above the size cap."""
        ...

    def held(self) -> list[str]:
        """The request ids held, the least recently touched first."""
        ...

    def close(self) -> None: ...


def check_buffer_limits(size: int, ttl_seconds: float) -> None:
    """A ValueError naming a size or TTL no buffer can keep.

    >>> check_buffer_limits(0, 60.0)
    Traceback (most recent call last):
    ValueError: judge buffer size: 0 must be >= 1
    """
    if size < 1:
        raise ValueError(f"judge buffer size: {size} must be >= 1")
    if not ttl_seconds >= 0:  # 0: nothing held from one message to the next
        raise ValueError(f"judge buffer TTL: {ttl_seconds} s must be >= 0")


class MemoryRequestBuffer:
    """:class:`RequestBuffer` in this process's memory: it starts empty with the process."""

    def __init__(self, size: int, ttl_seconds: float) -> None:
        check_buffer_limits(size, ttl_seconds)
        self.size = size
        self.ttl_seconds = ttl_seconds
        self._held: OrderedDict[str, BufferedRequest] = (
            OrderedDict()
        )  # least recently touched first
        # first seen first (a clock that steps back delays an expiry, never brings one forward)
        self._by_seen: OrderedDict[str, float] = OrderedDict()

    def get_many(self, request_ids: Sequence[str], now: float) -> dict[str, BufferedRequest]:
        found = ((rid, self._held.get(rid)) for rid in request_ids)
        return {
            rid: request
            for rid, request in found
            if request is not None and now - request.seen <= self.ttl_seconds
        }

    def put_many(self, requests: Sequence[tuple[str, BufferedRequest]], now: float) -> None:
        for request_id, request in requests:
            self._held[request_id] = request
            self._held.move_to_end(request_id)
            if self._by_seen.get(request_id) != request.seen:
                self._by_seen.pop(request_id, None)
                self._by_seen[request_id] = request.seen
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._by_seen:
            request_id, seen = next(iter(self._by_seen.items()))
            if now - seen <= self.ttl_seconds:
                break
            self._drop(request_id)
        while len(self._held) > self.size:
            self._drop(next(iter(self._held)))

    def _drop(self, request_id: str) -> None:
        self._held.pop(request_id, None)
        self._by_seen.pop(request_id, None)

    def held(self) -> list[str]:
        return list(self._held)

    def close(self) -> None:
        pass
