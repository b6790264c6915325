"""The decision per experiment: ship, stop, continue or invalid.

In order:

1. ``invalid`` when the sample ratio does not match the planned split (either SRM check p < 0.001):
   the assignment is broken and no comparison can be trusted.
2. ``stop`` when a guardrail is harmed (its always-valid interval of the deterioration lies wholly
   beyond its margin) or the primary metric is significantly worse.
3. ``ship`` when the primary metric is significantly better.
4. ``continue`` otherwise, with the estimated remaining sample for the minimum detectable effect.

>>> from monitor.experiments.stats import Comparison
>>> better = Comparison(5e3, 5e3, .70, .74, .04, .01, .07, 1e-4, .057, .01, .1, True, 0.4)
>>> decide(better, "higher", [], srm_mismatch=False).kind
'ship'
>>> decide(better, "higher", [("bad_case", better, "lower", 0.0)], srm_mismatch=False).reason
'guardrail bad_case harmed: +0.040 (interval +0.010 to +0.070, margin 0)'
>>> decide(better, "higher", [], srm_mismatch=False).reason
'primary metric better: +0.040 (interval +0.010 to +0.070, p < 0.001)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.experiments.formatting import format_effect, format_p
from monitor.experiments.stats import Comparison, planned_sample_size

__all__ = ["DECISIONS", "Decision", "decide", "guardrail_harmed"]

DecisionKind = Literal["ship", "stop", "continue", "invalid"]
DECISIONS: tuple[str, ...] = ("ship", "stop", "continue", "invalid")
Better = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now, why, and (``continue``) about how many more units both arms need together."""

    kind: DecisionKind
    reason: str
    remaining_sample: float | None = None


def guardrail_harmed(c: Comparison, better: Better, margin: float) -> bool:
    """The whole interval of the change in the bad direction exceeds ``margin``."""
    low = c.ci_low if better == "lower" else -c.ci_high
    return math.isfinite(low) and low > margin


def _effect(c: Comparison) -> str:
    return format_effect(c.diff, c.ci_low, c.ci_high, detail=format_p(c.p_value))


def _worse(c: Comparison, better: Better) -> bool:
    return c.significant and (c.diff < 0 if better == "higher" else c.diff > 0)


def decide(
    primary: Comparison,
    better: Better,
    guardrails: Sequence[tuple[str, Comparison, Better, float]],
    *,
    srm_mismatch: bool,
    mde: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Decision:
    """The decision for one experiment from its primary comparison, guardrails and SRM flag."""
    if srm_mismatch:
        return Decision(
            "invalid", "sample ratio mismatch: the variants' counts do not match the planned split"
        )
    for name, c, direction, margin in guardrails:
        if guardrail_harmed(c, direction, margin):
            return Decision(
                "stop",
                f"guardrail {name} harmed: "
                + format_effect(c.diff, c.ci_low, c.ci_high, detail=f"margin {margin:g}"),
            )
    if _worse(primary, better):
        return Decision("stop", f"primary metric worse: {_effect(primary)}")
    if primary.significant:
        return Decision("ship", f"primary metric better: {_effect(primary)}")
    remaining = None
    if mde is not None and math.isfinite(primary.variance_per_unit):
        planned = planned_sample_size(mde, primary.variance_per_unit, alpha, power)
        remaining = max(0.0, planned - primary.n_control - primary.n_treatment)
    return Decision(
        "continue",
        "not decided yet"
        + (
            f": about {remaining:,.0f} more units for the minimum detectable effect {mde:g}"
            if remaining is not None
            else ""
        ),
        remaining,
    )
