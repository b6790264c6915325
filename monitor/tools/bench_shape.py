"""One case in one message shape measured by ``monitor bench``: its backlog produced to a fresh
topic, then the worker, bare Faust and bare aiokafka reading it in turns."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from monitor.adapters.local_broker import free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess, bench_environment, scrape_metric
from monitor.errors import MonitorError
from monitor.tools.bench_bare import (
    TIMEOUT,
    Measurement,
    measure_bare_aiokafka,
    measure_bare_faust,
)
from monitor.tools.bench_data import BenchCase, seed_baselines
from monitor.tools.bench_faust import BATCH_SIZE, BATCH_WITHIN
from monitor.tools.bench_results import ShapeResult
from monitor.wording import counted

__all__ = ["Echo", "measure_shape", "measure_worker", "padding_events"]

Echo = Callable[[str], None]


async def _produce(
    bootstrap: str,
    topic: str,
    events: list[dict[str, Any]],
    batch: int,
    echo: Echo,
    options: dict[str, Any] | None = None,
) -> int:
    chunk = max(len(events) // 10, batch)
    messages = 0
    async with EventProducer(
        bootstrap,
        topics={"inference": topic},
        batch_size=batch,
        validate=False,
        client_options=options,
    ) as producer:
        for start in range(0, len(events), chunk):
            report = await producer.send("inference", events[start : start + chunk])
            messages += report.messages
            echo(f"    produced {min(start + chunk, len(events)):>9,} / {len(events):,} events")
    return messages


def measure_worker(
    bootstrap: str,
    topics: dict[str, str],
    events: int,
    partitions: int,
    workdir: Path,
    echo: Echo,
    reference: list[dict[str, Any]] | None = None,
    tag: str = "",
) -> Measurement:
    """``monitor worker`` over the backlog: from the start of its first batch to the write with
    which it has written ``events`` events (``/health``: ``events_written``). ``tag`` tells its
    consumer group apart from other runs over the same topic."""
    env = {
        "MONITOR_KAFKA_BOOTSTRAP": bootstrap,
        "MONITOR_INFERENCE_TOPIC": topics["inference"],
        "MONITOR_FEEDBACK_TOPIC": topics["feedback"],
        "MONITOR_DLQ_TOPIC": topics["dlq"],
        "MONITOR_APP_ID": f"{topics['inference']}-worker{tag}",
        "MONITOR_PARTITIONS": str(partitions),
        "MONITOR_CLICKHOUSE_URL": f"chdb://{workdir / 'store'}",
        "MONITOR_SESSION_TIMEOUT": "6",
        # the leader's window jobs at their default pace (MONITOR_REFRESH_INTERVAL, 2 s), as deployed:
        # they share the store thread with ingest, so a faster refresh is paid for in throughput
        "MONITOR_BATCH_SIZE": str(BATCH_SIZE),
        "MONITOR_BATCH_WITHIN": str(BATCH_WITHIN),
    }
    if reference:
        seed_baselines(env["MONITOR_CLICKHOUSE_URL"], reference, workdir)
    worker = WorkerProcess(env, workdir / "worker.log", free_port(), base_env=bench_environment())
    try:
        worker.start()
        worker.wait_ready()
        deadline, next_scrape = time.monotonic() + TIMEOUT, time.monotonic()
        while time.monotonic() < deadline:
            # /health every 0.1 s, the metrics every 3 s (a scrape costs the worker CPU)
            health = worker.health()
            written = int(health.get("events_written") or 0)
            if written >= events:  # from its first batch's start to the write that counted them
                seconds = float(health["last_write_at"]) - float(health["first_batch_at"])
                return Measurement("worker", written, seconds)
            if time.monotonic() >= next_scrape:
                rejected = scrape_metric(worker.metrics_text(), "monitor_events_rejected_total")
                if rejected:
                    raise MonitorError(
                        f"the worker rejected {rejected:.0f} bench events; see {worker.log_path}"
                    )
                if written:
                    echo(f"    worker: {written:>9,} / {events:,} events")
                next_scrape += 3.0
            time.sleep(0.1)
        raise MonitorError(
            f"the worker did not process {events} events in {TIMEOUT:.0f} s; see {worker.log_path}"
        )
    finally:
        worker.stop()


def measure_shape(
    bootstrap: str,
    case: BenchCase,
    events: list[dict[str, Any]],
    batch: int,
    partitions: int,
    workdir: Path,
    echo: Echo,
    options: dict[str, Any] | None = None,
    repeat: int = 1,
    padding: list[dict[str, Any]] | None = None,
) -> ShapeResult:
    """``options``: TLS/SASL of the bench's own clients (the worker and bare Faust read MONITOR_KAFKA_*).
    ``repeat``: runs of each consumer over the same backlog; the result holds them all, its rates
    are their best. ``padding``: events produced after ``events`` and not counted, so that the
    batch in which a consumer counts the last of ``events`` is a full one, not one that waits for
    messages that never come (:func:`padding_events`)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}-{case.name}-b{batch}"
    topics = {
        "inference": f"{prefix}.inference",
        "feedback": f"{prefix}.feedback",
        "dlq": f"{prefix}.dlq",
    }
    messages = _produce_backlog(
        bootstrap, case, topics, events, batch, partitions, echo, options, padding
    )
    event_bytes = float(np.mean([len(orjson.dumps(e)) for e in events[:1000]]))
    shape_dir = workdir / prefix
    shape_dir.mkdir()
    measurements: list[Measurement] = []
    # the consumers in turns, so that a slower minute of the machine hits every one of them
    for run in range(repeat):
        tag = f"-{run}" if run else ""
        run_dir = shape_dir / f"run{run}" if run else shape_dir
        run_dir.mkdir(exist_ok=True)
        if repeat > 1:
            echo(f"    run {run + 1} of {repeat}")
        measurements += _measure_consumers(
            bootstrap, topics, events, partitions, run_dir, echo, options, tag
        )
    return ShapeResult(
        case.name, batch, len(events), messages, round(event_bytes, 1), tuple(measurements)
    )


