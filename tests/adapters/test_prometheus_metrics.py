"""Series of model versions that stopped sending are removed after MONITOR_METRICS_VERSION_TTL;
the watermark, bulk histogram observation, experiment and shadow reports are exported as
documented, and a report value that becomes undefined, or an experiment metric, experiment or
shadow comparison no longer reported, leaves no stale series."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from prometheus_client import CollectorRegistry

from monitor.adapters.prometheus_metrics import OTHER, MonitorMetrics
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.decision import DECISIONS
from monitor.experiments.report import ArmKey, ExperimentSummary, MetricRow, experiment_report
from monitor.experiments.stats import Moments
from monitor.shadow.fold import ShadowSums
from monitor.shadow.report import shadow_report


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


def test_observe_many_exports_what_observe_per_value_does() -> None:
    """Bulk observation fills every bucket, the count and the sum as one observe per value would
    (values on a bound land in it, ``le`` is inclusive; NaN and infinities are left out)."""
    from prometheus_client import Histogram

    from monitor.adapters.prometheus_metrics import observe_many

    values = [*np.random.default_rng(3).gamma(2.0, 0.6, 500).tolist(), 0.05, 1.0, 32.0, 40.0]
    bulk, single = CollectorRegistry(), CollectorRegistry()
    buckets = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)
    for registry in (bulk, single):
        Histogram("lat_seconds", "x", ["m"], registry=registry, buckets=buckets)
    bulk_h = bulk._names_to_collectors["lat_seconds"]
    single_h = single._names_to_collectors["lat_seconds"]
    observe_many(bulk_h.labels("a"), [*values, float("nan"), float("inf")])
    for value in values:
        single_h.labels("a").observe(value)

    def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels.get("le", "")): s.value
            for metric in registry.collect()
            for s in metric.samples
            if not s.name.endswith("_created")
        }

    got, expected = samples(bulk), samples(single)
    assert (
        got.keys() == expected.keys() and len(got) == len(buckets) + 3
    )  # buckets, +Inf, count, sum
    sum_key = ("lat_seconds_sum", "")
    assert {k: v for k, v in got.items() if k != sum_key} == {
        k: v for k, v in expected.items() if k != sum_key
    }
    assert abs(got[("lat_seconds_sum", "")] - expected[("lat_seconds_sum", "")]) < 1e-9
    assert got[("lat_seconds_bucket", "0.05")] >= 1  # the value on the bound is in it


def experiment_rows(
    latency_units: int = 1, name: str = "prompt-v3", without: tuple[ArmKey, ...] = ()
) -> tuple[list[MetricRow], ExperimentSummary]:
    """A real report: task completion for everyone and for country=de, and a latency with
    ``latency_units`` units per arm; with one (800 ms in each) it has no interval (NaN ends).
    The arms in ``without`` have no data."""
    rng = np.random.default_rng(1)
    spec = ExperimentSpec(
        name, None, "a", "b", guardrails=(), metrics=("latency_ms",), segments=("country",)
    )
    arms = {
        ("a", "task_completion", ""): Moments.of(rng.binomial(1, 0.60, 6000)),
        ("b", "task_completion", ""): Moments.of(rng.binomial(1, 0.66, 6000)),
        ("a", "task_completion", "country=de"): Moments.of(rng.binomial(1, 0.60, 600)),
        ("b", "task_completion", "country=de"): Moments.of(rng.binomial(1, 0.70, 600)),
    }
    for variant, mean in (("a", 800.0), ("b", 820.0)):
        latency = rng.normal(mean, 50.0, latency_units) if latency_units > 1 else np.array([800.0])
        arms[(variant, "latency_ms", "")] = Moments.of(latency)
    for arm in without:
        del arms[arm]
    return experiment_report(spec, arms, {"a": 6000, "b": 6100})


def test_an_experiment_report_is_exported_without_segments_or_nan_values() -> None:
    """Assignments, the SRM p-value, one decision set to 1 and the all-traffic rows are exported;
    segment rows and NaN values leave no series."""
    rows, summary = experiment_rows()
    everyone, country, latency = rows
    assert (everyone.segment, country.segment, latency.metric) == ("", "country=de", "latency_ms")
    assert country.diff != everyone.diff and np.isnan(latency.ci_low) and np.isnan(latency.ci_high)

    m = MonitorMetrics(CollectorRegistry())
    m.experiments.set_report(rows, summary)

    def get(name: str, **labels: str) -> float | None:
        return m.registry.get_sample_value(name, {"experiment": "prompt-v3", **labels})

    assert get("monitor_experiment_assigned", variant="a") == 6000
    assert get("monitor_experiment_assigned", variant="b") == 6100
    assert get("monitor_experiment_srm_p_value") == summary.srm_sequential_p_value
    assert summary.decision == "ship"
    decisions = {d: get("monitor_experiment_decision", decision=d) for d in DECISIONS}
    assert decisions == {"ship": 1.0, "stop": 0.0, "continue": 0.0, "invalid": 0.0}
    completion = {"metric": "task_completion"}
    assert get("monitor_experiment_diff", **completion) == everyone.diff  # not the segment's
    assert get("monitor_experiment_ci_low", **completion) == everyone.ci_low
    assert get("monitor_experiment_ci_high", **completion) == everyone.ci_high
    assert get("monitor_experiment_p_value", **completion) == everyone.p_value
    assert get("monitor_experiment_diff", metric="latency_ms") == 0.0
    assert get("monitor_experiment_p_value", metric="latency_ms") == 1.0
    assert get("monitor_experiment_ci_low", metric="latency_ms") is None
    assert get("monitor_experiment_ci_high", metric="latency_ms") is None

    m.experiments.set_report(rows, replace(summary, decision="stop"))  # the next report's decision
    assert get("monitor_experiment_decision", decision="ship") == 0.0
    assert get("monitor_experiment_decision", decision="stop") == 1.0


def test_an_experiment_value_that_becomes_undefined_loses_its_series() -> None:
    """A report whose latency interval is defined, then one whose latency has a single unit per
    arm (NaN ends): the interval's series go instead of keeping the earlier ends as current."""
    before, summary = experiment_rows(latency_units=40)
    after, _ = experiment_rows()
    assert math.isfinite(before[2].ci_low) and math.isfinite(before[2].ci_high)
    assert math.isnan(after[2].ci_low) and math.isnan(after[2].ci_high)
    m = MonitorMetrics(CollectorRegistry())
    latency = {"experiment": "prompt-v3", "metric": "latency_ms"}
    get = m.registry.get_sample_value

    m.experiments.set_report(before, summary)
    assert get("monitor_experiment_ci_low", latency) == before[2].ci_low
    assert get("monitor_experiment_ci_high", latency) == before[2].ci_high
    m.experiments.set_report(after, summary)
    assert get("monitor_experiment_ci_low", latency) is None
    assert get("monitor_experiment_ci_high", latency) is None
    assert get("monitor_experiment_diff", latency) == after[2].diff == 0.0  # defined: updated
    assert get("monitor_experiment_ci_low", {**latency, "metric": "task_completion"}) == (
        after[0].ci_low
    )

    m.experiments.set_report(after, replace(summary, srm_sequential_p_value=math.nan))
    assert get("monitor_experiment_srm_p_value", {"experiment": "prompt-v3"}) is None


