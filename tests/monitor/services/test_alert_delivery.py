"""Durable alert delivery: a notification for a sink that is down survives a restart and reaches
the sink once, through a real HTTP receiver, embedded ClickHouse and (for two workers) Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests_support import Receiver

from monitor.adapters.alert_outbox import AlertOutbox
from monitor.adapters.alert_sinks import AlertDeduplicator, LogSink, WebhookSink, delivery_key
from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.alerts.state import Alert
from monitor.services.alert_delivery import AlertDelivery

ALERT = Alert.firing("takeover", "critical", "chat", "v2", 600.0, "too many takeovers")


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