def _produce_backlog(
    bootstrap: str,
    case: BenchCase,
    topics: dict[str, str],
    events: list[dict[str, Any]],
    batch: int,
    partitions: int,
    echo: Echo,
    options: dict[str, Any] | None,
    padding: list[dict[str, Any]] | None,
) -> int:
    """The shape's topics created, ``events`` then ``padding`` produced to its inference topic;
    the messages that carry ``events``."""
    asyncio.run(
        ensure_topics(
            bootstrap,
            {topics["inference"]: partitions, topics["feedback"]: partitions, topics["dlq"]: 1},
            options,
        )
    )
    echo(
        f"  {case.name}, {counted(batch, 'event')} a message: producing {len(events):,} events to {topics['inference']}"
    )
    messages = asyncio.run(_produce(bootstrap, topics["inference"], events, batch, echo, options))
    if padding:
        asyncio.run(
            _produce(bootstrap, topics["inference"], padding, batch, lambda _: None, options)
        )
    return messages


def _measure_consumers(
    bootstrap: str,
    topics: dict[str, str],
    events: list[dict[str, Any]],
    partitions: int,
    run_dir: Path,
    echo: Echo,
    options: dict[str, Any] | None,
    tag: str,
) -> list[Measurement]:
    """One run of the worker, bare Faust and bare aiokafka over the backlog of ``events``, in turns."""
    echo("    measuring worker (consume -> validate -> aggregate -> ClickHouse)")
    worker = measure_worker(
        bootstrap,
        topics,
        len(events),
        partitions,
        run_dir,
        echo,
        reference=events[:2000],
        tag=tag,
    )
    echo(f"    worker {worker.rate:,.0f} events/s; measuring bare Faust agent")
    bare_faust = measure_bare_faust(
        bootstrap, topics["inference"], len(events), partitions, run_dir, tag=tag
    )
    echo(f"    bare Faust {bare_faust.rate:,.0f} events/s; measuring bare aiokafka consumer")
    bare_aiokafka = asyncio.run(
        measure_bare_aiokafka(bootstrap, topics["inference"], len(events), options, tag=tag)
    )
    echo(f"    bare aiokafka {bare_aiokafka.rate:,.0f} events/s")
    return [worker, bare_faust, bare_aiokafka]


def padding_events(events: int, per_message: int) -> int:
    """Events to produce behind the ``events`` counted: two full batches of messages (a batch is
    ``BATCH_SIZE`` messages), at most ``events``.

    >>> padding_events(200_000, 100), padding_events(200_000, 1), padding_events(2_000, 50)
    (200000, 2000, 2000)
    """
    return min(2 * BATCH_SIZE * per_message, events)
