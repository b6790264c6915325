"""The worker's Redis join store tells a refusal from an outage by redis-py's exception class,
against redis-servers of the test's own: a password or a command Redis refuses, or a Redis Cluster
node's redirect, is a :class:`StoreRefused` (never retried, nothing to dead-letter); a replica refusing writes
(READONLY, a failover) and memory pressure (OOM under ``maxmemory``) are outages to retry; a script
refusing what it found stays an error retrying does not fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import AskError, ClusterCrossSlotError, MovedError
from redis_support import (
    OUTSIDER,
    OUTSIDER_PASSWORD,
    PASSWORD,
    READER,
    READER_PASSWORD,
    ClusterNodes,
    PasswordRedis,
    password_redis_server,
    primary_and_replica,
    redis_cluster_nodes,
)

from monitor.adapters.join_store import RedisJoinStore
from monitor.errors import StoreError, StoreRefused

WRONG = "wrong-pw-secret"
PREFIX = "refusals:join:"

CALLS: dict[str, Callable[[RedisJoinStore], Any]] = {
    "inferences": lambda store: store.add_inferences([("r1", b"inf")], now=1.0),
    "feedback": lambda store: store.add_feedback([("r1", "f1", b"fb")], now=1.0).matches,
    "stored inferences": lambda store: store.stored_inferences(["r1"]),
    "expire": lambda store: store.expire(now=1.0),
    "mark": lambda store: store.mark(["m"], now=1.0),
}


def refused(store: RedisJoinStore, call: str) -> StoreRefused:
    with pytest.raises(StoreRefused) as info:
        CALLS[call](store)
    assert not info.value.retryable
    return info.value


def clear(admin: redis.Redis) -> None:
    """Delete this module's keys and close the client."""
    keys = admin.keys(PREFIX + "*")
    if keys:
        admin.delete(*keys)
    admin.close()


@pytest.fixture()
def changed_password(tmp_path: Path) -> Iterator[tuple[PasswordRedis, RedisJoinStore]]:
    """A join store set up with the right password, whose Redis then changed its password and
    dropped every connection (a rotation the worker's settings missed)."""
    with password_redis_server(tmp_path) as server:
        store = RedisJoinStore(server.url(), prefix=PREFIX)
        store.add_inferences([("r0", b"inf0")], now=0.0)
        with server.admin() as admin:
            admin.config_set("requirepass", "rotated-pw-secret")
            admin.client_kill_filter(_type="normal")  # every connection but this one
        try:
            yield server, store
        finally:
            store.close()


@pytest.mark.parametrize("call", CALLS)
def test_a_password_changed_under_a_running_store_is_a_refusal_not_an_outage(
    changed_password: tuple[PasswordRedis, RedisJoinStore], call: str
) -> None:
    """Before: redis-py's AuthenticationError (a ConnectionError) was retried as an outage,
    forever."""
    server, store = changed_password
    message = str(refused(store, call))
    assert message.startswith(
        f"Redis join store at redis://:***@127.0.0.1:{server.port}/0: {call} failed: "
        "Redis refused the credentials (invalid username-password pair or user is disabled.)"
    )
    assert message.endswith(": check the password (and user) in MONITOR_REDIS_URL")
    assert PASSWORD not in message and "\n" not in message


def test_the_start_check_says_the_credentials_were_refused(password_redis: PasswordRedis) -> None:
    """Before: "Redis join store at ... is unreachable: invalid username-password pair ..."."""
    store = RedisJoinStore(password_redis.url(WRONG), prefix=PREFIX)
    with pytest.raises(StoreRefused) as info:
        store.setup()
    assert str(info.value) == (
        f"Redis join store at redis://:***@127.0.0.1:{password_redis.port}/0 refused the "
        "credentials (invalid username-password pair or user is disabled.): check the password "
        "(and user) in MONITOR_REDIS_URL"
    )
    with pytest.raises(StoreRefused, match="asks for a password and MONITOR_REDIS_URL gives none"):
        RedisJoinStore(password_redis.url(None), prefix=PREFIX).setup()


