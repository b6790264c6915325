"""The batch's Prometheus bookkeeping counts what the fold counted, version by version."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry, Histogram

from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.folding.pipeline import BatchConfig, Position, RawMessage, process_batch
from streams.observe import record_batch_metrics

NOW = 1_767_225_600.0


def _inference(i: int, version: str, latency: float | None, **extra: object) -> dict:
    event = {"request_id": f"r{i}", "timestamp": NOW - 100 + i % 50, "model": "m"}
    event |= {"model_version": version, **extra}
    return event | ({"latency_ms": latency} if latency is not None else {})


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple, float]:
    return {
        (s.name, *sorted(s.labels.items())): s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


def test_inference_counts_and_latencies_are_those_of_the_counted_events() -> None:
    events = [_inference(i, f"v{i % 3}", None if i % 4 == 0 else 10.0 * i) for i in range(300)]
    events += [_inference(900, "v1", 5.0, deployment="shadow")]  # counted as shadow traffic only
    events += [_inference(901, "v2", 7.0) | {"timestamp": NOW - 10_000}]  # late: not counted
    messages = [
        RawMessage("inf", i % 2, i // 2, orjson.dumps(events[i : i + 40]), "inference")
        for i in range(0, len(events), 40)
    ]
    config = BatchConfig(60, 1000.0, 300.0, NOW, min_event_time=0)
    positions = {("inf", p): Position(-1, NOW - 200) for p in (0, 1)}
    out = process_batch(messages, positions, config)
    registry = CollectorRegistry()
    record_batch_metrics(MonitorMetrics(registry), out)

    expected_registry = CollectorRegistry()
    expected = MonitorMetrics(expected_registry)
    for event in events[:300]:  # the ones the fold counted, one observe each
        labels = expected.model_labels("m", event["model_version"])
        expected.inferences.labels(*labels).inc()
        if "latency_ms" in event:
            histogram: Histogram = expected.latency
            histogram.labels(*labels).observe(event["latency_ms"] / 1000)
    for name in (expected.inferences._name, expected.latency._name):
        got = _samples(registry, name)
        assert got == pytest.approx(_samples(expected_registry, name), rel=1e-12)
        assert got  # the batch was counted at all
    assert sum(out.tally.counts.values()) == 300
