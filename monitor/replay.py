"""Publish a JSONL file of events at a given rate."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson

from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.producer import EventProducer, SendReport
from monitor.decode import Rejection
from monitor.settings import Settings

__all__ = ["replay_file"]


async def replay_file(settings: Settings, path: Path, kind: str, *, rate: float = 0.0,
                      batch_size: int = 100) -> SendReport:
    topics = {"inference": settings.inference_topic, "feedback": settings.feedback_topic}
    total = SendReport()
    chunk = batch_size * 10
    started = time.monotonic()
    async with EventProducer(settings.kafka_bootstrap or "", topics=topics, batch_size=batch_size,
                             max_future_skew=settings.max_future_skew_seconds,
                             client_options=kafka_client_options(settings)) as producer:
        events: list = []
        with path.open("rb") as lines:
            for number, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    events.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    total.rejected.append(Rejection("undecodable", "", f"not JSON: {exc}", number, line))
                    continue
                if len(events) >= chunk:
                    await _send(producer, kind, events, total, rate, started)
                    events = []
        if events:
            await _send(producer, kind, events, total, rate, started)
    return total


async def _send(producer: EventProducer, kind: str, events: list, total: SendReport, rate: float,
                started: float) -> None:
    report = await producer.send(kind, events)
    total.sent += report.sent
    total.messages += report.messages
    total.rejected += report.rejected
    if rate > 0:
        ahead = total.sent / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
