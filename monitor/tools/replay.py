"""Publish a JSONL file of events at a given rate, decoded exactly as the topics decode messages.

Each line is one message as a producer would send it: an event, a JSON array of events, an
OpenTelemetry GenAI event or an OTLP/JSON logs envelope (:func:`monitor.contract.decode.decode_message`).
Accepted events are published contract-shaped; every rejection keeps the file's line number.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.adapters.broker_check import check_broker
from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.producer import EventProducer
from monitor.contract.decode import DecodedMessage, Rejection, decode_message
from monitor.settings import Settings

__all__ = ["LineRejection", "ReplayReport", "decode_file", "replay_file"]


@dataclass(frozen=True, slots=True)
class LineRejection:
    """A rejection at ``line`` (1-based) of the file; ``rejection.index`` is the element in that line."""

    line: int
    rejection: Rejection

    def describe(self) -> str:
        r = self.rejection
        where = f"line {self.line}" + (f", element {r.index}" if r.index > 0 else "")
        return f"{where}: {r.reason}: {r.message}"


@dataclass(slots=True)
class ReplayReport:
    lines: int = 0
    sent: int = 0
    messages: int = 0
    rejected: list[LineRejection] = field(default_factory=list)


def decode_file(
    path: Path, kind: str, *, now: float, max_bytes: int, max_future_skew: float
) -> Iterator[tuple[int, DecodedMessage]]:
    """(line number, decoded message) of every non-blank line of a JSONL file."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield (
                    number,
                    decode_message(
                        line.rstrip(b"\r\n"),
                        kind,
                        now=now,
                        max_bytes=max_bytes,
                        max_future_skew=max_future_skew,
                    ),
                )


async def replay_file(
    settings: Settings, path: Path, kind: str, *, rate: float = 0.0, batch_size: int = 100
) -> ReplayReport:
    topics = {"inference": settings.inference_topic, "feedback": settings.feedback_topic}
    report = ReplayReport()
    chunk = batch_size * 10
    await check_broker(settings)  # one line naming the address, not aiokafka's traceback
    started = time.monotonic()
    async with EventProducer(
        settings.kafka_bootstrap or "",
        topics=topics,
        batch_size=batch_size,
        max_future_skew=settings.max_future_skew_seconds,
        client_options=kafka_client_options(settings),
    ) as producer:
        objects: list[Any] = []
        for number, decoded in decode_file(
            path,
            kind,
            now=time.time(),
            max_bytes=settings.max_message_bytes,
            max_future_skew=settings.max_future_skew_seconds,
        ):
            report.lines += 1
            report.rejected += [LineRejection(number, r) for r in decoded.rejections]
            objects += decoded.objects
            if len(objects) >= chunk:
                await _send(producer, kind, objects, report, rate, started)
                objects = []
        if objects:
            await _send(producer, kind, objects, report, rate, started)
    return report


async def _send(
    producer: EventProducer,
    kind: str,
    objects: list[Any],
    report: ReplayReport,
    rate: float,
    started: float,
) -> None:
    sent = await producer.send(kind, objects)
    report.sent += sent.sent
    report.messages += sent.messages
    if rate > 0:
        ahead = report.sent / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
