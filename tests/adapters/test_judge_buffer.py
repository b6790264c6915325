"""One contract suite for the judge runner's request buffer, run against memory and a real Redis;
then what only Redis does: a second runner finds the requests, keys expire with the TTL, values
that are not ours count as not held, and an unreachable Redis is a named error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from monitor.adapters.judge_buffer import KEEP_MARGIN_SECONDS, RedisRequestBuffer
from monitor.errors import StoreError
from monitor.judge.buffer import BufferedRequest, MemoryRequestBuffer, RequestBuffer
from monitor.judge.forward import AnswerRecord

TTL = 60.0
SIZE = 3


def answer(rid: str, version: str = "v1", deployment: str = "production") -> AnswerRecord:
    return AnswerRecord(
        rid, 5.0, "bot", version, deployment, f"Q {rid}?", f"A {rid} ✓", 12, None, True
    )


@pytest.fixture(params=["memory", "redis"])
def buffer(request: pytest.FixtureRequest) -> Iterator[RequestBuffer]:
    if request.param == "memory":
        made: RequestBuffer = MemoryRequestBuffer(SIZE, TTL)
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        made = RedisRequestBuffer(url, prefix, SIZE, TTL)
    yield made
    made.close()


def test_a_request_reads_back_as_it_was_held(buffer: RequestBuffer) -> None:
    held = BufferedRequest(
        10.0,
        production=answer("r1"),
        shadows=(answer("r1", "v2", "shadow"), answer("r1", "v3", "shadow")),
        flagged=True,
        graded=True,
        compared=frozenset({"v2"}),
        judge="good",
        human="bad",
        agreement_counted=True,
    )
    buffer.put_many([("r1", held), ("r2", BufferedRequest(11.0))], now=11.0)
    assert buffer.get_many(["r1", "r2", "r3"], now=12.0) == {
        "r1": held,
        "r2": BufferedRequest(11.0),
    }
    assert buffer.get_many([], now=12.0) == {}
    buffer.put_many([("r1", BufferedRequest(10.0, graded=True))], now=13.0)  # written over
    assert buffer.get_many(["r1"], now=13.0) == {"r1": BufferedRequest(10.0, graded=True)}


def test_the_ttl_counts_from_when_a_request_was_first_seen(buffer: RequestBuffer) -> None:
    buffer.put_many([("old", BufferedRequest(0.0)), ("new", BufferedRequest(30.0))], now=30.0)
    buffer.put_many([("old", BufferedRequest(0.0, flagged=True))], now=50.0)  # touched: no renewal
    assert set(buffer.get_many(["old", "new"], now=TTL)) == {"old", "new"}  # TTL s: still held
    assert set(buffer.get_many(["old", "new"], now=TTL + 0.5)) == {"new"}  # past it: not read
    buffer.put_many([], now=TTL + 0.5)
    assert buffer.held() == ["new"]
    buffer.put_many([], now=30.0 + TTL + 0.5)
    assert buffer.held() == []


def test_above_the_cap_the_least_recently_touched_go_first(buffer: RequestBuffer) -> None:
    buffer.put_many([(f"r{i}", BufferedRequest(1.0)) for i in range(3)], now=1.0)
    buffer.put_many([("r0", BufferedRequest(1.0, graded=True))], now=2.0)  # r0 touched again
    assert buffer.held() == ["r1", "r2", "r0"]
    buffer.put_many([("r3", BufferedRequest(3.0)), ("r4", BufferedRequest(3.0))], now=3.0)
    assert buffer.held() == ["r0", "r3", "r4"]
    assert set(buffer.get_many(["r0", "r1", "r2", "r3", "r4"], now=3.0)) == {"r0", "r3", "r4"}


def test_a_second_buffer_finds_the_requests_and_keys_expire_with_the_ttl(
    redis_url: str, redis_prefix: str
) -> None:
    """A restarted runner (a new buffer on the same prefix) reads what the last one held, in the
    same touch order; each request's key lives until its TTL runs out, the index sets a little
    longer."""
    first = RedisRequestBuffer(redis_url, redis_prefix, SIZE, TTL)
    now = 1_800_000_000.0
    first.put_many([("r1", BufferedRequest(now - 20, production=answer("r1")))], now=now)
    first.put_many([("r2", BufferedRequest(now))], now=now)
    first.close()
    second = RedisRequestBuffer(redis_url, redis_prefix, SIZE, TTL)
    assert second.held() == ["r1", "r2"]
    assert second.get_many(["r1"], now=now + 1)["r1"].production == answer("r1")
    second.put_many([("r3", BufferedRequest(now)), ("r1", BufferedRequest(now - 20))], now=now)
    second.put_many([("r4", BufferedRequest(now))], now=now)
    assert second.held() == ["r3", "r1", "r4"]  # r2, the least recently touched, at the cap
    client = redis.Redis.from_url(redis_url)
    assert 38_000 < client.pttl(f"{redis_prefix}request:r1") <= 40_000  # first seen 20 s ago
    assert 58_000 < client.pttl(f"{redis_prefix}request:r4") <= 60_000
    assert client.exists(f"{redis_prefix}request:r2") == 0
    for index in ("touched", "seen"):
        assert TTL < client.ttl(f"{redis_prefix}{index}") <= TTL + KEEP_MARGIN_SECONDS


def test_values_that_are_not_requests_count_as_not_held(redis_url: str, redis_prefix: str) -> None:
    buffer = RedisRequestBuffer(redis_url, redis_prefix, SIZE, TTL)
    client = redis.Redis.from_url(redis_url)
    for i, junk in enumerate((b"not json", b"[1, 2]", b'{"seen": 1}', b'{"seen": "x"}')):
        client.set(f"{redis_prefix}request:j{i}", junk)
    buffer.put_many([("ok", BufferedRequest(1.0))], now=1.0)
    assert buffer.get_many(["j0", "j1", "j2", "j3", "ok"], now=1.0) == {"ok": BufferedRequest(1.0)}


def test_an_unreachable_redis_is_a_store_error_without_the_password() -> None:
    buffer = RedisRequestBuffer("redis://:s3cret@127.0.0.1:1/0", "p:", SIZE, TTL)
    with pytest.raises(StoreError) as caught:
        buffer.get_many(["r1"], now=0.0)
    assert "judge buffer in Redis at" in str(caught.value) and "read failed" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(("size", "ttl"), [(0, TTL), (SIZE, -1.0), (SIZE, float("nan"))])
def test_a_size_or_ttl_no_buffer_can_keep_is_refused(size: int, ttl: float) -> None:
    for make in (MemoryRequestBuffer, lambda s, t: RedisRequestBuffer("redis://x", "p:", s, t)):
        with pytest.raises(ValueError, match="judge buffer"):
            make(size, ttl)
