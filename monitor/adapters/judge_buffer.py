"""The judge runner's buffered requests in Redis: answers waiting for their partner or for
flagging feedback outlive a runner's restart, so a pair whose production answer was committed
before the restart is still compared after it.

Under the prefix: ``request:<request_id>``, the request as JSON (its answers' texts, whether it
was graded, which shadow versions were compared, its labels), expiring when its TTL (counted from
when it was first seen) runs out; ``touched``, a sorted set of the request ids by order of last
touch (for the size cap, the least recently touched dropped first); ``seen``, a sorted set of the
request ids by when they were first seen (for the TTL). The runner drops what is past its TTL or
above the cap after each write; the two sets expire :data:`KEEP_MARGIN_SECONDS` after the TTL
following their last write, so nothing outlives a runner that is gone for good. A value that does
not read back (another program's) counts as not held.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson

from monitor.adapters.redis_calls import RedisCalls
from monitor.judge.buffer import BufferedRequest, check_buffer_limits
from monitor.judge.forward import AnswerRecord

__all__ = ["KEEP_MARGIN_SECONDS", "RedisRequestBuffer"]

KEEP_MARGIN_SECONDS = 60
_DROP_CHUNK = 500  # request ids per DEL and ZREM


class RedisRequestBuffer:
    """:class:`monitor.judge.buffer.RequestBuffer` in Redis; :class:`StoreError` when unreachable."""

    def __init__(
        self,
        url: str,
        prefix: str,
        size: int,
        ttl_seconds: float,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        check_buffer_limits(size, ttl_seconds)
        self.prefix = prefix
        self.size = size
        self.ttl_seconds = ttl_seconds
        self._calls = RedisCalls(url, "judge buffer", client_options)

    def _key(self, request_id: str) -> str:
        return f"{self.prefix}request:{request_id}"

    def get_many(self, request_ids: Sequence[str], now: float) -> dict[str, BufferedRequest]:
        if not request_ids:
            return {}
        keys = [self._key(rid) for rid in request_ids]
        values = self._calls.run("read", lambda client: client.mget(keys))
        found = ((rid, _request(value)) for rid, value in zip(request_ids, values, strict=True))
        return {
            rid: request
            for rid, request in found
            if request is not None and now - request.seen <= self.ttl_seconds
        }

    def put_many(self, requests: Sequence[tuple[str, BufferedRequest]], now: float) -> None:
        if requests:
            self._calls.run("write", lambda client: self._write(client, requests, now))
        self._calls.run("expiry", lambda client: self._expire(client, now))

    def _write(
        self, client: Any, requests: Sequence[tuple[str, BufferedRequest]], now: float
    ) -> None:
        touched, seen = f"{self.prefix}touched", f"{self.prefix}seen"
        last = client.zrevrange(touched, 0, 0, withscores=True)
        first = int(last[0][1]) + 1 if last else 1
        pipe = client.pipeline(transaction=True)  # all of a message's requests, or none
        for order, (request_id, request) in enumerate(requests, start=first):
            left_ms = math.ceil((request.seen + self.ttl_seconds - now) * 1000)
            pipe.set(self._key(request_id), _json(request), px=max(left_ms, 1))
            pipe.zadd(touched, {request_id: order})
            pipe.zadd(seen, {request_id: request.seen})
        for index in (touched, seen):
            pipe.expire(index, math.ceil(self.ttl_seconds) + KEEP_MARGIN_SECONDS)
        pipe.execute()

    def _expire(self, client: Any, now: float) -> None:
        seen, touched = f"{self.prefix}seen", f"{self.prefix}touched"
        self._drop(
            client, _texts(client.zrangebyscore(seen, "-inf", f"({now - self.ttl_seconds!r}"))
        )
        over = client.zcard(touched) - self.size
        if over > 0:
            self._drop(client, _texts(client.zrange(touched, 0, over - 1)))

    def _drop(self, client: Any, request_ids: list[str]) -> None:
        for start in range(0, len(request_ids), _DROP_CHUNK):
            chunk = request_ids[start : start + _DROP_CHUNK]
            pipe = client.pipeline(transaction=True)
            pipe.delete(*(self._key(rid) for rid in chunk))
            pipe.zrem(f"{self.prefix}touched", *chunk)
            pipe.zrem(f"{self.prefix}seen", *chunk)
            pipe.execute()

    def held(self) -> list[str]:
        return _texts(self._calls.run("read", lambda c: c.zrange(f"{self.prefix}touched", 0, -1)))

    def close(self) -> None:
        self._calls.close()


def _texts(values: Any) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _json(request: BufferedRequest) -> bytes:
    fields = asdict(request)
    fields["compared"] = sorted(request.compared)
    return orjson.dumps(fields)


def _request(raw: bytes | None) -> BufferedRequest | None:
    """The request ``raw`` holds; None when it is absent or not one of ours."""
    if raw is None:
        return None
    try:
        fields = orjson.loads(raw)
        production = fields.pop("production")
        request = BufferedRequest(
            **{
                **fields,
                "production": None if production is None else AnswerRecord(**production),
                "shadows": tuple(AnswerRecord(**s) for s in fields["shadows"]),
                "compared": frozenset(fields["compared"]),
            }
        )
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        return None
    return request if isinstance(request.seen, int | float) else None
