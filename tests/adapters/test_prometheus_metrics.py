"""Series of model versions that stopped sending are removed after MONITOR_METRICS_VERSION_TTL."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from monitor.adapters.prometheus_metrics import OTHER, MonitorMetrics


def test_idle_versions_lose_every_series_and_their_label_slot() -> None:
    m = MonitorMetrics(CollectorRegistry(), max_model_labels=2)
    old, live = m.model_labels("chat", "v1", now=0.0), m.model_labels("chat", "v2", now=0.0)
    for labels in (old, live):
        m.drift_psi.labels(*labels, "x").set(0.4)
        m.inferences.labels(*labels).inc(5)
        m.latency.labels(*labels).observe(0.2)
    assert m.model_labels("chat", "v3", now=10.0) == (OTHER, OTHER)  # the cap is reached
    m.model_labels("chat", "v2", now=3000.0)  # v2 keeps sending
    assert m.forget_idle_versions(now=3700.0, ttl_seconds=3600) == [("chat", "v1")]
    get = m.registry.get_sample_value
    assert (
        get("monitor_drift_psi", {"model": "chat", "model_version": "v1", "feature": "x"}) is None
    )
    assert get("monitor_inferences_total", {"model": "chat", "model_version": "v1"}) is None
    assert (
        get("monitor_inference_latency_seconds_count", {"model": "chat", "model_version": "v1"})
        is None
    )
    assert get("monitor_drift_psi", {"model": "chat", "model_version": "v2", "feature": "x"}) == 0.4
    assert m.model_labels("chat", "v3", now=3700.0) == ("chat", "v3")  # the freed slot is reused


def test_the_watermark_is_a_timestamp_gauge() -> None:
    m = MonitorMetrics(CollectorRegistry())
    m.watermark.set(1_767_225_600)
    assert m.registry.get_sample_value("monitor_watermark_timestamp_seconds") == 1_767_225_600
