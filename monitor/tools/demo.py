"""``monitor demo``: a local broker, a worker and simulated traffic, with live progress."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

from monitor.adapters.broker_check import check_broker
from monitor.adapters.client_security import kafka_client_options
from monitor.adapters.local_broker import free_port, given_or_local_broker
from monitor.adapters.producer import EventProducer
from monitor.adapters.reader import HttpReader
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess
from monitor.errors import StoreError
from monitor.settings import Settings
from monitor.tools.cli_support import counted
from monitor.tools.demo_recap import (
    AlertFeed,
    experiment_lines,
    recap_lines,
    shadow_lines,
    version_rate_lines,
)
from monitor.tools.simulator import TrafficSimulator
from monitor.tools.terminal import terminal_text

__all__ = ["run_demo"]

TICK = 0.5


def _echo(text: str) -> None:
    print(text, flush=True)


class DemoProgress:
    """Prints one progress line every few seconds from the worker's metrics and the store."""

    def __init__(self, worker: WorkerProcess, reader: HttpReader) -> None:
        self.worker = worker
        self.reader = reader
        self.last = (time.monotonic(), 0.0)
        self.alerts = AlertFeed(reader)

    def line(self, sent: int, elapsed: float) -> str:
        try:
            text = self.worker.metrics_text()
        except OSError:
            return f"[{elapsed:5.0f}s] sent {counted(sent, 'event')}; worker not answering yet"
        from monitor.adapters.worker_process import scrape_metric

        processed = scrape_metric(text, "monitor_events_total")
        dlq = scrape_metric(text, "monitor_dlq_messages_total")
        now = time.monotonic()
        rate = (processed - self.last[1]) / max(now - self.last[0], 1e-9)
        self.last = (now, processed)
        try:
            windows = self.reader.query(
                f"SELECT count() FROM {self.reader.db}.metric_windows FINAL "
                "WHERE metric = 'inference_events'"
            ).rows[0][0]
        except StoreError:
            windows = "?"
        lines = [
            (
                f"[{elapsed:5.0f}s] sent {sent:>7}  processed {processed:>9.0f}  {rate:7.0f} events/s  "
                f"windows written {windows}  dead letters {dlq:.0f}"
            )
        ]
        lines += version_rate_lines(self.reader) + self.alerts.lines()
        return "\n".join(lines)

    def summary(self) -> list[str]:
        sql = (
            f"SELECT model_version, metric, sum(count) AS n FROM {self.reader.db}.metric_windows FINAL "
            "WHERE segment = '' AND endsWith(metric, '_events') GROUP BY model_version, metric "
            "ORDER BY model_version, metric"
        )
        try:
            rows = self.reader.query(sql).rows
        except StoreError as exc:
            return [terminal_text(f"(summary unavailable: {exc})")]
        return [
            terminal_text(f"  {version or '-':<6} {metric:<22} {n:>10.0f}")
            for version, metric, n in rows
        ]


async def _produce(
    sim: TrafficSimulator,
    producer: EventProducer,
    progress: DemoProgress,
    *,
    duration: float,
    rate: float,
    drift_at: float,
    stop: asyncio.Event,
) -> int:
    started = time.monotonic()
    sent, next_report, injected = 0, 2.0, False
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if duration and elapsed >= duration:
            break
        if duration and not injected and elapsed >= duration * drift_at:
            sim.drifted = injected = True
            _echo(
                f"[{elapsed:5.0f}s] >>> injecting drift into {sim.model} {sim.drift_version}: longer prompts, "
                "new languages and intents, lower satisfaction, more human takeovers"
            )
        now = time.time()
        inferences = sim.inferences(now, max(int(rate * TICK), 1))
        inferences += sim.shadow_answers(inferences)  # candidate v3 in shadow next to production v1
        await producer.send("inference", inferences)
        feedback = sim.due_feedback(now)
        if feedback:
            await producer.send("feedback", feedback)
        sent += len(inferences) + len(feedback)
        if elapsed >= next_report:
            _echo(await asyncio.to_thread(progress.line, sent, elapsed))
            next_report += 3.0
        try:
            await asyncio.wait_for(
                stop.wait(), timeout=max(TICK - (time.monotonic() - started - elapsed), 0.01)
            )
        except TimeoutError:
            pass
    return sent


def run_demo(*, duration: float, rate: float, window: str, drift_at: float, data_dir: Path) -> int:
    data_dir = _fresh_data_dir(data_dir)
    given = os.environ.get("MONITOR_KAFKA_BOOTSTRAP")
    # the local broker is stopped however the block ends: a bad setting, a worker that fails to start
    with given_or_local_broker(given, data_dir / "broker.log", _echo) as bootstrap:
        settings = _demo_settings(bootstrap, data_dir, window)
        worker = WorkerProcess(
            _worker_env(bootstrap, settings, window), data_dir / "worker.log", free_port()
        )
        try:
            recap = _demo_session(
                settings,
                bootstrap,
                worker,
                data_dir,
                duration=duration,
                rate=rate,
                window=window,
                drift_at=drift_at,
            )
        except KeyboardInterrupt:
            _echo("interrupted")
            recap = []
        finally:
            code = worker.stop()
    _echo(f"\nworker exited ({code}). Data: {data_dir / 'clickhouse'}")
    if recap:
        _echo("\nRecap")
        for line in recap:
            _echo(line)
    _echo_next_steps(data_dir)
    return 0 if code in (0, None) else 1  # a worker that failed: said above, and by the exit code


