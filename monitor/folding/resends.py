"""Which inference events of a batch are resends, so that a producer's retry counts once.

A producer that retries a send it could not confirm publishes the event again at another offset.
The first inference of a request id to arrive counts; a later event with the same ``request_id``,
``model``, ``model_version`` and event time at another position (another event id) is a
**resend**: it is merged into no window and joins nothing. The same event read again (a replay
after a crash) is not a resend. An inference of another model, version or time under a request id
already held is not a resend either (a producer whose ids repeat, a counter restarted): it counts
as traffic, though it joins nothing (the request id is the join key).

The first inference is looked for earlier in the batch, then in the join store (its payload,
:func:`monitor.outcomes.join.payload_identity`), which holds it for the join TTL.

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
    """The resend flags of one batch's inference events, chunk after chunk (one check per batch)."""

    stored: StoredInferences
    # the first inference of each request id of the batch so far: the event and its id
    first: dict[str, tuple[InferenceEvent, str]] = field(default_factory=dict)

    def flags(self, events: Sequence[InferenceEvent], ids: Sequence[str]) -> list[bool] | None:
        """Per event, True for a resend; None when there is none (the usual chunk)."""
        request_ids = [e.request_id for e in events]
        held = self.stored(request_ids)
        first = self.first
        if not held and first.keys().isdisjoint(request_ids):
            before = len(first)
            first.update(zip(request_ids, zip(events, ids)))
            if len(first) == before + len(request_ids):  # no request id twice in the chunk
                return None
            for request_id in request_ids:  # undone: the chunk is flagged event by event
                first.pop(request_id, None)
        return [
            self._is_resend(rid, event, event_id, held)
            for rid, event, event_id in zip(request_ids, events, ids)
        ]

    def _is_resend(
        self, request_id: str, event: InferenceEvent, event_id: str, held: Mapping[str, bytes]
    ) -> bool:
        earlier = self.first.get(request_id)
        if earlier is not None:
            first, first_id = earlier
            identity = (first.model, first.model_version, first.timestamp)
        elif request_id in held:
            first_id, model, version, time = payload_identity(held[request_id])
            identity = (model, version, time)
        else:
            self.first[request_id] = (event, event_id)
            return False
        return first_id != event_id and identity == (
            event.model,
            event.model_version,
            event.timestamp,
        )
