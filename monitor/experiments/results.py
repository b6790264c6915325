"""Reports of every experiment from the merged sums the stream stored.

Declared experiments (``MONITOR_EXPERIMENTS``) use their spec; an experiment seen in events but
not declared gets :func:`~monitor.experiments.config.discovered_experiment` defaults and reports
every metric it has data for.

>>> rows = [("exp:assigned", "x\\ta\\t", 3.0, 3.0), ("exp:assigned", "x\\tb\\t", 3.0, 3.0)]
>>> [(s.experiment, s.decision) for _, s in experiment_reports(rows, ())]
[('x', 'continue')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from monitor.experiments.config import ExperimentSpec, discovered_experiment
from monitor.experiments.fold import moments_from_sums
from monitor.experiments.report import (
    ExperimentScope,
    ExperimentSummary,
    MetricRow,
    experiment_report,
    with_scope,
)

__all__ = ["experiment_reports"]


def experiment_reports(
    sums: Iterable[tuple[str, str, float, float]],
    specs: Sequence[ExperimentSpec],
    only: str | None = None,
    scopes: Mapping[str, ExperimentScope] | None = None,
) -> list[tuple[list[MetricRow], ExperimentSummary]]:
    """One report per experiment with data (or ``only`` that one), declared ones first, by name;
    each summary names the models and versions of ``scopes`` (per experiment)."""
    moments, assigned = moments_from_sums(sums)
    declared = {s.name: s for s in specs}
    names = sorted(set(moments) | set(assigned), key=lambda n: (n not in declared, n))
    out = []
    for name in names:
        if only is not None and name != only:
            continue
        spec = declared.get(name)
        if spec is None:
            variants = sorted(
                set(assigned.get(name, {})) | {v for v, _, _ in moments.get(name, {})}
            )
            if len(variants) < 2:
                continue
            seen = sorted({metric for _, metric, _ in moments.get(name, {})})
            spec = replace(discovered_experiment(name, variants), metrics=tuple(seen))
        rows, summary = experiment_report(spec, moments.get(name, {}), assigned.get(name, {}))
        out.append((rows, with_scope(summary, (scopes or {}).get(name))))
    return out
