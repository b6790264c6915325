"""``monitor bench``: the worker's throughput against the limits of its stack, in one run.

Events are produced first, once as one event per message and once batched, each shape to its own
fresh topic. Then three consumers read the same backlog in turn:

- ``worker``: ``monitor worker`` end to end (consume, validate, aggregate, write to ClickHouse);
- ``bare_faust``: a Faust agent that only decodes (:mod:`monitor.tools.bench_faust`);
- ``bare_aiokafka``: an aiokafka consumer that only decodes.

Each rate counts from the first batch to the last, leaving out start-up and group join. The ratios
``worker / bare_faust`` and ``worker / bare_aiokafka`` say how close the worker is to its limits and
are steadier than the rates themselves.

The cases and their events are in :mod:`monitor.tools.bench_data`, the bare consumers in
:mod:`monitor.tools.bench_bare`.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess, bench_environment, scrape_metric
from monitor.errors import ConfigError, MonitorError
from monitor.settings import Settings
from monitor.tools.bench_bare import (
    TIMEOUT,
    Measurement,
    measure_bare_aiokafka,
    measure_bare_faust,
)
from monitor.tools.bench_data import CASES, BenchCase, bench_events, seed_baselines
from monitor.tools.bench_faust import BATCH_SIZE, BATCH_WITHIN
from monitor.tools.bench_latency import measure_alert_latency

__all__ = ["CONSUMERS", "ShapeResult", "main", "run_bench"]

CONSUMERS = ("worker", "bare_faust", "bare_aiokafka")
Echo = Callable[[str], None]


@dataclass(frozen=True)
class ShapeResult:
    """One case in one message shape: the three measurements over the same topic."""

    case: str
    events_per_message: int
    events: int
    messages: int
    event_bytes: float
    measurements: tuple[Measurement, ...] = field(default_factory=tuple)

    def rates(self, consumer: str) -> list[float]:
        """The consumer's rate in each run, in run order."""
        return [m.rate for m in self.measurements if m.consumer == consumer]

    def rate(self, consumer: str) -> float:
        """The best of the consumer's runs (one run: its rate). A run loses speed to other work on
        the machine and to the broker, never gains any: bare Faust runs over the same backlog took
        from 1.3 to 2.7 s, the slow ones with the process idle, waiting on fetches
        (docs/BENCHMARKS.md).

        >>> from monitor.tools.bench_bare import Measurement
        >>> ShapeResult("standard", 100, 10, 1, 500.0, (Measurement("worker", 10, 1.0),
        ...     Measurement("worker", 10, 2.0), Measurement("worker", 10, 0.1))).rate("worker")
        100.0
        """
        return max(self.rates(consumer))

    def median(self, consumer: str) -> float:
        """The median of the consumer's runs."""
        return float(np.median(self.rates(consumer)))

    @property
    def ratios(self) -> dict[str, float]:
        worker = self.rate("worker")
        return {
            "worker/bare_faust": worker / self.rate("bare_faust"),
            "worker/bare_aiokafka": worker / self.rate("bare_aiokafka"),
        }

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "measurements"}
        consumers = list(dict.fromkeys(m.consumer for m in self.measurements))
        out["rates"] = {c: round(self.rate(c), 1) for c in consumers}
        out["seconds"] = {c: round(self.events / self.rate(c), 6) for c in consumers}
        out["ratios"] = {k: round(v, 3) for k, v in self.ratios.items()}
        out["runs"] = {c: [round(r, 1) for r in self.rates(c)] for c in consumers}
        out["medians"] = {c: round(self.median(c), 1) for c in consumers}
        return out


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
    asyncio.run(
        ensure_topics(
            bootstrap,
            {topics["inference"]: partitions, topics["feedback"]: partitions, topics["dlq"]: 1},
            options,
        )
    )
    echo(
        f"  {case.name}, {batch} event(s)/message: producing {len(events):,} events to {topics['inference']}"
    )
    messages = asyncio.run(_produce(bootstrap, topics["inference"], events, batch, echo, options))
    if padding:
        asyncio.run(
            _produce(bootstrap, topics["inference"], padding, batch, lambda _: None, options)
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
        echo("    measuring worker (consume -> validate -> aggregate -> ClickHouse)")
        measurements.append(
            measure_worker(
                bootstrap,
                topics,
                len(events),
                partitions,
                run_dir,
                echo,
                reference=events[:2000],
                tag=tag,
            )
        )
        echo(f"    worker {measurements[-1].rate:,.0f} events/s; measuring bare Faust agent")
        measurements.append(
            measure_bare_faust(
                bootstrap, topics["inference"], len(events), partitions, run_dir, tag=tag
            )
        )
        echo(
            f"    bare Faust {measurements[-1].rate:,.0f} events/s; measuring bare aiokafka consumer"
        )
        measurements.append(
            asyncio.run(
                measure_bare_aiokafka(bootstrap, topics["inference"], len(events), options, tag=tag)
            )
        )
        echo(f"    bare aiokafka {measurements[-1].rate:,.0f} events/s")
    return ShapeResult(
        case.name, batch, len(events), messages, round(event_bytes, 1), tuple(measurements)
    )


def padding_events(events: int, per_message: int) -> int:
    """Events to produce behind the ``events`` counted: two full batches of messages (a batch is
    ``BATCH_SIZE`` messages), at most ``events``.

    >>> padding_events(200_000, 100), padding_events(200_000, 1), padding_events(2_000, 50)
    (200000, 2000, 2000)
    """
    return min(2 * BATCH_SIZE * per_message, events)


def format_table(results: list[ShapeResult]) -> str:
    """The results as a fixed-width table: rates in events/s, then the two ratios."""
    header = (
        f"{'case':<9} {'events/msg':>10} {'worker':>10} {'bare faust':>11} {'bare aiokafka':>14} "
        f"{'worker/faust':>13} {'worker/aiokafka':>16}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        ratios = r.ratios
        lines.append(
            f"{r.case:<9} {r.events_per_message:>10} {r.rate('worker'):>10,.0f} "
            f"{r.rate('bare_faust'):>11,.0f} {r.rate('bare_aiokafka'):>14,.0f} "
            f"{ratios['worker/bare_faust']:>13.2f} {ratios['worker/bare_aiokafka']:>16.2f}"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_bench(
    events: int = 200_000,
    batch: int = 100,
    output: Path | None = None,
    *,
    case: str = "standard",
    partitions: int = 2,
    bootstrap: str | None = None,
    echo: Echo | None = None,
    latency: bool = True,
    repeat: int = 1,
) -> int:
    """Run the bench for ``case`` (or ``"all"``) and print the table; 0 when every consumer finished.
    ``repeat`` runs each consumer that many times over each backlog, in turns, and reports the best."""
    say: Echo = echo or (lambda text: print(text, flush=True))
    if events < 1 or batch < 1 or partitions < 1 or repeat < 1:
        raise ConfigError(
            f"events {events}, batch {batch}, partitions {partitions} and repeat {repeat} must "
            "all be at least 1"
        )
    if case != "all" and case not in CASES:
        raise ConfigError(f"bench case {case!r} is not one of {', '.join([*CASES, 'all'])}")
    cases = list(CASES.values()) if case == "all" else [CASES[case]]
    bootstrap = bootstrap or os.environ.get("MONITOR_KAFKA_BOOTSTRAP")
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        workdir = Path(tmp)
        broker = None
        # your broker: the bench's clients use the same MONITOR_KAFKA_* security settings as the worker
        options = kafka_client_options(Settings()) if bootstrap else None
        if not bootstrap:
            broker = LocalBroker(log_path=workdir / "broker.log").start()
            bootstrap = broker.bootstrap
            say(f"local broker (Tansu, memory storage) on {bootstrap}")
        try:
            results = []
            for bench_case in cases:
                most = max(padding_events(events, shape) for shape in (1, batch))
                generated = bench_events(bench_case, events + most, now=time.time())
                for shape in (1, batch):
                    behind = generated[events : events + padding_events(events, shape)]
                    results.append(
                        measure_shape(
                            bootstrap,
                            bench_case,
                            generated[:events],
                            shape,
                            partitions,
                            workdir,
                            say,
                            options,
                            repeat,
                            padding=behind,
                        )
                    )
            alert_latency = None
            if latency:
                say("event -> alert latency")
                alert_latency = measure_alert_latency(
                    bootstrap, workdir, say, client_options=options
                )
        finally:
            if broker is not None:
                broker.stop()
    say("")
    say(format_table(results))
    if repeat > 1:
        say(
            f"rates and ratios: the best of {repeat} runs of each consumer (medians and every run "
            "in the JSON output)"
        )
    if alert_latency is not None:
        say(alert_latency.describe())
    for bench_case in cases:
        if bench_case.note:
            say(
                f"note: {bench_case.name} case ({bench_case.numeric} numeric + {bench_case.categorical} "
                f"categorical features): {bench_case.note}"
            )
    if output is not None:
        report = {
            "machine": machine(),
            "events": events,
            "partitions": partitions,
            "repeat": repeat,
            "results": [r.to_dict() for r in results],
            "alert_latency": alert_latency.to_dict() if alert_latency is not None else None,
        }
        Path(output).write_text(json.dumps(report, indent=2) + "\n")
        say(f"results written to {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m monitor.tools.bench --case drift``: the options ``monitor bench`` does not expose yet."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m monitor.tools.bench", description=main.__doc__)
    parser.add_argument(
        "--events", type=int, default=200_000, help="events to produce for each case"
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="events per message in the batched case"
    )
    parser.add_argument("--case", default="standard", choices=[*CASES, "all"])
    parser.add_argument("--partitions", type=int, default=2, help="partitions of each bench topic")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--no-latency", action="store_true", help="skip the event -> alert latency measurement"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each consumer per backlog; the best reported"
    )
    args = parser.parse_args(argv)
    return run_bench(
        events=args.events,
        batch=args.batch,
        output=args.output,
        case=args.case,
        partitions=args.partitions,
        latency=not args.no_latency,
        repeat=args.repeat,
    )


if __name__ == "__main__":
    sys.exit(main())
