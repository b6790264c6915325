"""Shadow report: mean paired differences with always-valid intervals, and a non-inferiority verdict.

For each metric of :data:`~monitor.catalogue.SHADOW_METRICS` the pairs give values ``v_i`` and
paired differences ``d_i = v_i − reference``; the mean ``d̄`` gets the normal-mixture confidence
sequence of :mod:`monitor.experiments.stats` with ``s² = Var(d)`` and ``N`` = pairs, so the
interval stays valid however often the report is read. A metric is *not worse by more than its
margin* ``m`` when its interval lies entirely on the good side of the margin (``ci_high ≤ m`` when
lower is better, ``ci_low ≥ −m`` when higher is better) and *worse* when it lies entirely beyond it.
The verdict over the declared metrics (those with a margin):

- ``not_promising``: some declared metric is worse than its margin;
- ``promising``: every declared metric is within its margin (and at least :data:`MIN_PAIRS` pairs);
- ``collecting``: otherwise.

>>> from monitor.experiments.stats import Moments
>>> from monitor.shadow.fold import ShadowSums
>>> s = ShadowSums("m", "v2", "v3", 400, {"agreement": Moments(400, 360, 360),
...                "error_rate": Moments(400, 0, 0)}, 400, 0)
>>> r = shadow_report(s, {"error_rate": 0.01})
>>> r.agreement, r.verdict
(0.9, 'promising')
>>> shadow_report(s, {"agreement": 0.02}).verdict
'not_promising'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.catalogue import SHADOW_METRICS, shadow_metric
from monitor.errors import ConfigError
from monitor.experiments.stats import Moments, half_width, mixture_rho
from monitor.shadow.fold import ShadowSums

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_TUNING",
    "MIN_PAIRS",
    "VERDICTS",
    "MetricDelta",
    "ShadowReport",
    "default_margins",
    "parse_margins",
    "shadow_report",
]

VERDICTS = ("promising", "not_promising", "collecting")
MIN_PAIRS = 30  # no verdict on fewer pairs: the normal approximation of the interval needs some
DEFAULT_ALPHA = 0.05
DEFAULT_TUNING = 5000.0  # pairs at which the confidence sequence is tightest (as for experiments)


@dataclass(frozen=True, slots=True)
class MetricDelta:
    metric: str
    n: float
    value: (
        float  # mean of the shadow's per-pair values (agreement, similarity) or of the differences
    )
    diff: float  # mean of value − reference
    ci_low: float
    ci_high: float
    margin: float | None
    status: str  # within, worse, unknown, or "" when not declared


@dataclass(frozen=True, slots=True)
class ShadowReport:
    model: str
    production_version: str
    shadow_version: str
    pairs: float
    agreement: float
    similarity: float
    semantic_similarity: float  # NaN without an embedder (docs/embeddings.md)
    latency_delta_ms: float
    output_tokens_delta: float
    length_delta_chars: float
    shadow_events: float
    shadow_error_rate: float
    verdict: str
    reason: str
    metrics: tuple[MetricDelta, ...]


def default_margins() -> dict[str, float]:
    """The catalogue's default margins: ``{"error_rate": 0.01, "latency_ms": 100.0}``."""
    return {m.name: m.margin for m in SHADOW_METRICS if m.margin is not None}


def parse_margins(text: str) -> dict[str, float]:
    """``"error_rate=0.01,agreement=0.05"`` -> margins; ``ConfigError`` naming a bad entry and the choices.

    >>> parse_margins("agreement=0.05, latency_ms=50")
    {'agreement': 0.05, 'latency_ms': 50.0}
    """
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            shadow_metric(name.strip())
            margin = float(value)
        except KeyError as exc:
            raise ConfigError(f"MONITOR_SHADOW_MARGINS: {exc.args[0]}") from None
        except ValueError:
            raise ConfigError(
                f"MONITOR_SHADOW_MARGINS: {item!r} is not name=margin with a number"
            ) from None
        if not (math.isfinite(margin) and margin >= 0):
            raise ConfigError(f"MONITOR_SHADOW_MARGINS: {item!r}: the margin must be a number >= 0")
        out[name.strip()] = margin
    return out


def _delta(
    metric: str, m: Moments | None, margin: float | None, rho: float, alpha: float
) -> MetricDelta:
    spec = shadow_metric(metric)
    if m is None or m.n < 1:
        nan = math.nan
        return MetricDelta(
            metric, 0.0, nan, nan, nan, nan, margin, "unknown" if margin is not None else ""
        )
    value = m.mean_y
    diff = value - spec.reference
    var, _, _ = m.covariance()
    width = float(half_width(var, m.n, rho, alpha)) if m.n >= 2 and math.isfinite(var) else math.inf
    low, high = diff - width, diff + width
    status = ""
    if margin is not None:
        status = "unknown"
        if m.n >= MIN_PAIRS:
            if spec.better == "lower":
                status = "within" if high <= margin else "worse" if low > margin else "unknown"
            else:
                status = "within" if low >= -margin else "worse" if high < -margin else "unknown"
    return MetricDelta(metric, m.n, value, diff, low, high, margin, status)


def shadow_report(
    sums: ShadowSums,
    margins: Mapping[str, float],
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_TUNING,
) -> ShadowReport:
    """The report of one comparison against ``margins`` (metric -> non-inferiority margin)."""
    rho = mixture_rho(alpha, tuning)
    deltas = tuple(
        _delta(m.name, sums.moments.get(m.name), margins.get(m.name), rho, alpha)
        for m in SHADOW_METRICS
    )
    by_name = {d.metric: d for d in deltas}
    declared = [d for d in deltas if d.margin is not None]
    worse = [d.metric for d in declared if d.status == "worse"]
    unknown = [d.metric for d in declared if d.status == "unknown"]
    if worse:
        verdict, reason = (
            "not_promising",
            f"worse than production by more than the margin: {', '.join(worse)}",
        )
    elif sums.pairs < MIN_PAIRS:
        verdict, reason = "collecting", f"{sums.pairs:g} pairs, at least {MIN_PAIRS} needed"
    elif unknown:
        verdict, reason = "collecting", f"not yet within the margin: {', '.join(unknown)}"
    else:
        verdict = "promising"
        reason = (
            ("within the margin on " + ", ".join(d.metric for d in declared))
            if declared
            else "no metric declared (MONITOR_SHADOW_MARGINS)"
        )
    error_rate = sums.shadow_errors / sums.shadow_events if sums.shadow_events else math.nan
    return ShadowReport(
        sums.model,
        sums.production_version,
        sums.shadow_version,
        sums.pairs,
        by_name["agreement"].value,
        by_name["similarity"].value,
        by_name["semantic_similarity"].value,
        by_name["latency_ms"].diff,
        by_name["output_tokens"].diff,
        by_name["length_chars"].diff,
        sums.shadow_events,
        error_rate,
        verdict,
        reason,
        deltas,
    )
