"""Small builders of valid events for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from monitor.adapters.reader import HttpReader
from monitor.adapters.worker_process import WorkerProcess
from monitor.errors import StoreError


def inference(request_id: str, timestamp: float, model: str = "m", version: str = "v1", **fields: Any) -> dict:
    return {"request_id": request_id, "timestamp": timestamp, "model": model, "model_version": version,
            "features": {"x": 1.0, "lang": "en"}, "latency_ms": 120.0, **fields}


def reader_for(worker: WorkerProcess) -> HttpReader:
    return HttpReader(worker.url, "monitor")


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, StoreError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[dict]:
    """Every record of ``topic`` decoded as JSON, once at least ``expected`` have arrived."""

    async def consume() -> list[dict]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        records: list[dict] = []
        try:
            deadline = time.monotonic() + timeout
            while len(records) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(orjson.loads(m.value) for m in messages)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(consume())
