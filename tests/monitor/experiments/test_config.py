"""Experiment YAML: defaults, and errors that name the bad value and the choices."""

from __future__ import annotations

import pytest

from monitor.errors import ConfigError
from monitor.experiments.config import discovered_experiment, load_experiments

GOOD = """
experiments:
  - name: prompt-v3
    model: support-assistant
    control: v1
    treatment: v2
    split: {v1: 9, v2: 1}
    primary_metric: kpi.revenue
    guardrails: [human_takeover, {metric: latency_ms, margin: 50}]
    minimum_detectable_effect: 2.5
    alpha: 0.01
    segments: [tenant]
"""


def test_a_full_declaration_loads():
    (spec,) = load_experiments(GOOD)
    assert spec.split == (0.9, 0.1) and spec.alpha == 0.01 and spec.segments == ("tenant",)
    assert [(g.metric, g.margin) for g in spec.guardrails] == [
        ("human_takeover", 0.0),
        ("latency_ms", 50.0),
    ]
    assert spec.reported_metrics == ("kpi.revenue", "human_takeover", "latency_ms")


@pytest.mark.parametrize(
    "change, message",
    [
        ("primary_metric: kpi.revenue", None),
        ("primary_metric: conversion", "'conversion' is not one of satisfaction"),
        ("alpha: 0.01", None),
        ("alpha: 2", "alpha: 2 is outside (0, 0.5)"),
        ("split: {v1: 9, v2: 1}", None),
        ("split: {v1: 9, v3: 1}", "split: keys ['v1', 'v3'] must be the variants 'v1' and 'v2'"),
        ("minimum_detectable_effect: 2.5", None),
        ("minimum_detectable_effect: -1", "minimum_detectable_effect: -1 is outside (0, inf)"),
        ("segments: [tenant]", "unknown keys segment"),
        ("guardrails: [{metric: latency_ms, margin: 0}]", None),
        # an int too large for a float stopped the check with an OverflowError traceback
        ("alpha: " + "9" * 400, "alpha: expected a number, got 999"),
        (
            "guardrails: [{metric: latency_ms, margin: " + "9" * 400 + "}]",
            "margin: expected a number",
        ),
        # a negative margin was taken: an unchanged latency "harmed" the guardrail and stopped it
        (
            "guardrails: [{metric: latency_ms, margin: -5}]",
            "guardrails: latency_ms: margin -5 is below 0 (the deterioration tolerated, in the metric's unit: 0 or more)",
        ),
    ],
)
def test_errors_name_the_experiment_and_the_value(change, message):
    key = change.split(":")[0]
    text = "\n".join(
        line if not line.strip().startswith(key + ":") else f"    {change}"
        for line in GOOD.splitlines()
    )
    if message is None:
        load_experiments(text)
        return
    if message.startswith("unknown keys"):
        text = text.replace("segments:", "segment:")
    with pytest.raises(ConfigError) as err:
        load_experiments(text)
    assert "experiment 'prompt-v3'" in str(err.value) and message in str(err.value)


def test_duplicate_names_and_a_missing_file_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="declared twice: a"):
        load_experiments(
            "experiments: [{name: a, control: x, treatment: y}, {name: a, control: x, treatment: y}]"
        )
    with pytest.raises(ConfigError, match="No such file"):
        load_experiments(tmp_path / "none.yaml")


def test_a_discovered_experiment_takes_defaults():
    spec = discovered_experiment("e", ["b", "a"])
    assert (spec.control, spec.treatment, spec.primary_metric) == ("a", "b", "task_completion")
