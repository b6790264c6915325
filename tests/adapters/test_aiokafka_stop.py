"""A consumer whose broker went away stops without raising, also when its fetch was waiting out
the retry back-off (aiokafka 0.14 raised that fetch's CancelledError out of ``stop()``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer.fetcher import Fetcher

from monitor.adapters.aiokafka_stop import finish_cancelled, patch_fetcher_close
from monitor.adapters.local_broker import LocalBroker
from monitor.adapters.topics import ensure_topics

BACKOFF = 5.0  # long, so the stop surely comes while the failed fetch sleeps


async def stop_after_failed_fetch(broker: LocalBroker, caplog: pytest.LogCaptureFixture) -> None:
    await ensure_topics(broker.bootstrap, {"gone": 1})
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, retry_backoff_ms=int(BACKOFF * 1000)
    )
    await consumer.start()
    tp = TopicPartition("gone", 0)
    consumer.assign([tp])
    deadline = time.monotonic() + 20
    while consumer.last_poll_timestamp(tp) is None and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200)  # a first fetch answered
    broker.kill()  # at once: a graceful stop waits for our connection, the event loop held
    while "Failed fetch messages" not in caplog.text and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert "Failed fetch messages" in caplog.text  # the fetch now sleeps BACKOFF seconds
    started = time.monotonic()
    await consumer.stop()
    assert time.monotonic() - started < BACKOFF


@pytest.fixture()
def patched() -> Iterator[None]:
    """``Fetcher.close`` patched for one test (twice: it is idempotent), as the worker does."""
    original = Fetcher.close
    patch_fetcher_close()
    patch_fetcher_close()
    yield
    Fetcher.close = original


def test_a_consumer_stops_while_its_failed_fetch_backs_off(
    patched: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="aiokafka")
    broker = LocalBroker(log_path=tmp_path / "broker.log").start()
    try:
        asyncio.run(stop_after_failed_fetch(broker, caplog))
    finally:
        broker.stop()


async def fetch(cleaned: list[str]) -> None:
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(0.2)  # a clean-up that takes a while
        cleaned.append("done")


def test_finish_cancelled_waits_for_the_clean_ups_without_raising_their_cancellation() -> None:
    async def scenario() -> list[str]:
        cleaned: list[str] = []
        tasks = [asyncio.ensure_future(fetch(cleaned)) for _ in range(3)]
        await asyncio.sleep(0)
        await finish_cancelled(tasks)
        return cleaned

    assert asyncio.run(scenario()) == ["done"] * 3


def test_finish_cancelled_that_is_itself_cancelled_is_cancelled() -> None:
    async def scenario() -> None:
        tasks = [asyncio.ensure_future(fetch([]))]
        await asyncio.sleep(0)
        stop = asyncio.ensure_future(finish_cancelled(tasks))
        await asyncio.sleep(0.05)  # inside the clean-up
        stop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stop

    asyncio.run(scenario())
