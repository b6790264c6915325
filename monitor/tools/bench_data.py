"""The bench's cases and events: the event shapes ``monitor bench`` produces, and their baselines.

>>> events = bench_events(CASES["standard"], 2, now=1767225600.0)
>>> sum(isinstance(v, str) for v in events[0]["features"].values()), len(events[0]["features"])
(3, 13)
>>> events[0]["usage"].keys() == {"input_tokens", "output_tokens"}
True
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from monitor.contract.events import InferenceEvent
from monitor.contract.fields import to_json_event
from monitor.errors import MonitorError

__all__ = ["CASES", "EVENT_TIME_SPREAD", "BenchCase", "bench_events", "seed_baselines"]

EVENT_TIME_SPREAD = 180.0  # event times cover the last three minutes, all on time for the worker


@dataclass(frozen=True)
class BenchCase:
    """The shape of the events: how many numeric and categorical features each carries."""

    name: str
    numeric: int
    categorical: int
    note: str = ""


CASES = {
    "standard": BenchCase("standard", 10, 3),
    "drift": BenchCase("drift", 20, 5),
}
CATEGORIES = (
    ("web", "app", "email", "voice"),
    ("en", "es", "de", "fr", "ja"),
    ("billing", "shipping", "returns", "account", "tech_support"),
    ("free", "pro", "enterprise"),
    ("eu", "us", "apac"),
)


def bench_events(case: BenchCase, n: int, *, now: float, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` inference events with ``case``'s features, event times rising over the last 3 minutes."""
    rng = np.random.default_rng(seed)
    times = now - EVENT_TIME_SPREAD + np.linspace(0.0, EVENT_TIME_SPREAD - 5.0, n)
    numeric = np.round(rng.lognormal(1.0, 0.8, (n, case.numeric)), 4)
    picks = rng.integers(0, 1 << 16, (n, case.categorical))
    latency = np.round(rng.gamma(2.0, 300.0, n), 1)
    tokens = rng.poisson((120, 240), (n, 2))
    events = []
    for i in range(n):
        features: dict[str, Any] = {
            f"num_{j:02d}": float(numeric[i, j]) for j in range(case.numeric)
        }
        for j in range(case.categorical):
            values = CATEGORIES[j % len(CATEGORIES)]
            features[f"cat_{j}"] = values[picks[i, j] % len(values)]
        events.append(
            to_json_event(  # field names checked, token counts nested under usage
                InferenceEvent,
                {
                    "request_id": f"req-{i:09d}",
                    "timestamp": round(float(times[i]), 3),
                    "model": "support-assistant",
                    "model_version": ("v1", "v2")[i % 2],
                    "deployment": "production",
                    "features": features,
                    "latency_ms": float(latency[i]),
                    "input_tokens": int(tokens[i, 0]),
                    "output_tokens": int(tokens[i, 1]),
                    "score": round(float(numeric[i, 0]) / 10.0 % 1.0, 4),
                    "prediction": "resolved",
                    "conversation_id": f"conv-{i // 4:08d}",
                    "turn": i % 4 + 1,
                    "segment": {"region": features["cat_0"]},
                },
            )
        )
    return events


def seed_baselines(store_url: str, reference: list[dict[str, Any]], workdir: Path) -> None:
    """Baselines for every version of ``reference``, so the worker folds drift histograms from its
    first batch (steady state) instead of sampling for automatic baselines part-way through."""
    versions = sorted({(e["model"], e["model_version"]) for e in reference})
    for model, version in versions:
        path = workdir / f"reference-{version}.jsonl"
        path.write_bytes(
            b"\n".join(orjson.dumps(e) for e in reference if e["model_version"] == version)
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor",
                "baseline",
                "build",
                str(path),
                "--model",
                model,
                "--version",
                version,
            ],
            env={**os.environ, "MONITOR_CLICKHOUSE_URL": store_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise MonitorError(f"baseline for the bench failed: {done.stderr.strip()[-500:]}")
