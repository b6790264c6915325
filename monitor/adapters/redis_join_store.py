"""The join store in Redis (:class:`RedisJoinStore`), shared by every worker: one Lua script call
per batch, and the detection of a Redis that lost its data."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from monitor.adapters.join_protocol import (
    DEFAULT_MAX_FEEDBACK,
    DEFAULT_TTL_SECONDS,
    REQUEST_ID,
    FeedbackAdded,
    InferenceMatch,
    first_occurrences,
)
from monitor.adapters.join_scripts import ADD_FEEDBACK, ADD_INFERENCES, EXPIRE, script_commands
from monitor.adapters.redis_errors import store_error, unreachable_or_refused
from monitor.errors import StoreError
from monitor.redact import mask_text, mask_url

__all__ = ["WORKER_NEEDS", "RedisJoinStore"]

log = logging.getLogger("monitor.adapters.join_store")  # the logger these records always had

WORKER_NEEDS = "the worker's commands and keys (docs/SECURITY.md, Redis)"
_EXPIRE_CHUNK = 5000  # records per script call, so one expiry never blocks Redis for long
_MGET_CHUNK = 5000  # keys per MGET of stored_inferences, so one read never blocks Redis for long


def _probe_calls(key: str) -> list[tuple[str, tuple[Any, ...]]]:
    """A harmless call of every command the join scripts use, in an order that leaves every probe
    key with a TTL (then :meth:`RedisJoinStore.check_commands` deletes them).

    >>> sorted(name for name, _ in _probe_calls("p:")) == sorted(script_commands())
    True
    """
    text, hashed, members, scored = f"{key}:string", key, f"{key}:set", f"{key}:zset"
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("SET", (text, "1", "PX", 10_000)),
        ("GET", (text,)),
        ("INCRBY", (text, 0)),
        ("DEL", (text,)),
        ("HSET", (hashed, "f", "1")),
        ("PEXPIRE", (hashed, 10_000)),
        ("HGET", (hashed, "f")),
        ("HLEN", (hashed,)),
        ("HGETALL", (hashed,)),
        ("HDEL", (hashed, "f")),
        ("SADD", (members, "m")),
        ("SREM", (members, "m")),
        ("ZADD", (scored, 0, "m")),
        ("ZRANGEBYSCORE", (scored, 0, 0)),
        ("ZREM", (scored, "m")),
    ]
    used = script_commands()
    return [(name, args) for name, args in calls if name in used]


class RedisJoinStore:
    """Join store in Redis, shared by all workers; each batch is one atomic Lua script call.

    Scripts run one at a time in Redis, so when an inference and its feedback are processed by two
    workers at once, exactly one of them (the later script) returns the pair. All keys live on one
    Redis not in cluster mode: a Redis Cluster node's redirect is a :class:`StoreRefused`.

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
        max_feedback: int = DEFAULT_MAX_FEEDBACK,
    ) -> None:
        """``client_options``: TLS for ``rediss://``, from ``client_security.redis_client_options``;
        ``on_reset``: called once per reset this store finds first (a counter); ``known_instance``:
        the marker last seen, by this process or an earlier one; ``on_instance``: called with each
        marker seen that differs from the one before (to save it); ``max_feedback``: the feedback
        records one request holds, counted in its hash by the script (every worker agrees)."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds: {ttl_seconds} must be positive")
        if max_feedback < 1:
            raise ValueError(f"max_feedback: {max_feedback} must be at least 1")
        self.max_feedback = max_feedback
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
        """Build the client and ping it; :class:`StoreError` naming the (masked) URL if unreachable,
        :class:`StoreRefused` if Redis refuses the credentials."""
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
            raise unreachable_or_refused(exc, self.url, "Redis join store", WORKER_NEEDS) from exc
        self._client = client
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("inferences", ADD_INFERENCES),
                ("feedback", ADD_FEEDBACK),
                ("expire", EXPIRE),
            )
        }

    def check_commands(self) -> None:
        """Each command the scripts call, run once on probe keys under the prefix (the ACL checks a
        script's calls as it checks these): a user whose ACL leaves one out is a
        :class:`StoreRefused` at start, not at the first batch that happens to need it."""
        self.setup()
        key = f"{self.prefix}access-probe"
        pipe = self._client.pipeline(transaction=False)
        for command, args in _probe_calls(key):
            pipe.execute_command(command, *args)
        pipe.delete(key, f"{key}:string", f"{key}:set", f"{key}:zset")
        self._execute(pipe, "the start-up check of the join scripts' commands")

    def _run(self, script: str, head: list[Any], args: list[Any]) -> Any:
        self.setup()
        import redis

        fresh = uuid.uuid4().hex  # the marker this call writes if it finds none
        try:
            instance, *result = self._scripts[script](args=[self.prefix, *head, fresh, *args])
        except (redis.RedisError, OSError) as exc:
            # an outage, a replica, memory pressure: retried; the credentials or the ACL: a
            # StoreRefused, never retried; a script refusing its arguments: not retried either
            raise self._error(exc, script) from exc
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
        unique = first_occurrences(items, REQUEST_ID)
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

    def add_feedback(self, items: Sequence[tuple[str, str, bytes]], now: float) -> FeedbackAdded:
        unique = first_occurrences(items, lambda item: item[:2])
        if not unique:
            return FeedbackAdded()
        rows, refused = self._run(
            "feedback",
            self._head(now),
            [str(self.max_feedback), *(part for item in unique for part in item)],
        )
        return FeedbackAdded(
            [(rid.decode(), bytes(inference), bytes(fb)) for rid, inference, fb in rows],
            [(rid.decode(), fid.decode()) for rid, fid in refused],
        )

    def stored_inferences(self, request_ids: Sequence[str]) -> dict[str, bytes]:
        """One round trip: an ``MGET`` per 5,000 distinct ids, in one pipeline."""
        unique = list(dict.fromkeys(request_ids))
        if not unique:
            return {}
        self.setup()
        pipe = self._client.pipeline(transaction=False)
        for start in range(0, len(unique), _MGET_CHUNK):
            pipe.mget([self.prefix + "i:" + rid for rid in unique[start : start + _MGET_CHUNK]])
        values = [value for part in self._execute(pipe, "stored inferences") for value in part]
        # a record is "seq:payload" (join_scripts.py)
        return {
            rid: bytes(value).split(b":", 1)[1]
            for rid, value in zip(unique, values)
            if value is not None
        }

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
            raise self._error(exc, what) from exc

    def _error(self, exc: BaseException, what: str) -> StoreError:
        where = f"Redis join store at {mask_url(self.url)}: {what} failed"
        return store_error(exc, self.url, where, WORKER_NEEDS)

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
