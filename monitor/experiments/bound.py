"""Bounds on the experiments, variants and KPIs that producers name, so that their rows and reports
stay in proportion to the experiments a team runs, not to what a producer writes.

Events name their experiment, variant and KPIs in free text. A producer that writes a request id
into ``experiment``, or a new KPI name per event, would add experiment partials per batch in
proportion to its traffic, and the leader would report, export to Prometheus and alert on every
one. Per batch, at most ``max_experiments`` experiments that ``MONITOR_EXPERIMENTS`` does not
declare keep their partials, the ones with the most assignments (ties: the smallest name); of each
experiment at most :data:`MAX_VARIANTS` variants (a declared experiment's control and treatment
always), and at most :data:`MAX_KPIS` KPI names, the most frequent, besides those a declared
experiment reports. Declared experiments always keep theirs. Events past a bound still count
everywhere else (traffic, drift, outcomes): only their experiment moments are left out, never
merged into another arm. The leader reports as many undeclared experiments, those with the most
assignments stored (:func:`monitor.adapters.experiment_store.reported_experiments`).

>>> bound = ExperimentBound({"ab": ("a", "b")}, max_experiments=1)
>>> arms = [("ab", "a"), ("x", "1"), ("x", "2"), ("y", "1"), ("ab", "b")]
>>> sorted(bound.kept_arms(arms))
[('ab', 'a'), ('ab', 'b'), ('x', '1'), ('x', '2')]
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.catalogue import KPI_PREFIX
from monitor.contract.fields import DEFAULT_MAX_EXPERIMENTS
from monitor.experiments.config import ExperimentSpec

__all__ = [
    "MAX_KPIS",
    "MAX_VARIANTS",
    "UNDECLARED",
    "Arm",
    "ExperimentBound",
]

MAX_VARIANTS = 20  # arms of one experiment with partials per batch: an A/B/n test has a handful
MAX_KPIS = 50  # KPI names with experiment moments per batch

Arm = tuple[str, str]  # (experiment, variant)


@dataclass(frozen=True)
class ExperimentBound:
    """The declared experiments (name -> the variants they declare), the KPI names they report,
    and the cap on the other experiments."""

    declared: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_experiments: int = DEFAULT_MAX_EXPERIMENTS
    declared_kpis: frozenset[str] = frozenset()

    @classmethod
    def of(cls, specs: Iterable[ExperimentSpec], max_experiments: int) -> ExperimentBound:
        """The bound of the declared experiments ``specs``.

        >>> spec = ExperimentSpec("ab", "m", "a", "b", primary_metric="kpi.revenue")
        >>> bound = ExperimentBound.of([spec], 10)
        >>> dict(bound.declared), sorted(bound.declared_kpis)
        ({'ab': ('a', 'b')}, ['revenue'])
        """
        specs = tuple(specs)
        return cls(
            {s.name: (s.control, s.treatment) for s in specs},
            max_experiments,
            frozenset(
                metric.removeprefix(KPI_PREFIX)
                for s in specs
                for metric in s.reported_metrics
                if metric.startswith(KPI_PREFIX)
            ),
        )

    def kept_arms(self, arms: Iterable[Arm]) -> frozenset[Arm] | None:
        """The arms of one batch's assignments that keep their partials; None when all do.

        >>> bound = ExperimentBound(max_experiments=2)
        >>> bound.kept_arms([("x", "a"), ("y", "b")]) is None
        True
        >>> sorted(bound.kept_arms([("x", "a"), ("y", "b"), ("y", "b"), ("z", "c"), ("x", "a")]))
        [('x', 'a'), ('y', 'b')]
        """
        counts = Counter(arms)
        variants: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for (experiment, variant), n in counts.items():
            variants[experiment].append((variant, n))
        undeclared = [e for e in variants if e not in self.declared]
        if len(undeclared) <= self.max_experiments and all(
            len(v) <= MAX_VARIANTS for v in variants.values()
        ):
            return None  # the usual batch: every arm keeps its partials
        total = {e: sum(n for _, n in variants[e]) for e in undeclared}
        undeclared.sort(key=lambda e: (-total[e], e))
        kept: set[Arm] = set()
        for experiment in [
            *(e for e in variants if e in self.declared),
            *undeclared[: self.max_experiments],
        ]:
            named = self.declared.get(experiment, ())
            ranked = sorted(
                variants[experiment], key=lambda vn: (vn[0] not in named, -vn[1], vn[0])
            )
            kept.update((experiment, v) for v, _ in ranked[: max(MAX_VARIANTS, len(named))])
        return frozenset(kept)

    def kept_kpis(self, kpis: Iterable[Mapping[str, float]]) -> frozenset[str] | None:
        """The KPI names of one batch's outcomes that keep their experiment moments: those the
        declared experiments report, and the :data:`MAX_KPIS` most frequent others; None when all do.

        >>> UNDECLARED.kept_kpis([{"revenue": 1.0}, {"revenue": 2.0, "clicks": 1.0}]) is None
        True
        >>> flood = [{f"k{i}": 1.0, f"j{i}": 1.0} for i in range(MAX_KPIS)] + [{"revenue": 1.0}]
        >>> len(UNDECLARED.kept_kpis(flood)), "revenue" in UNDECLARED.kept_kpis(flood)
        (50, False)
        >>> "revenue" in ExperimentBound(declared_kpis=frozenset({"revenue"})).kept_kpis(flood)
        True
        """
        counts = Counter(name for kpi in kpis for name in kpi if name not in self.declared_kpis)
        if len(counts) <= MAX_KPIS:
            return None
        return self.declared_kpis | frozenset(
            sorted(counts, key=lambda k: (-counts[k], k))[:MAX_KPIS]
        )


# No experiment declared, the default cap: what a fold uses when its caller names no bound.
UNDECLARED = ExperimentBound()
