"""Which inference events of a batch are resends, so that a producer's retry counts once.

A producer that retries a send it could not confirm publishes the event again at another offset.
The first inference of a request id to arrive counts; a later event with the same ``request_id``,
``model``, ``model_version`` and event time at another position (another event id) is a
**resend**: it is merged into no window and joins nothing. The same event read again (a replay
after a crash) is not a resend. An inference of another model, version or time under a request id
already held is not a resend either (a producer whose ids repeat, a counter restarted): it counts
as traffic, though it joins nothing (the request id is the join key).

The first inference is the one the join store holds (its payload,
:func:`monitor.outcomes.join.payload_identity`; kept for the join TTL), else the first of the
request id earlier in the batch (the one the join store will hold).

>>> from monitor.contract.events import InferenceEvent
>>> check = ResendCheck(lambda request_ids: {})
>>> first, retry = InferenceEvent("r1", 1.0, "m", "v1"), InferenceEvent("r1", 1.0, "m", "v1")
>>> reused = InferenceEvent("r1", 86400.0, "m", "v1")  # the id again, a day later: not a retry
>>> check.flags([first, retry, reused], ["inf:0:7:0", "inf:0:9:0", "inf:0:12:0"])
[False, True, False]
>>> check.flags([first], ["inf:0:7:0"])  # the first event read again: a replay
[False]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from monitor.contract.events import InferenceEvent
from monitor.outcomes.join import payload_identity

__all__ = ["ResendCheck", "StoredInferences"]

# The join store's read: the payloads held under those of the given request ids it holds.
StoredInferences = Callable[[Sequence[str]], Mapping[str, bytes]]


@dataclass
class ResendCheck:
    """The resend flags of one batch's inference events, chunk after chunk (one check per batch).

    The join store is not written during a batch, so a request id held at one chunk is held at
    every chunk; one not held is first sent by its first event in the batch, the one the join
    store will hold. The usual chunk (no request id held or seen before) costs a set check: the
    batch's first events are indexed only when a chunk needs them.
    """

    stored: StoredInferences
    _seen: set[str] = field(default_factory=set)  # the batch's request ids so far
    _unindexed: list[tuple[Sequence[InferenceEvent], Sequence[str]]] = field(default_factory=list)
    _first: dict[str, tuple[InferenceEvent, str]] = field(default_factory=dict)

    def flags(self, events: Sequence[InferenceEvent], ids: Sequence[str]) -> list[bool] | None:
        """Per event, True for a resend; None when there is none (the usual chunk)."""
        request_ids = [e.request_id for e in events]
        held = self.stored(request_ids)
        seen = self._seen
        if not held and seen.isdisjoint(request_ids):
            before = len(seen)
            seen.update(request_ids)
            if len(seen) == before + len(request_ids):  # no request id twice in the chunk
                self._unindexed.append((events, ids))
                return None
            seen.difference_update(request_ids)  # undone: the chunk is flagged event by event
        self._index_earlier_chunks()
        flags = [
            self._is_resend(rid, event, event_id, held)
            for rid, event, event_id in zip(request_ids, events, ids)
        ]
        seen.update(request_ids)
        return flags

    def _index_earlier_chunks(self) -> None:
        first = self._first
        for events, ids in self._unindexed:
            for event, event_id in zip(events, ids):
                first.setdefault(event.request_id, (event, event_id))
        self._unindexed.clear()

    def _is_resend(
        self, request_id: str, event: InferenceEvent, event_id: str, held: Mapping[str, bytes]
    ) -> bool:
        if request_id in held:
            first_id, model, version, time = payload_identity(held[request_id])
            identity = (model, version, time)
        elif (earlier := self._first.get(request_id)) is not None:
            first, first_id = earlier
            identity = (first.model, first.model_version, first.timestamp)
        else:
            self._first[request_id] = (event, event_id)
            return False
        return first_id != event_id and identity == (
            event.model,
            event.model_version,
            event.timestamp,
        )
