"""A Redis join store that restarted empty is detected: a real redis-server of the test's own, on a
free loopback port, killed (SIGKILL) and started again, with and without persistence."""

from __future__ import annotations

import logging

import pytest
from faults_support import redis_server
from prometheus_client import CollectorRegistry

from monitor.adapters.join_store import RedisJoinStore
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.errors import StoreError


def _retry(call):
    """The first call after a restart may meet the old, dead connection (a retryable StoreError)."""
    try:
        return call()
    except StoreError as exc:
        assert exc.retryable
        return call()


@pytest.mark.parametrize("persistent", [False, True], ids=["no-persistence", "aof"])
def test_a_redis_restarted_empty_is_counted_once_and_a_persistent_one_is_not(
    tmp_path, caplog, persistent
):
    registry = CollectorRegistry()
    counter = MonitorMetrics(registry).join_store_resets.labels(store="join")

    def counted() -> float | None:
        return registry.get_sample_value("monitor_join_store_resets_total", {"store": "join"})

    server = redis_server(tmp_path, persistent).start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        store = RedisJoinStore(url, ttl_seconds=3600, prefix="t:join:", on_reset=counter.inc)
        other = RedisJoinStore(url, ttl_seconds=3600, prefix="t:join:")  # a second worker
        store.setup()
        other.setup()
        assert store.add_inferences([("r1", b"inf1")], now=0.0) == []
        assert other.add_feedback([("r0", "f0", b"fb0")], now=0.0).matches == []
        assert store.resets == other.resets == 0  # the second worker met the marker the first wrote

        server.kill()
        server.start()
        with caplog.at_level(logging.WARNING, logger="monitor.adapters.join_store"):
            matches = _retry(lambda: store.add_feedback([("r1", "f1", b"fb1")], now=1.0).matches)
        if persistent:  # the inference survived: the feedback joins, nothing reported
            assert matches == [("r1", b"inf1", b"fb1")]
            assert store.resets == 0 and counted() == 0
            assert not caplog.records
        else:  # the inference is gone: the pair is lost, and that is reported
            assert matches == []
            assert store.resets == 1 and counted() == 1
            [record] = caplog.records
            assert "was reset" in record.getMessage() and f":{server.port}" in record.getMessage()
        # the other worker sees the same reset (through its own next call, an expiry sweep): the
        # first one counted it, so it does not count it again
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="monitor.adapters.join_store"):
            _retry(lambda: other.expire(now=2.0))
        assert other.resets == 0
        notes = [r for r in caplog.records if "was reset" in r.getMessage()]
        assert [r.levelno for r in notes] == ([] if persistent else [logging.INFO])

        # after the reset the store works again and no further reset is reported
        assert store.add_inferences([("r2", b"inf2")], now=3.0) == []
        assert other.add_feedback([("r2", "f2", b"fb2")], now=4.0).matches == [
            ("r2", b"inf2", b"fb2")
        ]
        assert (store.resets, other.resets) == ((0, 0) if persistent else (1, 0))
        store.close()
        other.close()
    finally:
        server.kill()


@pytest.mark.parametrize("persistent", [False, True], ids=["no-persistence", "aof"])
def test_a_worker_started_after_the_reset_sees_it_through_the_saved_marker(
    tmp_path, chdb_dir, persistent
):
    """Every worker stopped, Redis restarted empty, a worker started: the marker the workers saved
    in the store tells it Redis lost its data; a Redis that kept its data is no reset."""
    import uuid

    from monitor.adapters.clickhouse_store import ClickHouseStore
    from monitor.adapters.named_state import read_state, write_state

    state = ClickHouseStore(f"chdb://{chdb_dir}?database=r_{uuid.uuid4().hex[:10]}").connect()
    state.migrate()
    name = "redis-instance:t:join:"

    def worker(url: str) -> RedisJoinStore:
        store = RedisJoinStore(
            url,
            ttl_seconds=3600,
            prefix="t:join:",
            known_instance=read_state(state, name),
            on_instance=lambda marker: write_state(state, name, marker),
        )
        store.setup()
        return store

    server = redis_server(tmp_path, persistent).start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        first = worker(url)
        assert first.add_inferences([("r1", b"inf1")], now=0.0) == []
        saved = read_state(state, name)
        assert saved is not None and first.resets == 0
        first.close()  # every worker stopped

        server.kill()
        server.start()
        later = worker(url)  # starts knowing the marker the first one saved
        alongside = worker(url)  # another worker started at the same time, knowing the same one
        matches = later.add_feedback([("r1", "f1", b"fb1")], now=1.0).matches
        assert alongside.add_inferences([("r3", b"inf3")], now=1.0) == []
        if persistent:
            assert (matches, later.resets, alongside.resets) == ([("r1", b"inf1", b"fb1")], 0, 0)
            assert read_state(state, name) == saved
        else:  # one reset, counted once: by the worker whose call wrote the new marker
            assert (matches, later.resets, alongside.resets) == ([], 1, 0)
            assert read_state(state, name) not in (None, saved)  # the new marker, for the next one
        later.close()
        alongside.close()
        third = worker(url)  # the marker is current again: no second report
        assert third.add_inferences([("r2", b"inf2")], now=2.0) == [] and third.resets == 0
        third.close()
    finally:
        server.kill()
