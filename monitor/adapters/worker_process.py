"""Run ``monitor worker`` as a child process (demo, benchmark, end-to-end tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.adapters.child_process import stop_child
from monitor.errors import MonitorError

__all__ = ["INGEST_READY", "WorkerProcess", "bench_environment", "scrape_metric"]


def scrape_metric(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples of ``name`` (matching ``labels``) in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if labels and not all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            continue
        total += float(value)
    return total


# What a bench worker takes from the environment: how to reach the broker, and the embedder; nothing
# that would write into a deployment's services (Redis keys, alert sinks, a ClickHouse server).
INHERITED_SETTINGS = ("MONITOR_KAFKA_", "MONITOR_EMBEDDER", "MONITOR_EMBEDDING_")


def bench_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without its ``MONITOR_`` settings but the inherited ones.

    >>> bench_environment({"PATH": "/bin", "MONITOR_REDIS_URL": "redis://prod", "MONITOR_KAFKA_SASL_USERNAME": "u"})
    {'PATH': '/bin', 'MONITOR_KAFKA_SASL_USERNAME': 'u'}
    """
    environ = os.environ if environ is None else environ
    return {
        k: v
        for k, v in environ.items()
        if not k.startswith("MONITOR_") or k.startswith(INHERITED_SETTINGS)
    }


# Logged by the worker's source consumer once its group assigned it partitions (none is an answer too).
INGEST_READY = "ingest consumer assigned"


class WorkerProcess:
    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        web_port: int,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        """``env`` over ``base_env`` (default: this process's environment)."""
        base = os.environ if base_env is None else base_env
        self.env = {**base, **env, "MONITOR_WEB_PORT": str(web_port)}
        self.log_path = log_path
        self.web_port = web_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, loglevel: str = "info") -> WorkerProcess:
        # The worker keeps its own copy of the log descriptor; ours closes once it has started.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "worker", "--loglevel", loglevel],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            return response.read().decode()

    def health(self) -> dict[str, Any]:
        """The worker's ``/health`` body (also when it answers 503)."""
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
        return dict(json.loads(body))

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return scrape_metric(self.metrics_text(), name, labels)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until the worker has joined its groups: Faust's, and its source consumer's."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise MonitorError(
                    f"worker exited with {self.process and self.process.returncode}; see {self.log_path}"
                )
            text = self.log_path.read_bytes()
            if b"Worker ready" in text and INGEST_READY.encode() in text:
                return
            time.sleep(0.3)
        raise MonitorError(f"worker not ready within {timeout:.0f} s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        return stop_child(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (crash test)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
