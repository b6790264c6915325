"""Join store: pairs feedback with its inference by ``request_id``, whichever arrives first.

Both sides are kept for ``ttl_seconds`` and are not deleted when they match, so re-processing a
batch after a crash returns the same pairs again. A pair belongs to the side that arrived second:
each record gets a sequence number on first arrival and a call returns exactly the pairs whose
other half is older than its own record. Several feedback events per request are kept side by side
under their ``feedback_id``; re-adding a ``feedback_id`` keeps the first payload, and only that same
event (a replay: the same leading ``"id"``) gets its pair again, never a resend. Feedback lists
are returned sorted by ``feedback_id``. :meth:`JoinStore.expire` forgets records older than the TTL
and counts those that never matched.

>>> store = MemoryJoinStore(ttl_seconds=60)
>>> store.add_feedback([("r1", "f1", b"good")], now=0.0)
[]
>>> store.add_inferences([("r1", b"inf")], now=1.0)
[('r1', b'inf', [b'good'])]
>>> store.add_feedback([("r1", "f2", b"bad")], now=2.0)
[('r1', b'inf', b'bad')]
>>> store.pending(), store.expire(now=100.0), store.pending()
({'inference': 0, 'feedback': 0}, {'inference': 0, 'feedback': 0}, {'inference': 0, 'feedback': 0})
"""

from __future__ import annotations

import heapq
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Protocol

from monitor.adapters.join_scripts import ADD_FEEDBACK, ADD_INFERENCES, EXPIRE
from monitor.errors import StoreError
from monitor.redact import mask_text, mask_url

