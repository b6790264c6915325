"""Experiment declarations: frozen specs loaded from YAML (``MONITOR_EXPERIMENTS``), checked up front.

>>> specs = load_experiments('''
... experiments:
...   - name: prompt-v3
...     model: support-assistant
...     control: v1
...     treatment: v2
...     primary_metric: task_completion
...     minimum_detectable_effect: 0.03
... ''')
>>> s = specs[0]
>>> s.split, [g.metric for g in s.guardrails], s.alpha
((0.5, 0.5), ['human_takeover', 'bad_case', 'latency_ms'], 0.05)
>>> load_experiments("experiments: [{name: x, model: m, control: a, treatment: b, primary_metric: nps}]")
Traceback (most recent call last):
...
monitor.errors.ConfigError: experiment 'x': primary_metric: experiment metric 'nps' is not one of \
satisfaction, rating, task_completion, human_takeover, bad_case, turns, judge_score, accuracy, latency_ms, \
input_tokens, output_tokens, or kpi.<name> for a KPI
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.catalogue import experiment_metric
from monitor.errors import ConfigError
from monitor.yaml_text import load_yaml

__all__ = [
    "DEFAULT_GUARDRAILS",
    "DEFAULT_PRIMARY_METRIC",
    "DEFAULT_TUNING",
    "ExperimentSpec",
    "Guardrail",
    "discovered_experiment",
    "experiment_covariates",
    "load_experiments",
]

# latency_ms is the mean latency: it stands in for the p95, whose quantile sketch has no variance.
DEFAULT_GUARDRAILS = ("human_takeover", "bad_case", "latency_ms")
DEFAULT_PRIMARY_METRIC = "task_completion"
DEFAULT_TUNING = 5000.0  # N* without a minimum detectable effect (GrowthBook's default)
_KEYS = (
    "name",
    "model",
    "control",
    "treatment",
    "split",
    "primary_metric",
    "metrics",
    "guardrails",
    "minimum_detectable_effect",
    "alpha",
    "power",
    "segments",
    "covariate",
)


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A metric that must not get worse by more than ``margin`` (absolute, in the metric's unit)."""

    metric: str
    margin: float = 0.0


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """One A/B experiment: events with ``experiment == name`` and ``variant`` control or treatment."""

    name: str
    model: str | None
    control: str
    treatment: str
    primary_metric: str = DEFAULT_PRIMARY_METRIC
    split: tuple[float, float] = (0.5, 0.5)
    guardrails: tuple[Guardrail, ...] = tuple(Guardrail(m) for m in DEFAULT_GUARDRAILS)
    metrics: tuple[str, ...] = ()  # reported besides the primary metric and the guardrails
    minimum_detectable_effect: float | None = None
    alpha: float = 0.05
    power: float = 0.8
    segments: tuple[str, ...] = ()
    covariate: str | None = None  # a numeric feature measured before assignment: CUPED

    @property
    def reported_metrics(self) -> tuple[str, ...]:
        """The primary metric, the guardrails, then the other metrics, each once."""
        return tuple(
            dict.fromkeys(
                (self.primary_metric, *(g.metric for g in self.guardrails), *self.metrics)
            )
        )


def discovered_experiment(name: str, variants: list[str]) -> ExperimentSpec:
    """Defaults for an experiment seen in events but not declared: the first variant by name is control.

    >>> discovered_experiment("e", ["treatment", "control"]).control
    'control'
    """
    ordered = sorted(variants, key=lambda v: (v != "control", v))
    if len(ordered) < 2:
        raise ConfigError(f"experiment {name!r}: needs two variants, saw {ordered}")
    return ExperimentSpec(name, None, ordered[0], ordered[1])


