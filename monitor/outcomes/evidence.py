"""The evidence line of a detection: before and after over stated counts, with 95% intervals.

Rate streams (``error``, ``satisfaction``) get Wilson intervals; other streams state the mean.

>>> detection_evidence("error", 0.06, 0.09, 19000, 1000)
'rate 0.060 [0.057, 0.063] over 19000 events -> rate 0.090 [0.074, 0.109] over 1000 events'
>>> detection_evidence("latency_ms", 800.0, None, 5000, 0)
'mean 800.000 over 5000 events -> n/a'
"""

from __future__ import annotations

from monitor.outcomes.intervals import wilson_interval

__all__ = ["RATE_STREAMS", "detection_evidence"]

RATE_STREAMS = frozenset({"error", "satisfaction"})


def _side(stream: str, mean: float | None, n: int) -> str:
    if mean is None or n <= 0:
        return "n/a"
    if stream not in RATE_STREAMS:
        return f"mean {mean:.3f} over {n} events"
    rate = wilson_interval(round(mean * n), n)
    return f"rate {mean:.3f} [{rate.low:.3f}, {rate.high:.3f}] over {n} events"


def detection_evidence(
    stream: str, mean_before: float | None, mean_after: float | None, n_before: int, n_after: int
) -> str:
    """Before -> after for ``stream``; an unknown side (no values, or stored before counts were) is n/a."""
    return f"{_side(stream, mean_before, n_before)} -> {_side(stream, mean_after, n_after)}"
