"""Traffic of a model version in one window against its recent rate, for the traffic-drop rule.

The expected count of a window is the mean of the version's inference events over the
``RECENT_WINDOWS`` windows before it (a window without rows counts as zero; windows before the
version was first seen are not counted). A version is *expected* in a window when that mean is
above zero: then a window with no events at all is still judged. A version whose traffic moved to
another version of the same model (a rollout) is not a drop: the ratio a rule reads is the higher
of the version's and its model's.

>>> counts = {("m", "v1"): {0.0: 100.0, 60.0: 120.0, 120.0: 80.0}}
>>> t = window_traffic(counts, {("m", "v1"): 0.0}, 180.0, 60)[("m", "v1")]
>>> t.observed, t.expected, t.ratio
(0.0, 100.0, 0.0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RECENT_WINDOWS", "Traffic", "window_traffic"]

RECENT_WINDOWS = 12  # the recent rate: mean events per window over the 12 windows before


@dataclass(frozen=True, slots=True)
class Traffic:
    """Inference events of one window, observed and expected, for the version and its model."""

    observed: float
    expected: float  # mean of the recent windows; 0 without history
    model_observed: float
    model_expected: float

    @property
    def ratio(self) -> float | None:
        """observed / expected, the higher of version and model; ``None`` without an expectation.

        >>> Traffic(0.0, 100.0, 90.0, 100.0).ratio  # v1 went to zero, its model did not: a rollout
        0.9
        >>> Traffic(50.0, 0.0, 50.0, 0.0).ratio is None
        True
        """
        ratios = [
            o / e
            for o, e in ((self.observed, self.expected), (self.model_observed, self.model_expected))
            if e > 0
        ]
        return max(ratios) if ratios else None

    def to_evidence(self) -> dict[str, float | None]:
        return {
            "observed_events": self.observed,
            "expected_events": round(self.expected, 3),
            "model_observed_events": self.model_observed,
            "model_expected_events": round(self.model_expected, 3),
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "recent_windows": RECENT_WINDOWS,
        }


def _expected(
    counts: Mapping[float, float], first_seen: float | None, window: float, seconds: int
) -> float:
    if first_seen is None or first_seen >= window:
        return 0.0
    n = min(RECENT_WINDOWS, round((window - first_seen) / seconds))
    return sum(c for w, c in counts.items() if window - n * seconds <= w < window) / n


def window_traffic(
    counts: Mapping[tuple[str, str], Mapping[float, float]],
    first_seen: Mapping[tuple[str, str], float],
    window: float,
    window_seconds: int,
) -> dict[tuple[str, str], Traffic]:
    """Traffic of every version seen in ``window`` or expected in it.

    ``counts[(model, version)][window_start]`` holds inference events of ``window`` and of the
    windows before it; ``first_seen`` the first window of each version.
    """
    expected = {
        k: _expected(c, first_seen.get(k), window, window_seconds) for k, c in counts.items()
    }
    observed = {k: float(c.get(window, 0.0)) for k, c in counts.items()}
    model_observed: dict[str, float] = defaultdict(float)
    model_expected: dict[str, float] = defaultdict(float)
    for (model, _), value in observed.items():
        model_observed[model] += value
    for (model, _), value in expected.items():
        model_expected[model] += value
    return {
        (m, v): Traffic(observed[(m, v)], expected[(m, v)], model_observed[m], model_expected[m])
        for (m, v) in counts
        if observed[(m, v)] > 0 or expected[(m, v)] > 0
    }