EXPERIMENT_METRIC_SERIES = (
    "monitor_experiment_diff",
    "monitor_experiment_ci_low",
    "monitor_experiment_ci_high",
    "monitor_experiment_p_value",
)


def test_an_experiment_metric_no_longer_reported_loses_its_series() -> None:
    """A report with a latency row, then one without (the treatment's latency data deleted): the
    latency series go, task completion's are updated; a variant the report no longer names goes."""
    before, summary = experiment_rows(latency_units=40)
    after, _ = experiment_rows(latency_units=40, without=(("b", "latency_ms", ""),))
    assert [r.metric for r in before if not r.segment] == ["task_completion", "latency_ms"]
    assert [r.metric for r in after if not r.segment] == ["task_completion"]
    m = MonitorMetrics(CollectorRegistry())
    latency = {"experiment": "prompt-v3", "metric": "latency_ms"}
    completion = {**latency, "metric": "task_completion"}
    get = m.registry.get_sample_value

    m.experiments.set_report(before, summary)
    assert all(get(name, latency) is not None for name in EXPERIMENT_METRIC_SERIES)
    m.experiments.set_report(after, replace(summary, treatment="c"))
    assert [get(name, latency) for name in EXPERIMENT_METRIC_SERIES] == [None] * 4
    assert [get(name, completion) for name in EXPERIMENT_METRIC_SERIES] == [
        after[0].diff,
        after[0].ci_low,
        after[0].ci_high,
        after[0].p_value,
    ]
    assigned = {
        v: get("monitor_experiment_assigned", {"experiment": "prompt-v3", "variant": v})
        for v in "abc"
    }
    assert assigned == {"a": 6000, "b": None, "c": 6100}


