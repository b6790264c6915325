"""The evidence line of a detection: before and after over stated counts, with 95% intervals.

Rate streams (``error``, ``satisfaction``) get Wilson intervals; other streams state the mean.
The numbers are printed by the one rule of :mod:`monitor.experiments.formatting`: a rate and its
interval take the decimals of that interval's width (more if a bound would print as 0 although the
interval excludes zero); the two means of a stream without intervals share the decimals of the gap
between them, so a latency reads in whole milliseconds and close means keep the digits that differ.

>>> detection_evidence("error", 0.06, 0.09, 19000, 1000)
'rate 0.0600 [0.0567, 0.0635] over 19000 events -> rate 0.090 [0.074, 0.109] over 1000 events'
>>> detection_evidence("latency_ms", 801.37, 948.62, 5000, 1000)
'mean 801 over 5000 events -> mean 949 over 1000 events'
>>> detection_evidence("latency_ms", 800.0, None, 5000, 0)
'mean 800 over 5000 events -> n/a'
"""

from __future__ import annotations

import math

from monitor.experiments.formatting import Precision, effect_parts, precision_for
from monitor.outcomes.intervals import wilson_interval

__all__ = ["RATE_STREAMS", "detection_evidence"]

RATE_STREAMS = frozenset({"error", "satisfaction"})


def _rate_side(mean: float, n: int) -> str:
    rate = wilson_interval(round(mean * n), n)
    assert rate.low is not None and rate.high is not None  # n > 0
    shown, low, high = effect_parts(mean, rate.low, rate.high, signed=False)
    return f"rate {shown} [{low}, {high}] over {n} events"


def _means_precision(means: list[float]) -> Precision:
    """The decimals of the gap between the means (from the mean itself when only one is known).

    >>> _means_precision([0.0612, 0.0615]).text(0.0612), _means_precision([812.4]).text(812.4)
    ('0.06120', '812')
    """
    finite = [m for m in means if math.isfinite(m)]
    if not finite:
        return Precision(0)
    return precision_for(finite[0], min(finite), max(finite))


def detection_evidence(
    stream: str, mean_before: float | None, mean_after: float | None, n_before: int, n_after: int
) -> str:
    """Before -> after for ``stream``; an unknown side (no values, or stored before counts were) is n/a."""
    sides = [
        (mean, n) if mean is not None and n > 0 else None
        for mean, n in ((mean_before, n_before), (mean_after, n_after))
    ]
    if stream in RATE_STREAMS:
        texts = [_rate_side(*side) if side else "n/a" for side in sides]
    else:
        level = _means_precision([side[0] for side in sides if side])
        texts = [
            f"mean {level.text(side[0])} over {side[1]} events" if side else "n/a" for side in sides
        ]
    return " -> ".join(texts)