@pytest.mark.parametrize(
    ("user", "password", "calls"),
    [
        # no EVALSHA: the scripts are refused (NOPERM), the reads are not
        (READER, READER_PASSWORD, ["inferences", "feedback", "expire", "mark"]),
        # every command, on another prefix's keys: the scripts' own commands are refused (an ERR
        # reply without NOPERM), and so is the MGET
        (OUTSIDER, OUTSIDER_PASSWORD, ["inferences", "feedback", "stored inferences", "expire"]),
    ],
    ids=["no-evalsha", "other-keys"],
)
def test_a_command_or_key_the_acl_refuses_is_a_refusal_not_a_bad_batch(
    password_redis: PasswordRedis, user: str, password: str, calls: list[str]
) -> None:
    """Before: NOPERM was a ResponseError retrying could not fix: ingest looked for the bad
    message, found none and dead-lettered the whole batch (internal_error), batch after batch."""
    store = RedisJoinStore(password_redis.url(password, user=user), prefix=PREFIX)
    try:
        for call in calls:
            message = str(refused(store, call))
            refusal = f"{call} failed: Redis refused a command to MONITOR_REDIS_URL's user (NOPERM "
            assert refusal in message
            assert message.endswith(
                "grant that user the worker's commands and keys (docs/SECURITY.md, Redis)"
            )
            assert password not in message
    finally:
        store.close()


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    with primary_and_replica(tmp_path_factory.mktemp("replicated")) as ports:
        yield ports


@pytest.mark.parametrize("call", ["inferences", "feedback", "expire", "mark"])
def test_a_replica_refusing_writes_is_an_outage_to_retry(
    replicated: tuple[int, int], call: str
) -> None:
    """READONLY (the URL points at a primary a failover demoted). Before: redis-py strips the
    code from the message, so the check for a "READONLY" start missed it: not retried, the batch
    dead-lettered."""
    store = RedisJoinStore(f"redis://127.0.0.1:{replicated[1]}/0", prefix=PREFIX)
    try:
        with pytest.raises(StoreError) as info:
            CALLS[call](store)
        assert info.value.retryable and not isinstance(info.value, StoreRefused)
        assert "You can't write against a read only replica" in str(info.value)
        assert store.stored_inferences(["r1"]) == {}  # a replica still answers reads
    finally:
        store.close()


def test_memory_pressure_is_an_outage_to_retry_and_passes(replicated: tuple[int, int]) -> None:
    """OOM under ``maxmemory`` with ``noeviction``. Before: not retried, the batch dead-lettered."""
    url = f"redis://127.0.0.1:{replicated[0]}/0"
    store = RedisJoinStore(url, prefix=PREFIX)
    admin = redis.Redis.from_url(url)
    try:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
        for call in ["inferences", "feedback"]:
            with pytest.raises(StoreError) as info:
                CALLS[call](store)
            assert info.value.retryable and not isinstance(info.value, StoreRefused)
            assert "command not allowed when used memory > 'maxmemory'" in str(info.value)
        admin.config_set("maxmemory", "0")  # the pressure ends: the same call goes through
        assert store.add_inferences([("r1", b"inf")], now=1.0) == []
        assert store.add_feedback([("r1", "f1", b"fb")], now=2.0).matches == [("r1", b"inf", b"fb")]
    finally:
        admin.config_set("maxmemory", "0")
        clear(admin)
        store.close()


def test_a_script_refusing_what_it_found_is_still_not_retried(replicated: tuple[int, int]) -> None:
    """A key of the wrong type under the prefix (another writer's): WRONGTYPE from inside the
    script, neither an outage nor a refusal of the credentials: not retried, as before."""
    url = f"redis://127.0.0.1:{replicated[0]}/0"
    store = RedisJoinStore(url, prefix=PREFIX)
    admin = redis.Redis.from_url(url)
    try:
        admin.set(PREFIX + "f:r9", "not a hash")
        with pytest.raises(StoreError) as info:
            store.add_inferences([("r9", b"inf")], now=1.0)
        assert not info.value.retryable and not isinstance(info.value, StoreRefused)
        assert "WRONGTYPE" in str(info.value)
    finally:
        clear(admin)
        store.close()


