"""Publish a JSONL file of events at a given rate, decoded exactly as the topics decode messages.

Each line is one message as a producer would send it: an event, a JSON array of events, an
OpenTelemetry GenAI event or an OTLP/JSON logs envelope (:func:`monitor.contract.decode.decode_message`).
Accepted events are published contract-shaped; every rejection keeps the file's line number.
With ``raw``, each line is sent as it is, neither decoded nor checked (to see what the workers do
with a bad message: docs/events.md, "Try a bad message").
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from aiokafka.errors import KafkaError

from monitor.adapters.broker_check import check_broker
from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.delivery import DELIVERY_TIMEOUT
from monitor.adapters.producer import EventProducer
from monitor.contract.checks import WORKER_CLOCK
from monitor.contract.decode import DecodedMessage, Rejection, decode_message
from monitor.contract.reasons import FUTURE_TIMESTAMP, OVERSIZED
from monitor.errors import BrokerError
from monitor.redact import mask_url
from monitor.settings import Settings

__all__ = [
    "LineRejection",
    "Progress",
    "ReplayReport",
    "Terminated",
    "decode_file",
    "raw_key",
    "replay_file",
    "stop_on_sigterm",
]

T = TypeVar("T")
LOCAL_CLOCK = "this machine's clock"  # the one a replay checks event times by


class Terminated(Exception):
    """SIGTERM (``kill``, systemd, Kubernetes) stopped the run, the way Ctrl-C stops it."""


@dataclass(frozen=True, slots=True)
class LineRejection:
    """A rejection at ``line`` (1-based) of the file; ``rejection.index`` is the element in that line."""

    line: int
    rejection: Rejection

    def describe(self) -> str:
        """Where and why, a time in the future measured by this machine's clock (the replay's check;
        the workers check again by theirs).

        >>> ahead = Rejection("future_timestamp", "timestamp", "600 s ahead of the worker clock "
        ...                   "(at most 300 s)", 0, b"")
        >>> LineRejection(3, ahead).describe()
        "line 3: future_timestamp: timestamp: 600 s ahead of this machine's clock (at most 300 s)"
        """
        r = self.rejection
        where = f"line {self.line}" + (f", element {r.index}" if r.index > 0 else "")
        message = r.message
        if r.reason == FUTURE_TIMESTAMP:
            message = message.replace(WORKER_CLOCK, LOCAL_CLOCK)
        return f"{where}: {r.reason}: {message}"


@dataclass(slots=True)
class ReplayReport:
    lines: int = 0
    sent: int = 0  # events the broker confirmed
    messages: int = 0
    rejected: list[LineRejection] = field(default_factory=list)
    through_line: int = 0  # every event of the file up to this line (1-based) was confirmed
    through_byte: int = 0  # ... and up to this byte of the file
    file_bytes: int = 0

    def progress_line(self, elapsed: float) -> str:
        """Where a running replay is, for a person watching it.

        >>> r = ReplayReport(sent=5000, through_line=5000, through_byte=250_000, file_bytes=1_000_000)
        >>> r.progress_line(10.0)
        'sent 5,000 events through line 5,000 (25 % of the file), 500 events/s, about 30 s left'
        """
        done = self.through_byte / self.file_bytes if self.file_bytes else 1.0
        rate = self.sent / elapsed if elapsed > 0 else 0.0
        left = elapsed * (1 - done) / done if done > 0 else None
        eta = f", about {left:,.0f} s left" if left is not None and done < 1 else ""
        return (
            f"sent {self.sent:,} events through line {self.through_line:,} "
            f"({100 * done:.0f} % of the file), {rate:,.0f} events/s{eta}"
        )

    def progress(self, path: Path) -> str:
        """How far the replay got, for a run cut short: what to replay again."""
        return (
            f"{self.sent} events of {path} were sent, through line {self.through_line}; replay the "
            f"lines after it (an inference sent twice counts once, see docs/events.md)"
        )


def decode_file(
    path: Path, kind: str, *, now: float, max_bytes: int, max_future_skew: float
) -> Iterator[tuple[int, DecodedMessage, int]]:
    """(line number, decoded message, byte offset after the line) of every non-blank line of a
    JSONL file."""
    end = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            end += len(line)
            if line.strip():
                decoded = decode_message(
                    line.rstrip(b"\r\n"),
                    kind,
                    now=now,
                    max_bytes=max_bytes,
                    max_future_skew=max_future_skew,
                )
                yield number, decoded, end


async def replay_file(
    settings: Settings,
    path: Path,
    kind: str,
    *,
    rate: float = 0.0,
    batch_size: int = 100,
    delivery_timeout: float = DELIVERY_TIMEOUT,
    report: ReplayReport | None = None,
    progress: Progress | None = None,
    raw: bool = False,
) -> ReplayReport:
    """Publish ``path``; ``report`` (a new one if None) says how far it got, also when the run is
    cut short, and ``progress`` sees it every so often. A broker that confirms nothing for
    ``delivery_timeout`` seconds stops the replay with :class:`BrokerError` saying what was sent.
    With ``raw``, each non-blank line is one message, unchecked (:func:`_replay_raw`)."""
    report = report if report is not None else ReplayReport()
    report.file_bytes = path.stat().st_size
    await check_broker(settings)  # one line naming the address, not aiokafka's traceback
    try:
        if raw:
            await _replay_raw(settings, path, kind, rate, delivery_timeout, report)
        else:
            await _replay(
                settings, path, kind, rate, batch_size, delivery_timeout, report, progress
            )
    except KafkaError as exc:
        where = mask_url(settings.kafka_bootstrap or "")
        raise BrokerError(
            f"the Kafka broker at {where} refused a message or confirmed none for "
            f"{delivery_timeout:g} s ({type(exc).__name__}): {report.progress(path)}"
        ) from exc
    return report


async def stop_on_sigterm(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``; SIGTERM cancels it as Ctrl-C does (the producer closes as on Ctrl-C), then
    raises :class:`Terminated`. For the main thread, where signal handlers run."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        this = asyncio.current_task()
        if this is not None and this.cancelling():  # Ctrl-C: asyncio.run raises KeyboardInterrupt
            raise
        raise Terminated from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@dataclass(slots=True)
class Progress:
    """Calls ``show`` with the report at most every ``every`` seconds of a replay."""

    show: Callable[[ReplayReport, float], None]  # the report and the seconds since the start
    every: float = 10.0
    _shown_at: float = 0.0

    def tick(self, report: ReplayReport, elapsed: float) -> None:
        if elapsed - self._shown_at >= self.every:
            self._shown_at = elapsed
            self.show(report, elapsed)


async def _replay(
    settings: Settings,
    path: Path,
    kind: str,
    rate: float,
    batch_size: int,
    delivery_timeout: float,
    report: ReplayReport,
    progress: Progress | None,
) -> None:
    topics = {"inference": settings.inference_topic, "feedback": settings.feedback_topic}
    chunk = batch_size * 10
    started = time.monotonic()
    async with EventProducer(
        settings.kafka_bootstrap or "",
        topics=topics,
        batch_size=batch_size,
        max_future_skew=settings.max_future_skew_seconds,
        client_options=kafka_client_options(settings),
        delivery_timeout=delivery_timeout,
    ) as producer:
        objects: list[Any] = []
        number = end = 0
        for number, decoded, end in decode_file(
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
                await _send(producer, kind, objects, (number, end), report, rate, started)
                objects = []
                if progress is not None:
                    progress.tick(report, time.monotonic() - started)
        await _send(producer, kind, objects, (number, end), report, rate, started)


def raw_key(line: bytes) -> bytes | None:
    """The key :class:`EventProducer` would give the line: its first event's ``request_id``, or
    None when the line has none to read (the broker then picks the partition).

    >>> raw_key(b'[{"request_id": "r1", "rating": 7}, {"request_id": "r2"}]'), raw_key(b"{not json")
    (b'r1', None)
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    first = value[0] if isinstance(value, list) and value else value
    request_id = first.get("request_id") if isinstance(first, dict) else None
    return request_id.encode() if isinstance(request_id, str) else None