def _fresh_data_dir(data_dir: Path) -> Path:
    """``data_dir`` resolved and created, without the store of an earlier run."""
    data_dir = data_dir.resolve()
    store_dir = data_dir / "clickhouse"
    if (
        store_dir.exists()
    ):  # the local broker starts empty, so offsets recorded by an earlier run mean nothing
        _echo(f"removing the previous demo store {store_dir}")
        shutil.rmtree(store_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def _demo_settings(bootstrap: str, data_dir: Path, window: str) -> Settings:
    return Settings(
        kafka_bootstrap=bootstrap,
        clickhouse_url=f"chdb://{data_dir / 'clickhouse'}",
        window=window,
        partitions=2,
        session_timeout=6.0,
        refresh_interval=1.0,
        allowed_lateness="5s",
    )


def _worker_env(bootstrap: str, settings: Settings, window: str) -> dict[str, str]:
    """The demo worker's settings, as the environment of its process."""
    return {
        "MONITOR_KAFKA_BOOTSTRAP": bootstrap,
        "MONITOR_CLICKHOUSE_URL": settings.clickhouse_url,
        "MONITOR_WINDOW": window,
        "MONITOR_PARTITIONS": "2",
        "MONITOR_SESSION_TIMEOUT": "6",
        "MONITOR_REFRESH_INTERVAL": "1",
        "MONITOR_ALLOWED_LATENESS": "5s",
        "MONITOR_APP_ID": "llm-monitor-demo",
        "MONITOR_BASELINE_SAMPLES": "500",
    }


def _demo_session(
    settings: Settings,
    bootstrap: str,
    worker: WorkerProcess,
    data_dir: Path,
    *,
    duration: float,
    rate: float,
    window: str,
    drift_at: float,
) -> list[str]:
    """Topics, the worker, the simulated traffic and the worker catching up; the recap's lines."""
    _start_worker(settings, bootstrap, worker, data_dir)
    _echo(
        f"worker ready; simulating {rate:.0f} inferences/s of a support assistant (v1, v2), "
        f"window {window}" + (f", for {duration:.0f} s" if duration else ", Ctrl-C to stop")
    )
    progress = DemoProgress(
        worker, HttpReader(worker.url, "monitor", token=settings.web_token_value)
    )
    sent = asyncio.run(
        _run_traffic(settings, progress, duration=duration, rate=rate, drift_at=drift_at)
    )
    _echo(f"stopped producing after {counted(sent, 'event')}; letting the worker catch up")
    time.sleep(3)
    _echo("events per model version:")
    for line in progress.summary():
        _echo(line)
    for line in progress.alerts.lines():  # alerts decided while the worker caught up
        _echo(line)
    return _recap(progress.reader)


def _start_worker(
    settings: Settings, bootstrap: str, worker: WorkerProcess, data_dir: Path
) -> None:
    """The demo's topics, then the worker, waited for until it is ready."""
    asyncio.run(_demo_topics(settings, bootstrap))
    _echo(f"starting worker (log: {data_dir / 'worker.log'}, metrics: {worker.url}/metrics)")
    worker.start()
    worker.wait_ready()
    _echo(f"dashboard: {worker.url}/  (live while the demo runs)")


async def _demo_topics(settings: Settings, bootstrap: str) -> None:
    """The broker checked (a given one may not answer: one error line naming it), then the topics."""
    await check_broker(settings, bootstrap)
    await ensure_topics(
        bootstrap,
        {settings.inference_topic: 2, settings.feedback_topic: 2, settings.dlq_topic: 1},
        kafka_client_options(settings),
    )


def _recap(reader: HttpReader) -> list[str]:
    """What drifted and alerted, the A/B experiment and the shadow candidate, from the store."""
    return (
        recap_lines(reader)
        + ["A/B experiment (every version is an arm):"]
        + [f"  {line}" for line in experiment_lines(reader)]
        + ["Shadow candidate (v3 answers the requests of v1 in shadow):"]
        + [f"  {line}" for line in shadow_lines(reader)]
    )


def _echo_next_steps(data_dir: Path) -> None:
    url = f"chdb://{data_dir / 'clickhouse'}"
    _echo(
        "\nNext:\n"
        f"  export MONITOR_CLICKHOUSE_URL={url}\n"
        "  monitor query metrics --metric satisfaction            # rates with 95% intervals per window\n"
        "  monitor query drift --version v2                       # PSI per feature, and windows not scored\n"
        "  monitor alerts                                         # description, evidence, action, runbook\n"
        "  monitor experiment report --experiment support-assistant-versions   # v2 against v1, always valid\n"
        "  monitor shadow report --model support-assistant        # shadow v3 against production v1\n"
        "  monitor ui                                             # the dashboard on http://127.0.0.1:8050/\n"
        "  docker compose up -d  then http://127.0.0.1:3000       # Grafana dashboard of the production stack"
    )


async def _run_traffic(
    settings: Settings, progress: DemoProgress, *, duration: float, rate: float, drift_at: float
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    topics = {"inference": settings.inference_topic, "feedback": settings.feedback_topic}
    async with EventProducer(
        settings.kafka_bootstrap or "",
        topics=topics,
        batch_size=100,
        client_options=kafka_client_options(settings),
    ) as producer:
        return await _produce(
            TrafficSimulator(),
            producer,
            progress,
            duration=duration,
            rate=rate,
            drift_at=drift_at,
            stop=stop,
        )