CLUSTER_FIX = (
    ": MONITOR_REDIS_URL points at a Redis Cluster node, and the monitor's Redis client is not a "
    "cluster client (it follows no redirects): point MONITOR_REDIS_URL at a Redis not in cluster "
    "mode (docs/SECURITY.md, Redis)"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterNodes]:
    with redis_cluster_nodes(tmp_path_factory.mktemp("cluster")) as nodes:
        yield nodes


@pytest.mark.parametrize(
    ("call", "reply"),
    [
        # the scripts name their keys in arguments: a node refuses one it does not serve with ERR
        (
            "inferences",
            "ERR (Script attempted to access a non local key in a cluster node script: ",
        ),
        ("feedback", "ERR (Script attempted to access a non local key in a cluster node script: "),
        ("expire", "ERR (Script attempted to access a non local key in a cluster node script: "),
        ("stored inferences", f"MOVED (Command # 1 (MGET {PREFIX}i:r1) of pipeline caused error: "),
        ("mark", f"MOVED (Command # 1 (SET {PREFIX}mark:m "),
    ],
)
def test_a_url_at_a_redis_cluster_node_is_a_refusal_not_a_bad_batch(
    cluster: ClusterNodes, call: str, reply: str
) -> None:
    """A node serving none of the keys' slots. Before: MOVED and the script's ERR were errors
    retrying could not fix, blamed on the messages: three attempts, then the whole batch
    dead-lettered internal_error, batch after batch."""
    url = cluster.url(cluster.empty)
    store = RedisJoinStore(url, prefix=PREFIX)
    try:
        error = refused(store, call)
    finally:
        store.close()
    message = str(error)
    assert message.startswith(f"Redis join store at {url}: {call} failed: Redis answered {reply}")
    assert message.endswith(CLUSTER_FIX) and "\n" not in message
    if reply.startswith("MOVED"):  # the reply names the node that serves the key's slot
        assert isinstance(error.__cause__, MovedError)
        assert f"127.0.0.1:{cluster.serving})" + CLUSTER_FIX in message


def test_a_migrating_slot_and_keys_in_several_slots_are_refusals_too(cluster: ClusterNodes) -> None:
    """On the node that serves every slot: ASK for a missing key of a slot migrating away, and
    CROSSSLOT for one MGET over keys in several slots. Before: both dead-lettered the batch."""
    store = RedisJoinStore(cluster.url(cluster.serving), prefix=PREFIX)
    try:
        with cluster.node(cluster.serving) as node, cluster.node(cluster.empty) as target:
            slot = node.execute_command("CLUSTER KEYSLOT", PREFIX + "i:r1")
            node.execute_command(
                "CLUSTER SETSLOT", slot, "MIGRATING", target.execute_command("CLUSTER MYID")
            )
            try:
                asked = refused(store, "stored inferences")
            finally:
                node.execute_command("CLUSTER SETSLOT", slot, "STABLE")
        with pytest.raises(StoreRefused) as crossed:
            store.stored_inferences(["r1", "r2"])
    finally:
        store.close()
    assert isinstance(asked.__cause__, AskError) and not isinstance(asked.__cause__, MovedError)
    assert str(asked).startswith(
        f"Redis join store at {cluster.url(cluster.serving)}: stored inferences failed: Redis "
        f"answered ASK (Command # 1 (MGET {PREFIX}i:r1) of pipeline caused error: {slot} "
        f"127.0.0.1:{cluster.empty})" + CLUSTER_FIX
    )
    assert isinstance(crossed.value.__cause__, ClusterCrossSlotError)
    assert "failed: Redis answered CROSSSLOT (Command # 1 (MGET " in str(crossed.value)
    assert str(crossed.value).endswith("Keys in request don't hash to the same slot)" + CLUSTER_FIX)
