"""`monitor bench`: event -> alert latency, from a window's events to its alert at a webhook.

A worker with a short window (``WINDOW`` s), ``LATENESS`` s of allowed lateness and a
``REFRESH`` s leader refresh receives live traffic (event time = now): a steady version with happy
users keeps every window's watermark moving, and in each of the measured windows a new version
``v<k>`` gets unhappy ratings, so one rule (satisfaction below 0.5) opens one incident per measured
window. The webhook sink posts to a receiver on loopback; for each alert the bench records

- **after close**: arrival minus the window's close (``window_end + LATENESS``), the time the
  worker needs once the window may be judged (at most about one refresh plus the batch delay);
- **after last event**: arrival minus the event time of the window's last event.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor.adapters.local_broker import free_port
from monitor.adapters.producer import EventProducer
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess, bench_environment
from monitor.errors import MonitorError

__all__ = ["LatencyResult", "measure_alert_latency"]

WINDOW, LATENESS, REFRESH = 10, 1.0, 0.5
RATE = 200  # events per second of the steady version; each measured version adds RATE / 4
RULES = """\
rules:
  - name: bench_satisfaction_low
    signal: metric
    severity: warning
    metric: satisfaction_rate
    condition: below
    threshold: 0.5
    min_samples: 20
    for_windows: 1
    cooldown_seconds: 0s
    description: Bench rule, satisfaction below one half.
"""


@dataclass(frozen=True)
class LatencyResult:
    windows: int  # alerts measured
    after_close_median: float
    after_close_max: float
    after_last_event_median: float
    window_seconds: int = WINDOW
    lateness_seconds: float = LATENESS
    refresh_seconds: float = REFRESH

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"event -> alert: {self.after_close_median:.2f} s after the window closed (median of "
            f"{self.windows}, max {self.after_close_max:.2f}; window {self.window_seconds} s, lateness "
            f"{self.lateness_seconds:g} s, refresh {self.refresh_seconds:g} s), "
            f"{self.after_last_event_median:.2f} s after the window's last event"
        )


class _Receiver:
    """Records the arrival time and model version of every alert posted to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrivals.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def first_arrival(self, version: str) -> float | None:
        times = [t for t, body in self.arrivals if body.get("model_version") == version]
        return min(times) if times else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pair(
    request_id: str, version: str, now: float, rating: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    inference = {
        "request_id": request_id,
        "timestamp": now,
        "model": "bench",
        "model_version": version,
        "latency_ms": 120.0,
        "features": {"x": 1.0},
    }
    return inference, {"request_id": request_id, "timestamp": now, "rating": rating}


async def _traffic(
    bootstrap: str, topics: Mapping[str, str], measured: int, first_window: float
) -> dict[str, float]:
    """Live traffic until the last measured window closed; the last event time of each measured version."""
    last: dict[str, float] = {}
    end = first_window + (measured + 1) * WINDOW + LATENESS + 1.0
    async with EventProducer(bootstrap, topics=dict(topics), batch_size=100) as producer:
        tick = 0
        while (now := time.time()) < end:
            k = int((now - first_window) // WINDOW)
            pairs = [_pair(f"s-{tick}-{i}", "steady", now, 5) for i in range(RATE // 10)]
            if 0 <= k < measured:
                version = f"v{k}"
                pairs += [
                    _pair(f"{version}-{tick}-{i}", version, now, 1) for i in range(RATE // 40)
                ]
                last[version] = now
            await producer.send("inference", [p[0] for p in pairs])
            await producer.send("feedback", [p[1] for p in pairs])
            tick += 1
            await asyncio.sleep(max(0.0, 0.1 - (time.time() - now)))
    return last


def measure_alert_latency(
    bootstrap: str,
    workdir: Path,
    echo: Callable[[str], None],
    *,
    measured: int = 3,
    client_options: Mapping[str, Any] | None = None,
) -> LatencyResult:
    """Start a worker with a webhook to a loopback receiver, send live traffic, time the alerts."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}-latency"
    topics = {k: f"{prefix}.{k}" for k in ("inference", "feedback", "dlq")}
    asyncio.run(
        ensure_topics(
            bootstrap,
            {topics["inference"]: 2, topics["feedback"]: 2, topics["dlq"]: 1},
            client_options,
        )
    )
    rules = workdir / f"{prefix}-rules.yaml"
    rules.write_text(RULES)
    receiver = _Receiver()
    env = {
        "MONITOR_KAFKA_BOOTSTRAP": bootstrap,
        "MONITOR_INFERENCE_TOPIC": topics["inference"],
        "MONITOR_FEEDBACK_TOPIC": topics["feedback"],
        "MONITOR_DLQ_TOPIC": topics["dlq"],
        "MONITOR_APP_ID": f"{prefix}-worker",
        "MONITOR_PARTITIONS": "2",
        "MONITOR_CLICKHOUSE_URL": f"chdb://{workdir / prefix}",
        "MONITOR_WINDOW": f"{WINDOW}s",
        "MONITOR_ALLOWED_LATENESS": f"{LATENESS}s",
        "MONITOR_REFRESH_INTERVAL": str(REFRESH),
        "MONITOR_BATCH_WITHIN": "0.1",
        "MONITOR_SESSION_TIMEOUT": "6",
        "MONITOR_ALERT_RULES": str(rules),
        "MONITOR_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/hook",
        "MONITOR_ALERTS_TO_KAFKA": "false",
        "MONITOR_EMBEDDER": "none",
    }
    worker = WorkerProcess(
        env, workdir / f"{prefix}-worker.log", free_port(), base_env=bench_environment()
    )
    try:
        worker.start()
        worker.wait_ready()
        first_window = (time.time() // WINDOW + 1) * WINDOW
        echo(f"    live traffic for {measured + 1} windows of {WINDOW} s; timing each alert")
        last = asyncio.run(_traffic(bootstrap, topics, measured, first_window))
        deadline = time.time() + 10 * REFRESH + 5
        while time.time() < deadline and any(receiver.first_arrival(v) is None for v in last):
            time.sleep(0.1)
    finally:
        worker.stop()
        receiver.close()
    return _result(receiver, last, first_window, worker.log_path)


def _result(
    receiver: _Receiver, last: Mapping[str, float], first_window: float, log: Path
) -> LatencyResult:
    after_close, after_last = [], []
    for version, last_event in sorted(last.items()):
        arrival = receiver.first_arrival(version)
        if arrival is None:
            raise MonitorError(f"no alert for bench version {version} arrived; see {log}")
        k = int(version[1:])
        close = first_window + (k + 1) * WINDOW + LATENESS
        after_close.append(arrival - close)
        after_last.append(arrival - last_event)
    return LatencyResult(
        len(after_close),
        statistics.median(after_close),
        max(after_close),
        statistics.median(after_last),
    )
