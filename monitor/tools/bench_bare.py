"""The bench's bare consumers, the limits the worker is measured against, and what each reports.

- ``bare_faust``: a Faust agent that only decodes, in a child process (:mod:`monitor.tools.bench_faust`);
- ``bare_aiokafka``: an aiokafka consumer that only decodes, in this process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from monitor.adapters.child_process import stop_child
from monitor.errors import MonitorError
from monitor.tools.bench_faust import (
    BATCH_SIZE,
    BATCH_WITHIN,
    MAX_FETCH_BYTES,
    RESULT_PREFIX,
    count_events,
)

__all__ = ["TIMEOUT", "Measurement", "measure_bare_aiokafka", "measure_bare_faust"]

TIMEOUT = 300.0  # seconds a consumer may take to read one backlog


@dataclass(frozen=True)
class Measurement:
    consumer: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def measure_bare_faust(
    bootstrap: str, topic: str, events: int, partitions: int, workdir: Path, tag: str = ""
) -> Measurement:
    """A Faust agent that only decodes, in a child process (:mod:`monitor.tools.bench_faust`)."""
    log = workdir / "bare_faust.log"
    command = [
        sys.executable,
        "-m",
        "monitor.tools.bench_faust",
        bootstrap,
        topic,
        str(events),
        "--partitions",
        str(partitions),
        "--app-id",
        f"{topic}-faust{tag}",
    ]
    with open(log, "ab") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
        try:
            line = _read_result(process, TIMEOUT)
        finally:
            stop_child(process, 10)
    if not line:
        raise MonitorError(f"the bare Faust agent did not report {events} events; see {log}")
    result = orjson.loads(line)
    return Measurement("bare_faust", int(result["events"]), float(result["seconds"]))


def _read_result(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The JSON after ``RESULT_PREFIX`` on the child's stdout, or ``b""`` if none came in time."""
    import selectors

    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while selector.select(max(deadline - time.monotonic(), 0)):
            line = process.stdout.readline()
            if not line:
                break
            _, found, result = line.partition(RESULT_PREFIX.encode())  # after Faust's spinner codes
            if found:
                return result.strip()
    return b""


async def measure_bare_aiokafka(
    bootstrap: str,
    topic: str,
    events: int,
    options: dict[str, Any] | None = None,
    tag: str = "",
) -> Measurement:
    """An aiokafka consumer that only decodes: ``getmany`` and ``orjson.loads`` per message."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-aiokafka{tag}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_FETCH_BYTES,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        **(options or {}),
    )
    await consumer.start()
    try:
        counted, started = 0, 0.0
        deadline = time.monotonic() + TIMEOUT
        while counted < events:
            if time.monotonic() > deadline:
                raise MonitorError(
                    f"the bare aiokafka consumer read {counted} of {events} events in {TIMEOUT:.0f} s"
                )
            batches = await consumer.getmany(
                timeout_ms=int(BATCH_WITHIN * 1000), max_records=BATCH_SIZE
            )
            if batches and not started:
                started = time.perf_counter()
            counted += sum(
                count_events(record.value) for records in batches.values() for record in records
            )
        return Measurement("bare_aiokafka", counted, time.perf_counter() - started)
    finally:
        await consumer.stop()