def _metric(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a metric name, got {value!r}")
    try:
        experiment_metric(value)
    except KeyError as exc:
        raise ConfigError(f"{where}: {exc.args[0]}") from None
    return value


def _finite(value: float) -> bool:
    """False for NaN, infinity and an int too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number(
    raw: Mapping[str, Any], key: str, default: float | None, low: float, high: float
) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise ConfigError(f"{key}: expected a number, got {str(value)[:40]}")
    if not low < value < high:
        raise ConfigError(f"{key}: {value} is outside ({low:g}, {high:g})")
    return float(value)


def _guardrails(raw: Any) -> tuple[Guardrail, ...]:
    if raw is None:
        return tuple(Guardrail(m) for m in DEFAULT_GUARDRAILS)
    if not isinstance(raw, list):
        raise ConfigError(f"guardrails: expected a list, got {raw!r}")
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(Guardrail(_metric(item, "guardrails")))
        elif isinstance(item, dict) and set(item) <= {"metric", "margin"}:
            metric = _metric(item.get("metric"), "guardrails")
            margin = _number(item, "margin", 0.0, -math.inf, math.inf) or 0.0
            if margin < 0:  # harmed unless the treatment is surely better: a stop on no change
                raise ConfigError(
                    f"guardrails: {metric}: margin {margin:g} is below 0 (the deterioration"
                    " tolerated, in the metric's unit: 0 or more)"
                )
            out.append(Guardrail(metric, margin))
        else:
            raise ConfigError(
                f"guardrails: expected a metric name or {{metric, margin}}, got {item!r}"
            )
    return tuple(out)


def _split(raw: Any, control: str, treatment: str) -> tuple[float, float]:
    if raw is None:
        return 0.5, 0.5
    if isinstance(raw, dict):
        if set(raw) != {control, treatment}:
            raise ConfigError(
                f"split: keys {sorted(raw)} must be the variants {control!r} and {treatment!r}"
            )
        raw = [raw[control], raw[treatment]]
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in raw)
    ):
        raise ConfigError(f"split: expected two positive weights (control, treatment), got {raw!r}")
    return raw[0] / sum(raw), raw[1] / sum(raw)


def _strings(raw: Any, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise ConfigError(f"{key}: expected a list of names, got {raw!r}")
    return tuple(raw)


def _spec(raw: Any) -> ExperimentSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"each experiment must be a mapping, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"experiment without a name: {raw!r}")
    try:
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise ConfigError(f"unknown keys {', '.join(unknown)}; allowed: {', '.join(_KEYS)}")
        for key in ("control", "treatment"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise ConfigError(f"{key}: the variant name is required")
        if raw["control"] == raw["treatment"]:
            raise ConfigError(f"control and treatment are both {raw['control']!r}")
        model = raw.get("model")
        if model is not None and not isinstance(model, str):
            raise ConfigError(f"model: expected a string, got {model!r}")
        covariate = raw.get("covariate")
        if covariate is not None and not isinstance(covariate, str):
            raise ConfigError(f"covariate: expected a feature name, got {covariate!r}")
        return ExperimentSpec(
            name,
            model,
            raw["control"],
            raw["treatment"],
            _metric(raw.get("primary_metric", DEFAULT_PRIMARY_METRIC), "primary_metric"),
            _split(raw.get("split"), raw["control"], raw["treatment"]),
            _guardrails(raw.get("guardrails")),
            tuple(_metric(m, "metrics") for m in _strings(raw.get("metrics"), "metrics")),
            _number(raw, "minimum_detectable_effect", None, 0.0, math.inf),
            _number(raw, "alpha", 0.05, 0.0, 0.5) or 0.05,
            _number(raw, "power", 0.8, 0.0, 1.0) or 0.8,
            _strings(raw.get("segments"), "segments"),
            covariate,
        )
    except ConfigError as exc:
        raise ConfigError(f"experiment {name!r}: {exc}") from None


def experiment_covariates(specs: Iterable[ExperimentSpec]) -> dict[str, str]:
    """Experiment -> covariate feature of the declared experiments that have one."""
    return {s.name: s.covariate for s in specs if s.covariate}


def load_experiments(path_or_text: str | Path) -> tuple[ExperimentSpec, ...]:
    """Experiments from a YAML file (or its text) with a top-level ``experiments:`` list."""
    text = str(path_or_text)
    if isinstance(path_or_text, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise ConfigError(f"experiments file {path_or_text}: {exc.strerror}") from None
    document = load_yaml(text, "experiments")
    if not isinstance(document, dict) or not isinstance(document.get("experiments"), list):
        raise ConfigError("experiments: expected a mapping with an 'experiments:' list")
    specs = tuple(_spec(raw) for raw in document["experiments"])
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"experiments: names declared twice: {', '.join(duplicates)}")
    return specs