def series_named(m: MonitorMetrics, **labels: str) -> set[str]:
    """Names of the exported samples carrying ``labels``."""
    return {
        sample.name
        for metric in m.registry.collect()
        for sample in metric.samples
        if labels.items() <= sample.labels.items()
    }


def test_an_experiment_no_longer_reported_loses_every_series() -> None:
    """Two experiments reported, then only one (the other's partials deleted): every series of the
    other goes, the reported one's stay."""
    kept, gone = experiment_rows(), experiment_rows(name="tone-v1")
    m = MonitorMetrics(CollectorRegistry())
    m.experiments.set_reports([kept, gone])
    m.experiments.set_reports([kept])
    assert series_named(m, experiment="tone-v1") == set()
    assert series_named(m, experiment="prompt-v3") == {
        "monitor_experiment_assigned",
        "monitor_experiment_srm_p_value",
        "monitor_experiment_decision",
        *EXPERIMENT_METRIC_SERIES,
    }


def test_a_shadow_comparison_no_longer_reported_loses_every_series() -> None:
    """Comparisons of v3 and v4 against v2, then only v3's (v4's partials deleted): every series
    of v4, its verdicts included, goes; v3's stay."""
    rng = np.random.default_rng(3)
    sums = ShadowSums(
        "m", "v2", "v3", 400, {"agreement": Moments.of(rng.binomial(1, 0.9, 400))}, 400, 8
    )
    v3, v4 = shadow_report(sums, {}), shadow_report(replace(sums, shadow_version="v4"), {})
    m = MonitorMetrics(CollectorRegistry())
    m.shadow.set_reports([v3, v4])
    m.shadow.set_reports([v3])
    assert series_named(m, shadow_version="v4") == set()
    assert series_named(
        m, shadow_version="v3"
    ) == {  # what the reports measured: agreement and errors
        "monitor_shadow_pairs",
        "monitor_shadow_agreement",
        "monitor_shadow_error_rate",
        "monitor_shadow_verdict",
    }


def test_a_shadow_value_no_longer_measured_loses_its_series() -> None:
    """A comparison reported with an embedder and shadow events, then without either (embedder
    turned off, the shadow's events not counted): semantic similarity and error rate go."""
    rng = np.random.default_rng(2)
    moments = {
        "agreement": Moments.of(rng.binomial(1, 0.9, 400)),
        "semantic_similarity": Moments.of(rng.uniform(0.7, 1.0, 400)),
    }
    measured = ShadowSums("m", "v2", "v3", 400, moments, 400, 8)
    unmeasured = replace(
        measured, moments={"agreement": moments["agreement"]}, shadow_events=0, shadow_errors=0
    )
    first, second = shadow_report(measured, {}), shadow_report(unmeasured, {})
    assert math.isnan(second.semantic_similarity) and math.isnan(second.shadow_error_rate)
    m = MonitorMetrics(CollectorRegistry())
    pair = {"model": "m", "production_version": "v2", "shadow_version": "v3"}
    get = m.registry.get_sample_value

    m.shadow.set_report(first)
    assert get("monitor_shadow_semantic_similarity", pair) == first.semantic_similarity
    assert get("monitor_shadow_error_rate", pair) == 8 / 400
    m.shadow.set_report(second)
    assert get("monitor_shadow_semantic_similarity", pair) is None
    assert get("monitor_shadow_error_rate", pair) is None
    assert get("monitor_shadow_agreement", pair) == second.agreement  # still measured: kept


def test_alert_notifications_count_superseded_apart_from_cleared() -> None:
    from monitor.alerts.state import Alert

    m = MonitorMetrics(CollectorRegistry())
    drift = Alert.firing("input_drift", "warning", "chat", "v2", 600.0, "drift")
    rollback = Alert.firing(
        "satisfaction_drop", "critical", "chat", "v2", 900.0, "worse", recommended_action="rollback"
    )
    m.count_alerts([drift, rollback, drift.superseded(rollback, 900.0), drift.resolved(1200.0)])

    def count(status: str, resolution: str) -> float | None:
        labels = {"rule": "input_drift", "severity": "warning", "status": status}
        return m.registry.get_sample_value(
            "monitor_alerts_total", {**labels, "resolution": resolution}
        )

    assert (count("firing", ""), count("resolved", "superseded"), count("resolved", "cleared")) == (
        1.0,
        1.0,
        1.0,
    )
