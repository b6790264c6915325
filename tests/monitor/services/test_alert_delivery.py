"""Durable alert delivery: a notification for a sink that is down survives a restart and reaches
the sink once, through a real HTTP receiver, embedded ClickHouse and (for two workers, and a Redis
that stops taking the password) Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis_support import password_redis_server
from tests_support import Receiver

from monitor.adapters.alert_outbox import AlertOutbox
from monitor.adapters.alert_sinks import AlertDeduplicator, LogSink, WebhookSink, delivery_key
from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.alerts.state import Alert
from monitor.errors import StoreRefused
from monitor.services.alert_delivery import AlertDelivery

ALERT = Alert.firing("takeover", "critical", "chat", "v2", 600.0, "too many takeovers")
ROTATED = "rotated-pw-secret"


@pytest.fixture()
def store(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    s.migrate()
    yield s
    s.command(f"DROP DATABASE IF EXISTS {s.db}")


@pytest.fixture()
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="store")
    yield pool
    pool.shutdown()


def worker(
    store: ClickHouseStore,
    executor: ThreadPoolExecutor,
    url: str,
    dedup: AlertDeduplicator | None = None,
) -> AlertDelivery:
    async def blocking(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    return AlertDelivery(
        [LogSink(), WebhookSink(url)],
        AlertOutbox(store),
        dedup or AlertDeduplicator(),
        blocking,
        base_delay=0.05,
        max_delay=0.2,
    )


async def until(predicate, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_a_notification_for_a_sink_down_across_a_restart_arrives_once(store, executor) -> None:
    receiver = Receiver()  # down
    outbox = AlertOutbox(store)

    async def first_life() -> None:
        delivery = worker(store, executor, receiver.url)
        await delivery.blocking(delivery.record, [ALERT])
        await delivery.deliver([ALERT])
        await until(lambda: delivery.queue.failures["webhook"] >= 2)
        await until(lambda: delivery.queue.delivered["log"] == 1)
        await delivery.close(timeout=0)  # the process ends with the webhook delivery pending

    asyncio.run(first_life())
    assert outbox.pending(["log", "webhook"]) == [("webhook", ALERT)]

    receiver.start()
    try:

        async def second_life() -> None:
            delivery = worker(store, executor, receiver.url)
            assert await delivery.recover() == 1
            # the restarted leader evaluates the same windows again and records the same alert
            await delivery.blocking(delivery.record, [ALERT])
            await delivery.deliver([ALERT])
            assert await delivery.queue.flush(10)
            await delivery.close()

        asyncio.run(second_life())
    finally:
        receiver.stop()
    assert len(receiver.posts) == 1
    body, headers = receiver.posts[0]
    assert json.loads(body)["fingerprint"] == ALERT.fingerprint
    assert headers["X-Monitor-Delivery-Id"] == delivery_key(ALERT)
    assert outbox.pending(["log", "webhook"]) == []


def test_a_notification_claimed_by_another_worker_is_not_pending_here(
    store, executor, redis_url, redis_prefix
) -> None:
    receiver = Receiver().start()
    try:

        async def two_workers() -> None:
            a = worker(
                store, executor, receiver.url, AlertDeduplicator(redis_url, prefix=redis_prefix)
            )
            b = worker(
                store, executor, receiver.url, AlertDeduplicator(redis_url, prefix=redis_prefix)
            )
            for delivery in (a, b):  # during a leader change both evaluated the window
                await delivery.blocking(delivery.record, [ALERT])
                await delivery.deliver([ALERT])
            for delivery in (a, b):
                assert await delivery.queue.flush(10)
                await delivery.close()

        asyncio.run(two_workers())
    finally:
        receiver.stop()
    assert len(receiver.posts) == 1
    assert AlertOutbox(store).pending(["log", "webhook"]) == []  # a restart sends nothing again


def test_a_deduplicator_whose_password_is_rotated_sends_nothing_and_leaves_the_row_pending(
    store, executor, tmp_path
) -> None:
    """The Redis of the claims takes a new password the worker's settings missed. Before: a
    warning, and the notification went out unclaimed (and again from a second leader). Now the
    claim raises StoreRefused (the worker stops on it), nothing reaches the sinks, and a worker
    started with the new password sends the pending notification once."""
    receiver = Receiver().start()
    outbox = AlertOutbox(store)
    try:
        with password_redis_server(tmp_path) as redis:
            prefix = f"rotated-{uuid.uuid4().hex[:8]}:"

            async def refused_life() -> None:
                delivery = worker(
                    store, executor, receiver.url, AlertDeduplicator(redis.url(), prefix=prefix)
                )
                claimed = Alert.firing("other", "warning", "chat", "v2", 0.0, "claimed before")
                assert await delivery.dedup.should_send(claimed)  # the right password, at first
                with redis.admin() as admin:
                    admin.config_set("requirepass", ROTATED)
                    admin.client_kill_filter(_type="normal")  # every connection but this one
                await delivery.blocking(delivery.record, [ALERT])
                with pytest.raises(StoreRefused) as refused:
                    await delivery.deliver([ALERT])
                assert str(refused.value) == (
                    f"alert deduplicator in Redis at redis://:***@127.0.0.1:{redis.port}/0: claim "
                    "failed: Redis refused the credentials (invalid username-password pair or user "
                    "is disabled.): check the password (and user) in MONITOR_REDIS_URL"
                )
                await asyncio.sleep(0.3)  # room for a send, if one were queued
                assert delivery.queue.delivered == {"log": 0, "webhook": 0}
                await delivery.close(timeout=0)

            asyncio.run(refused_life())
            assert receiver.posts == []
            assert sorted(outbox.pending(["log", "webhook"])) == [
                ("log", ALERT),
                ("webhook", ALERT),
            ]

            async def next_start() -> None:
                dedup = AlertDeduplicator(redis.url(ROTATED), prefix=prefix)
                delivery = worker(store, executor, receiver.url, dedup)
                assert await delivery.recover() == 2
                await delivery.deliver([ALERT])  # the same windows evaluated again: claimed now
                assert await delivery.queue.flush(10)
                await delivery.close()

            asyncio.run(next_start())
    finally:
        receiver.stop()
    assert len(receiver.posts) == 1
    assert outbox.pending(["log", "webhook"]) == []