async def _replay_raw(
    settings: Settings,
    path: Path,
    kind: str,
    rate: float,
    delivery_timeout: float,
    report: ReplayReport,
) -> None:
    """Each non-blank line (its line break cut) as one message, its bytes as they are, each
    confirmed before the next; ``report.sent`` and ``report.messages`` count messages. A line no
    Kafka request of the producer can hold is rejected (``oversized``) and the rest goes on."""
    topic = {"inference": settings.inference_topic, "feedback": settings.feedback_topic}[kind]
    started = time.monotonic()
    async with EventProducer(
        settings.kafka_bootstrap or "",
        client_options=kafka_client_options(settings),
        delivery_timeout=delivery_timeout,
    ) as producer:
        end = 0
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                end += len(line)
                if line.strip():
                    report.lines += 1
                    value = line.rstrip(b"\r\n")
                    key = raw_key(value)
                    if len(value) + len(key or b"") > producer.max_request_size - RAW_OVERHEAD:
                        report.rejected.append(_unsendable(number, value, producer))
                        continue
                    await producer.send_raw(topic, value, key=key)
                    report.sent += 1
                    report.messages += 1
                report.through_line, report.through_byte = number, end
                ahead = report.sent / rate - (time.monotonic() - started) if rate > 0 else 0.0
                if ahead > 0:
                    await asyncio.sleep(ahead)


# Bytes of a produce request besides the record's key and value (headers, batch and record framing).
RAW_OVERHEAD = 1_024


def _unsendable(line: int, value: bytes, producer: EventProducer) -> LineRejection:
    """A line too large for any Kafka request of ``producer``: not sent (a worker would reject it as
    ``oversized`` past MONITOR_MAX_MESSAGE_BYTES anyway, docs/events.md)."""
    most = producer.max_request_size - RAW_OVERHEAD
    detail = f"line is {len(value):,} bytes, more than a Kafka message sent from here may be ({most:,}): not sent"
    return LineRejection(line, Rejection(OVERSIZED, "", detail, -1, b""))


async def _send(
    producer: EventProducer,
    kind: str,
    objects: list[Any],
    through: tuple[int, int],
    report: ReplayReport,
    rate: float,
    started: float,
) -> None:
    """Send the events of the lines up to ``through`` (line, byte after it) and wait for their
    confirmation, then as long as ``rate`` asks."""
    if objects:
        sent = await producer.send(kind, objects)
        report.sent += sent.sent
        report.messages += sent.messages
    report.through_line, report.through_byte = through
    if rate > 0:
        ahead = report.sent / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
