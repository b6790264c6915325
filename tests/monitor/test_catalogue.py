"""The metric catalogue: one definition of every metric, "correct" and "satisfied", read everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.adapters.schema import PROPORTIONS, SCALAR_MEAN_METRICS
from monitor.alerts.evaluate import Comparison, MetricValue, WindowFacts, rule_observation
from monitor.alerts.rules import AlertRule, default_rules, load_rules, signal_metrics
from monitor.catalogue import (
    DRIFT_SCORES,
    OUTCOME_METRICS,
    WINDOW_METRICS,
    catalogue_markdown,
    correct,
    outcome_metric,
    rule_metrics,
    satisfied,
)
from monitor.drift.baseline import build_baseline
from monitor.errors import ConfigError
from monitor.outcomes.fold import OUTCOME_METRICS as FOLDED
from monitor.outcomes.fold import JoinedOutcome, fold_outcomes
from monitor.outcomes.join import detector_values
from monitor.services.outcome_windows import QUANTILES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("prediction", "label", "expected"),
    [
        (True, "true", True),
        (True, "True", True),
        (1, True, True),
        ("1", True, True),
        (" TRUE ", 1.0, True),
        (False, "false", True),
        (0, "FALSE", True),
        (False, "true", False),
        (2, "2.0", True),
        ("2", 2, True),
        (" 2e0 ", 2, True),
        (3, "2", False),
        ("Refund", " refund ", True),
        ("refund", "escalate", False),
        ("yes", True, False),
        ("nan", "nan", True),
        ("inf", "inf", True),
        (None, "x", None),
        ("x", None, None),
    ],
)
def test_correct_normalises_booleans_numbers_and_strings(prediction, label, expected) -> None:
    assert correct(prediction, label) is expected


@given(
    st.one_of(
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    )
)
def test_correct_is_reflexive_and_symmetric_under_respelling(value) -> None:
    assert correct(value, value) is True
    spelled = str(value).lower() if isinstance(value, bool) else str(value)
    assert correct(value, spelled) is correct(spelled, value)
    if not isinstance(value, str):
        assert correct(value, spelled) is True  # a number or bool equals its own spelling


@given(st.text(alphabet="abcXYZ 12.e", max_size=8))
def test_case_and_surrounding_blanks_never_matter(text: str) -> None:
    assert correct(f"  {text.upper()}\t", text.lower()) is True


def test_satisfied_prefers_the_rating_and_falls_back_to_thumbs() -> None:
    assert [
        satisfied(r, t)
        for r, t in [(4, "down"), (3, "up"), (None, "up"), (None, "down"), (None, None)]
    ] == [True, False, True, False, None]


def test_names_are_unique_and_every_module_reads_the_catalogue() -> None:
    names = [m.name for m in OUTCOME_METRICS] + [m.name for m in WINDOW_METRICS]
    assert len(names) == len(set(names))
    rules = [m.rule_metric for m in OUTCOME_METRICS] + [
        m.inverse_rule_metric for m in OUTCOME_METRICS if m.inverse_rule_metric
    ]
    assert len(rules) == len(set(rules))
    assert len({s.name for s in DRIFT_SCORES}) == len(DRIFT_SCORES)
    assert set(FOLDED) == {m.name for m in OUTCOME_METRICS if m.kind != "quantile"}
    assert set(PROPORTIONS) == {m.name for m in OUTCOME_METRICS if m.kind == "proportion"}
    assert set(SCALAR_MEAN_METRICS) == {m.name for m in WINDOW_METRICS if m.kind == "mean"}
    assert {name for q in QUANTILES.values() for name, _ in q} == {
        m.name for m in OUTCOME_METRICS if m.kind == "quantile"
    }
    with pytest.raises(KeyError, match="is not one of satisfaction"):
        outcome_metric("happiness")


def test_fold_detectors_and_baseline_agree_on_correct() -> None:
    # A label spelled "true" in a file and a JSON true prediction are the same answer everywhere.
    pairs = [(True, "true"), (False, "true"), ("refund", "Refund"), (1, "1.0")]
    outcomes = [
        JoinedOutcome(f"r{i}", "m", "v", 0.0, 1.0, prediction=p, label=y)
        for i, (p, y) in enumerate(pairs)
    ]
    (accuracy,) = [s for s in fold_outcomes(outcomes, 60) if s.metric == "accuracy"]
    errors = list(detector_values(outcomes, [0] * len(outcomes))[("m", "v")]["error"].values)
    baseline = build_baseline(
        "m", "v", [{"features": {"x": 1}, "prediction": p, "label": y} for p, y in pairs], now=0.0
    )
    assert (accuracy.numerator, accuracy.denominator) == (3.0, 4.0)
    assert errors == [0.0, 1.0, 0.0, 0.0]
    assert baseline.accuracy == 0.75 and baseline.n_labeled == 4


def test_fold_and_detectors_agree_on_satisfied() -> None:
    outcomes = [
        JoinedOutcome("a", "m", "v", 0.0, 1.0, rating=5, thumbs="down"),
        JoinedOutcome("b", "m", "v", 0.0, 1.0, thumbs="up"),
        JoinedOutcome("c", "m", "v", 0.0, 1.0, rating=2),
    ]
    (sat,) = [s for s in fold_outcomes(outcomes, 60) if s.metric == "satisfaction"]
    assert (sat.numerator, sat.denominator) == (2.0, 3.0)
    assert list(
        detector_values(outcomes, [0] * len(outcomes))[("m", "v")]["satisfaction"].values
    ) == [1.0, 1.0, 0.0]


def test_docs_table_is_the_rendered_catalogue() -> None:
    text = (ROOT / "docs" / "outcomes.md").read_text()
    rendered = text.split("<!-- catalogue:start -->\n", 1)[1].split("<!-- catalogue:end -->", 1)[0]
    assert rendered == catalogue_markdown(), (
        "docs/outcomes.md is stale: run python -m monitor.catalogue"
    )


def test_rules_accept_only_catalogue_metrics_and_list_them() -> None:
    for rule in default_rules():
        assert rule.metric is None or rule.metric in signal_metrics(rule.signal)
    with pytest.raises(ConfigError) as info:
        load_rules(
            "rules: [{name: t, signal: metric, severity: warning, metric: takeover_rate, "
            "condition: above, threshold: 0.1}]"
        )
    assert "metric: 'takeover_rate' is not one of satisfaction_rate" in str(info.value)
    assert "human_takeover_rate" in str(info.value)
    with pytest.raises(ConfigError, match="'latency_p95_ms' is not one of latency_p50_seconds"):
        AlertRule("l", "latency", "warning", "latency_p95_ms", "above", 1.0)
    with pytest.raises(ConfigError, match="'adwn' is not one of adwin"):
        AlertRule("d", "detector", "warning", "adwn", None, None)


def test_every_rule_metric_reads_its_window_metric() -> None:
    """A rule on each catalogue rule metric sees the window value (scaled, inverted) and the reference."""
    for signal in ("metric", "latency"):
        for name, (window_metric, scale, inverted) in rule_metrics(signal).items():
            facts = WindowFacts(
                "m",
                "v2",
                0.0,
                60.0,
                metrics={window_metric: MetricValue(0.8, 80, 100)},
                comparisons={(window_metric, "version:v1"): Comparison(0.8, 0.9, -0.1, 0, 0, 1)},
                previous_version="v1",
            )
            expected = (1 - 0.8 if inverted else 0.8) * scale
            reference = (1 - 0.9 if inverted else 0.9) * scale
            above = AlertRule("a", signal, "warning", name, "above", expected - 1e-9, min_samples=0)  # type: ignore[arg-type]
            below = AlertRule("b", signal, "warning", name, "above", expected + 1e-9, min_samples=0)  # type: ignore[arg-type]
            relative = AlertRule(
                "c",
                signal,
                "warning",
                name,
                "above",
                expected - reference - 1e-9,  # type: ignore[arg-type]
                relative_to="previous_version",
                min_samples=0,
            )
            assert rule_observation(above, facts) == (True, 100), name
            assert rule_observation(below, facts) == (False, 100), name
            assert rule_observation(relative, facts) == (True, 100), name


def test_every_scalar_partial_of_a_batch_is_a_catalogue_window_metric() -> None:
    from monitor.folding.pipeline import BatchConfig, RawMessage, process_batch
    from monitor.tools.simulator import TrafficSimulator

    sim = TrafficSimulator(seed=2)
    inferences = sim.inferences(now=10_000.0, n=50) + [
        dict(e, timestamp=1_000.0) for e in sim.inferences(now=10_000.0, n=5)
    ]  # too late
    feedback = sim.due_feedback(now=20_000.0) + [
        {"request_id": "x", "timestamp": 1_000.0, "rating": 5}
    ]
    messages = [
        RawMessage("i", 0, n, json.dumps(e).encode(), "inference") for n, e in enumerate(inferences)
    ]
    messages += [
        RawMessage("f", 0, n, json.dumps(e).encode(), "feedback") for n, e in enumerate(feedback)
    ]
    out = process_batch(
        messages,
        {},
        BatchConfig(
            window_seconds=60,
            allowed_lateness=30,
            max_future_skew=1e9,
            now=20_000.0,
            min_event_time=0,
        ),
    )
    names = {
        p.name for source in out.sources.values() for p in source.partials if ":" not in p.name
    }
    assert names and names <= {m.name for m in WINDOW_METRICS}, names - {
        m.name for m in WINDOW_METRICS
    }
    assert {"inference_events", "feedback_events", "late_inference_events", "latency_ms"} <= names
