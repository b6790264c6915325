"""A/B experiments: always-valid comparisons of variants from mergeable moments, sample-ratio checks,
guardrails and a ship / stop / continue / invalid decision. Pure: numbers in, numbers and decisions out.
"""

from __future__ import annotations

from monitor.experiments.config import (
    ExperimentSpec,
    Guardrail,
    discovered_experiment,
    load_experiments,
)
from monitor.experiments.decision import Decision, decide
from monitor.experiments.report import (
    ExperimentScope,
    ExperimentSummary,
    MetricRow,
    experiment_report,
    report_dicts,
)
from monitor.experiments.srm import SrmResult, check_srm
from monitor.experiments.stats import Comparison, Moments, compare, planned_sample_size

__all__ = [
    "Comparison",
    "Decision",
    "ExperimentScope",
    "ExperimentSpec",
    "ExperimentSummary",
    "Guardrail",
    "MetricRow",
    "Moments",
    "SrmResult",
    "check_srm",
    "compare",
    "decide",
    "discovered_experiment",
    "experiment_report",
    "load_experiments",
    "planned_sample_size",
    "report_dicts",
]