__all__ = [
    "DEFAULT_MAX_RECORDS",
    "DEFAULT_TTL_SECONDS",
    "JoinStore",
    "MemoryJoinStore",
    "RedisJoinStore",
    "make_join_store",
]

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 7 * 86400.0
_TRANSIENT_REPLIES = ("OOM", "READONLY", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")
DEFAULT_MAX_RECORDS = 200_000
InferenceMatch = tuple[str, bytes, list[bytes]]
FeedbackMatch = tuple[str, bytes, bytes]


class JoinStore(Protocol):
    """Where inference and feedback wait for each other."""

    def setup(self) -> None:
        """Connect (and check the connection); the other methods call it when needed."""

    def add_inferences(
        self, items: Sequence[tuple[str, bytes]], now: float
    ) -> list[InferenceMatch]:
        """Store ``(request_id, payload)``; return the inferences that already have feedback."""

    def add_feedback(
        self, items: Sequence[tuple[str, str, bytes]], now: float
    ) -> list[FeedbackMatch]:
        """Store ``(request_id, feedback_id, payload)``; return feedback whose inference is known
        (older), except a payload of another event than the one stored under its feedback id."""

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


def _event_of(payload: bytes) -> bytes:
    """The event a payload stands for: its leading ``"id"`` (``topic:partition:offset:index``), else
    the payload itself. An inference already stored returns its pairs again only to the same event
    (a replay), never to a second event with the same request id.

    >>> _event_of(b'{"id":"inf:0:7:2","t":1.0}'), _event_of(b"raw")
    (b'inf:0:7:2', b'raw')
    """
    if payload.startswith(b'{"id":"'):
        end = payload.find(b'"', 7)
        if end > 0:
            return payload[7:end]
    return payload


_REQUEST_ID = itemgetter(0)  # of an inference item, (request_id, payload)


def _first_occurrences(items: Sequence[Any], key: Any) -> list[Any]:
    """Drop repeats inside one batch so that a batch never yields the same pair twice."""
    seen: set[Any] = set()
    unique = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            unique.append(item)
    return unique


class MemoryJoinStore:
    """In-process join store for the embedded mode and tests; same behaviour as the Redis one.

    Holds at most ``max_records`` records (inferences plus feedback): past it the oldest go first,
    before their TTL, and are counted (:meth:`take_evicted`). A record takes a few hundred bytes;
    when records per second × join TTL exceeds the cap, use Redis (``MONITOR_REDIS_URL``).
    """

    def __init__(
        self, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_records: int = DEFAULT_MAX_RECORDS
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds: {ttl_seconds} must be positive")
        if max_records < 1:
            raise ValueError(f"max_records: {max_records} must be at least 1")
        self.ttl_seconds = ttl_seconds
        self.max_records = max_records
        self._evicted = 0
        self._seq = 0
        self._inferences: dict[str, tuple[int, bytes, float]] = {}
        self._feedback: dict[str, dict[str, tuple[int, bytes, float]]] = {}
        self._unmatched_inferences: set[str] = set()
        self._unmatched_feedback: set[tuple[str, str]] = set()
        self._by_age: list[tuple[float, int, str, str | None]] = []  # (time, seq, rid, fid|None)
        self._latest = -math.inf  # the latest time pushed onto _by_age
        self._marks: dict[str, float] = {}  # name -> active until

    def setup(self) -> None:
        """Nothing to connect."""

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _push(self, now: float, seq: int, rid: str, fid: str | None) -> None:
        heapq.heappush(self._by_age, (now, seq, rid, fid))
        self._latest = max(self._latest, now)

    def _add_new_in_bulk(self, items: Sequence[tuple[str, bytes]], now: float) -> bool:
        """Store a batch of inferences whose request ids are new (once in the batch, not stored,
        no feedback waiting) with C-level bulk steps, as the per-event path would; False, storing
        nothing, for any other batch. 1.0 µs an event against 2.0 in the per-event path."""
        rids = list(map(_REQUEST_ID, items))
        if (
            not rids
            or now < self._latest  # appended entries must not precede any held one (the heap)
            or len(set(rids)) != len(rids)
            or not self._inferences.keys().isdisjoint(rids)
            or not self._feedback.keys().isdisjoint(rids)
        ):
            return False
        seqs = range(self._seq + 1, self._seq + 1 + len(rids))
        self._seq += len(rids)
        self._inferences.update(zip(rids, zip(seqs, map(itemgetter(1), items), repeat(now))))
        # every entry is at least the newest held one, so appending keeps the heap ordered
        self._by_age.extend(zip(repeat(now), seqs, rids, repeat(None)))
        self._latest = now
        self._unmatched_inferences.update(rids)
        return True

    def add_inferences(
        self, items: Sequence[tuple[str, bytes]], now: float
    ) -> list[InferenceMatch]:
        matches: list[InferenceMatch] = []
        if self._add_new_in_bulk(items, now):  # the usual batch: its feedback comes later
            self._evict_over_cap()
            return matches
        inferences, feedback_of = self._inferences, self._feedback
        # once per event: the maps bound to local names
        for rid, payload in _first_occurrences(items, _REQUEST_ID):
            feedback = feedback_of.get(rid)
            if rid not in inferences:
                seq = self._next_seq()
                inferences[rid] = (seq, payload, now)
                self._push(now, seq, rid, None)
                if feedback:
                    self._unmatched_feedback.difference_update((rid, fid) for fid in feedback)
                else:
                    self._unmatched_inferences.add(rid)
            if not feedback:  # the usual case: the feedback comes later
                continue
            seq, stored, _ = inferences[rid]
            if _event_of(stored) != _event_of(payload):
                continue  # another event with this request id (a producer's retry): joins nothing
            older = sorted((fid, fb[1]) for fid, fb in feedback.items() if fb[0] < seq)
            if older:
                matches.append((rid, stored, [fb for _, fb in older]))
        self._evict_over_cap()
        return matches

    def add_feedback(
        self, items: Sequence[tuple[str, str, bytes]], now: float
    ) -> list[FeedbackMatch]:
        matches = []
        for rid, fid, payload in _first_occurrences(items, lambda item: item[:2]):
            per_request = self._feedback.setdefault(rid, {})
            if fid not in per_request:
                seq = self._next_seq()
                per_request[fid] = (seq, payload, now)
                self._push(now, seq, rid, fid)
                if rid in self._inferences:
                    self._unmatched_inferences.discard(rid)
                else:
                    self._unmatched_feedback.add((rid, fid))
            seq, stored, _ = per_request[fid]
            if stored is not payload and _event_of(stored) != _event_of(payload):
                continue  # another event with this feedback id (a resend): joins nothing
            inference = self._inferences.get(rid)
            if inference is not None and inference[0] < seq:
                matches.append((rid, inference[1], stored))
        self._evict_over_cap()
        return matches

    def mark(self, names: Sequence[str], now: float) -> None:
        if len(self._marks) >= self.max_records:  # many names: forget the inactive ones first
            self._marks = {k: until for k, until in self._marks.items() if until > now}
        for name in names:
            if name in self._marks or len(self._marks) < self.max_records:
                self._marks[name] = now + self.ttl_seconds

    def marked(self, names: Sequence[str], now: float) -> set[str]:
        return {name for name in names if self._marks.get(name, -math.inf) > now}

    def expire(self, now: float) -> dict[str, int]:
        self._marks = {k: until for k, until in self._marks.items() if until > now}
        expired = {"inference": 0, "feedback": 0}
        cutoff = now - self.ttl_seconds
        while self._by_age and self._by_age[0][0] < cutoff:
            kind = self._drop_oldest()
            if kind:
                expired[kind] += 1
        return expired

    def _drop_oldest(self) -> str | None:
        """Forget the oldest record; the kind it was if it never matched."""
        _, seq, rid, fid = heapq.heappop(self._by_age)
        if fid is None:
            if self._inferences.get(rid, (None,))[0] == seq:
                del self._inferences[rid]
                if rid in self._unmatched_inferences:
                    self._unmatched_inferences.discard(rid)
                    return "inference"
        elif self._feedback.get(rid, {}).get(fid, (None,))[0] == seq:
            del self._feedback[rid][fid]
            if not self._feedback[rid]:
                del self._feedback[rid]
            if (rid, fid) in self._unmatched_feedback:
                self._unmatched_feedback.discard((rid, fid))
                return "feedback"
        return None

    def _evict_over_cap(self) -> None:
        while len(self._by_age) > self.max_records:
            self._drop_oldest()
            self._evicted += 1

    def take_evicted(self) -> int:
        """Records evicted at the cap since the last call."""
        evicted, self._evicted = self._evicted, 0
        return evicted

    def pending(self) -> dict[str, int]:
        return {
            "inference": len(self._unmatched_inferences),
            "feedback": len(self._unmatched_feedback),
        }

    def close(self) -> None:
        """Nothing to release."""


_EXPIRE_CHUNK = 5000  # records per script call, so one expiry never blocks Redis for long


class RedisJoinStore:
    """Join store in Redis, shared by all workers; each batch is one atomic Lua script call.

    Scripts run one at a time in Redis, so when an inference and its feedback are processed by two
    workers at once, exactly one of them (the later script) returns the pair. All keys live on one
    node: on Redis Cluster put a hash tag in the prefix (``"{monitor}:join:"``).

    A Redis that lost its data (restarted without persistence, flushed) is detected on the next
    script call: the ``instance`` key the first call wrote is gone, the call writes a new one, and a
    store that had seen the old one logs a warning, adds to :attr:`resets` and calls ``on_reset``
    if its call wrote the new marker (the other workers log it at info level: counted once).
    The records written before are lost: their late partners never join. A store given the marker
    an earlier process saw (``known_instance``, saved through ``on_instance``) sees a reset that
    happened while no worker was connected, too.
    """

    def __init__(
        self,
        url: str,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        prefix: str = "monitor:join:",
        client_options: dict[str, Any] | None = None,
        on_reset: Callable[[], None] | None = None,
        known_instance: str | None = None,
        on_instance: Callable[[str], None] | None = None,
    ) -> None:
        """``client_options``: TLS for ``rediss://``, from ``client_security.redis_client_options``;
        ``on_reset``: called once per reset this store finds first (a counter); ``known_instance``:
        the marker last seen, by this process or an earlier one; ``on_instance``: called with each
        marker seen that differs from the one before (to save it)."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds: {ttl_seconds} must be positive")
        self.url = url
        self.client_options = dict(client_options or {})
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self.on_reset = on_reset
        self.resets = 0
        self.on_instance = on_instance
        self._instance: str | None = known_instance
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    def setup(self) -> None:
        """Build the client and ping it; :class:`StoreError` naming the (masked) URL if unreachable."""
        if self._client is not None:
            return
        import redis

        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_timeout=10, **self.client_options
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            client.close()
            raise StoreError(
                f"Redis join store at {mask_url(self.url)} is unreachable: {mask_text(str(exc))}"
            ) from exc
        self._client = client
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("inferences", ADD_INFERENCES),
                ("feedback", ADD_FEEDBACK),
                ("expire", EXPIRE),
            )
        }

    def _run(self, script: str, head: list[Any], args: list[Any]) -> Any:
        self.setup()
        import redis

        fresh = uuid.uuid4().hex  # the marker this call writes if it finds none
        try:
            instance, *result = self._scripts[script](args=[self.prefix, *head, fresh, *args])
        except (redis.RedisError, OSError) as exc:
            # an outage, a replica, memory pressure: retry; a script refusing its arguments: do not
            retryable = not isinstance(exc, redis.ResponseError) or str(exc).startswith(
                _TRANSIENT_REPLIES
            )
            raise StoreError(
                f"Redis join store at {mask_url(self.url)}: {script} failed: {mask_text(str(exc))}",
                retryable=retryable,
            ) from exc
        marker = instance.decode()
        self._observe_instance(marker, created=marker == fresh)
        return result

    def _observe_instance(self, instance: str, *, created: bool) -> None:
        """``created``: this call wrote the marker. Of all the workers that find a reset, only the
        one whose call wrote the new marker counts it, so a reset is counted once however many
        workers see it."""
        if instance == self._instance:  # every call but the first and those after a reset
            return
        if self._instance is not None and created:
            self.resets += 1
            log.warning(
                "Redis join store at %s (prefix %r) was reset: its instance marker %s is gone (now %s). "
                "Redis lost its data (restarted without persistence, flushed or evicted); join records "
                "written before are lost and their late partners will not join. Run Redis with AOF.",
                mask_url(self.url),
                self.prefix,
                self._instance,
                instance,
            )
            if self.on_reset is not None:
                self.on_reset()
        elif self._instance is not None:  # another worker's call wrote it, and counted the reset
            log.info(
                "Redis join store at %s (prefix %r) was reset (marker %s, now %s); counted by the "
                "worker that found it first",
                mask_url(self.url),
                self.prefix,
                self._instance,
                instance,
            )
        self._instance = instance
        if self.on_instance is not None:
            try:
                self.on_instance(instance)
            except Exception as exc:  # noqa: BLE001 - the batch's joins are done; saving is best effort
                log.warning(
                    "Redis join store instance marker %s not saved (%s: %s): a worker that starts "
                    "before it is saved compares with an older marker",
                    instance,
                    type(exc).__name__,
                    mask_text(str(exc)),
                )

    def _head(self, now: float) -> list[Any]:
        return [repr(float(now)), str(math.ceil(self.ttl_seconds * 1000))]

    def add_inferences(
        self, items: Sequence[tuple[str, bytes]], now: float
    ) -> list[InferenceMatch]:
        unique = _first_occurrences(items, _REQUEST_ID)
        if not unique:
            return []
        [rows] = self._run(
            "inferences", self._head(now), [part for item in unique for part in item]
        )
        matches = []
        for row in rows:
            feedback = sorted(zip(row[2::2], row[3::2]))
            matches.append((row[0].decode(), bytes(row[1]), [bytes(fb) for _, fb in feedback]))
        return matches

    def add_feedback(
        self, items: Sequence[tuple[str, str, bytes]], now: float
    ) -> list[FeedbackMatch]:
        unique = _first_occurrences(items, lambda item: item[:2])
        if not unique:
            return []
        [rows] = self._run("feedback", self._head(now), [part for item in unique for part in item])
        return [
            (rid.decode(), bytes(inference), bytes(feedback)) for rid, inference, feedback in rows
        ]

    def mark(self, names: Sequence[str], now: float) -> None:
        """One key per name holding the time it is active until, kept by Redis a TTL longer."""
        if not names:
            return
        self.setup()
        until = repr(float(now + self.ttl_seconds))
        keep = math.ceil(2 * self.ttl_seconds * 1000)
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.set(self.prefix + "mark:" + name, until, px=keep)
        self._execute(pipe, "mark")

    def marked(self, names: Sequence[str], now: float) -> set[str]:
        if not names:
            return set()
        self.setup()
        pipe = self._client.pipeline(transaction=False)
        pipe.mget([self.prefix + "mark:" + name for name in names])
        [values] = self._execute(pipe, "marked")
        return {name for name, until in zip(names, values) if until and float(until) > now}

    def _execute(self, pipe: Any, what: str) -> list[Any]:
        import redis

        try:
            return list(pipe.execute())
        except (redis.RedisError, OSError) as exc:
            raise StoreError(
                f"Redis join store at {mask_url(self.url)}: {what} failed: {mask_text(str(exc))}"
            ) from exc

    def expire(self, now: float) -> dict[str, int]:
        expired = {"inference": 0, "feedback": 0}
        while True:
            cutoff = repr(float(now - self.ttl_seconds))
            n_inf, n_fb, seen = self._run("expire", [cutoff, str(_EXPIRE_CHUNK)], [])
            expired["inference"] += n_inf
            expired["feedback"] += n_fb
            if seen < _EXPIRE_CHUNK:
                return expired

    def pending(self) -> dict[str, int]:
        self.setup()
        pipe = self._client.pipeline(transaction=False)
        pipe.scard(self.prefix + "open:i")
        pipe.scard(self.prefix + "open:f")
        n_inf, n_fb = self._execute(pipe, "pending")
        return {"inference": int(n_inf), "feedback": int(n_fb)}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def make_join_store(
    redis_url: str | None,
    ttl_seconds: float,
    prefix: str = "monitor:join:",
    client_options: dict[str, Any] | None = None,
    max_records: int = DEFAULT_MAX_RECORDS,
    on_reset: Callable[[], None] | None = None,
    known_instance: str | None = None,
    on_instance: Callable[[str], None] | None = None,
) -> JoinStore:
    """A :class:`RedisJoinStore` when a URL is given (``on_reset`` called on each reset it
    detects; ``known_instance`` and ``on_instance`` as there), else a :class:`MemoryJoinStore`.

    >>> type(make_join_store(None, 3600)).__name__
    'MemoryJoinStore'
    """
    if redis_url:
        return RedisJoinStore(
            redis_url, ttl_seconds, prefix, client_options, on_reset, known_instance, on_instance
        )
    return MemoryJoinStore(ttl_seconds, max_records)
