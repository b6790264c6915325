"""A Redis that refuses the credentials or a command is a :class:`StoreRefused` (retrying cannot
fix it), one that does not answer a plain :class:`StoreError`: the judge's buffer, token ledger and
statistics journal, and the one PING ``monitor judge`` makes at start, against a redis-server of the
test's own that asks for a password and has a read-only ACL user; a Redis Cluster node's answers
(the judge's client is not a cluster client) are refusals too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis_support import (
    READER,
    READER_PASSWORD,
    ClusterNodes,
    PasswordRedis,
    redis_cluster_nodes,
)

from monitor.adapters.judge_buffer import RedisRequestBuffer
from monitor.adapters.judge_journal import RedisStatsJournal
from monitor.adapters.judge_ledger import RedisTokenLedger
from monitor.adapters.local_broker import free_port
from monitor.adapters.redis_calls import check_redis
from monitor.errors import StoreError, StoreRefused
from monitor.judge.buffer import BufferedRequest
from monitor.judge.pairwise import PairVerdict

WRONG = "wrong-pw-secret"


def buffer(url: str) -> RedisRequestBuffer:
    return RedisRequestBuffer(url, "refusals:buffer:", 10, 60.0)


STORE_CALLS: dict[str, Callable[[str], Any]] = {
    "buffer read": lambda url: buffer(url).get_many(["r1"], 0.0),
    "buffer write": lambda url: buffer(url).put_many([("r1", BufferedRequest(0.0))], 0.0),
    "ledger read": lambda url: RedisTokenLedger(url, "refusals:tokens:").spent(1),
    "ledger count": lambda url: RedisTokenLedger(url, "refusals:tokens:").add(1, 10),
    "journal read": lambda url: RedisStatsJournal(url, "refusals:stats:").load(),
    "journal write": lambda url: RedisStatsJournal(url, "refusals:stats:").add_pair(
        ("m", "v1", "v2"), PairVerdict("tie", False), 0.0, 1.0
    ),
}


@pytest.mark.parametrize("call", STORE_CALLS)
def test_a_refused_password_is_a_store_refusal_naming_the_masked_url(
    password_redis: PasswordRedis, call: str
) -> None:
    url = password_redis.url(WRONG)
    with pytest.raises(StoreRefused) as refused:
        STORE_CALLS[call](url)
    message = str(refused.value)
    assert f"in Redis at redis://:***@127.0.0.1:{password_redis.port}/0: " in message
    assert "failed: Redis refused the credentials (invalid username-password pair" in message
    assert message.endswith("check the password (and user) in MONITOR_REDIS_URL")
    assert WRONG not in message and not refused.value.retryable


def test_no_password_where_redis_asks_for_one_says_so(password_redis: PasswordRedis) -> None:
    with pytest.raises(StoreRefused, match="asks for a password and MONITOR_REDIS_URL gives none"):
        buffer(password_redis.url(None)).get_many(["r1"], 0.0)


def test_a_command_the_acl_refuses_is_a_store_refusal(password_redis: PasswordRedis) -> None:
    """The user may read, not write: the buffer reads, and its write is refused (NOPERM)."""
    url = password_redis.url(READER_PASSWORD, user=READER)
    assert buffer(url).get_many(["r1"], 0.0) == {}
    with pytest.raises(StoreRefused) as refused:
        buffer(url).put_many([("r1", BufferedRequest(0.0))], 0.0)
    assert "write failed: Redis refused a command to MONITOR_REDIS_URL's user (NOPERM " in str(
        refused.value
    )
    assert READER_PASSWORD not in str(refused.value)


def test_the_right_password_works(password_redis: PasswordRedis) -> None:
    url = password_redis.url()
    check_redis(url, "judge Redis")
    held = buffer(url)
    try:
        held.put_many([("r1", BufferedRequest(5.0))], 5.0)
        assert held.get_many(["r1"], 5.0) == {"r1": BufferedRequest(5.0)}
    finally:
        with password_redis.admin() as admin:
            admin.delete(*admin.keys("refusals:*"))


@pytest.mark.parametrize("call", ["buffer read", "ledger count", "journal read"])
def test_a_redis_that_does_not_answer_is_an_error_to_retry_not_a_refusal(call: str) -> None:
    with pytest.raises(StoreError) as failed:
        STORE_CALLS[call](f"redis://:{WRONG}@127.0.0.1:{free_port()}/0")
    assert not isinstance(failed.value, StoreRefused) and failed.value.retryable
    assert WRONG not in str(failed.value)


def test_the_start_check_says_refused_or_unreachable_in_one_line(
    password_redis: PasswordRedis,
) -> None:
    port = password_redis.port
    with pytest.raises(StoreRefused) as refused:
        check_redis(password_redis.url(WRONG), "judge Redis")
    assert str(refused.value) == (
        f"judge Redis at redis://:***@127.0.0.1:{port}/0 refused the credentials "
        "(invalid username-password pair or user is disabled.): "
        "check the password (and user) in MONITOR_REDIS_URL"
    )
    closed = free_port()
    with pytest.raises(StoreError) as unreachable:
        check_redis(f"redis://:{WRONG}@127.0.0.1:{closed}/0", "judge Redis")
    assert not isinstance(unreachable.value, StoreRefused)
    assert str(unreachable.value).startswith(
        f"judge Redis at redis://:***@127.0.0.1:{closed}/0 is unreachable ("
    )
    assert str(unreachable.value).endswith("): check MONITOR_REDIS_URL and that Redis is up")
    assert "\n" not in str(unreachable.value) + str(refused.value)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterNodes]:
    with redis_cluster_nodes(tmp_path_factory.mktemp("cluster")) as nodes:
        yield nodes


@pytest.mark.parametrize("call", STORE_CALLS)
def test_a_url_at_a_redis_cluster_node_is_a_store_refusal(cluster: ClusterNodes, call: str) -> None:
    """A node serving none of the keys' slots answers MOVED, or ERR from a script. Before: an
    error retrying does not fix, which ``monitor judge`` met again at every request."""
    with pytest.raises(StoreRefused) as refused:
        STORE_CALLS[call](cluster.url(cluster.empty))
    message = str(refused.value)
    assert " failed: Redis answered " in message
    assert message.endswith(
        ": MONITOR_REDIS_URL points at a Redis Cluster node, and the monitor's Redis client is not "
        "a cluster client (it follows no redirects): point MONITOR_REDIS_URL at a Redis not in "
        "cluster mode (docs/SECURITY.md, Redis)"
    )
