"""The pure core imports no client library: given numbers and events, it returns numbers and decisions."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "monitor.contract.events",
    "monitor.contract.decode",
    "monitor.contract.otel",
    "monitor.contract.timestamps",
    "monitor.folding.windows",
    "monitor.folding.partials",
    "monitor.folding.pipeline",
    "monitor.contract.dlq",
    "monitor.queries",
    "monitor.tools.simulator",
    "monitor.drift.baseline",
    "monitor.drift.text_features",
    "monitor.contract.records",
    "monitor.drift",
    "monitor.drift.windows",
    "monitor.outcomes",
    "monitor.outcomes.join",
    "monitor.detectors",
    "monitor.alerts",
    "monitor.alerts.evaluate",
]
CLIENTS = [
    "faust",
    "clickhouse_connect",
    "chdb",
    "redis",
    "prometheus_client",
    "aiokafka",
    "aiohttp",
]


def test_core_modules_import_no_client_library():
    code = (
        f"import importlib, sys\nfor m in {CORE!r}: importlib.import_module(m)\n"
        f"print(sorted(c for c in {CLIENTS!r} if c in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"the core pulled in: {done.stdout.strip()}"
