"""Windows that were counted but not scored for drift, and why.

A window counts inference events as soon as they arrive; it gets drift scores only once it is
closed, when its version had a baseline when the events were folded, and when a feature has at
least ``min_samples`` values. This module names the first reason that holds.

>>> counted = [CountedWindow(0.0, 60.0, "m", "v1", 500), CountedWindow(60.0, 120.0, "m", "v1", 40)]
>>> [(u.window_start, u.reason) for u in unscored_windows(counted, {}, {}, watermark=1e9,
...                                                        allowed_lateness=0, min_samples=100)]
[(0.0, 'no baseline for this version yet'), (60.0, 'no baseline for this version yet')]
>>> before_baseline = unscored_windows(counted, {}, {("m", "v1"): 60.0}, watermark=100.0,
...                                    allowed_lateness=600, min_samples=100)
>>> [u.reason.split(" (")[0] for u in before_baseline]  # the first is never scored, open or not
['no baseline when its events arrived', 'still open: scored once events pass 1970-01-01 00:12:00']
>>> replayed = CountedWindow(0.0, 60.0, "m", "v1", 500, written_until=90.0)  # old times, sent late
>>> unscored_windows([replayed], {}, {("m", "v1"): 60.0}, watermark=100.0, allowed_lateness=600,
...                  min_samples=100)[0].reason.split(":")[0]
'still open'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.contract.timestamps import utc_text

__all__ = ["CountedWindow", "ScoredWindow", "UnscoredWindow", "unscored_windows"]


@dataclass(frozen=True, slots=True)
class CountedWindow:
    window_start: float
    window_end: float
    model: str
    model_version: str
    events: float
    written_until: float | None = None  # wall clock of its last events' write; None: window_end


@dataclass(frozen=True, slots=True)
class ScoredWindow:
    """What ``drift_windows`` holds for one window: features scored and the largest sample."""

    features_scored: int
    features_insufficient: int
    max_n_current: int


@dataclass(frozen=True, slots=True)
class UnscoredWindow:
    window_start: float
    window_end: float
    model: str
    model_version: str
    events: float
    reason: str


def _reason(
    window: CountedWindow,
    scored: ScoredWindow | None,
    first_baseline: float | None,
    watermark: float,
    allowed_lateness: float,
    min_samples: int,
) -> str | None:
    if scored is not None:
        if scored.features_scored:
            return None
        return (
            f"too few samples: at most {scored.max_n_current} values per feature, "
            f"MONITOR_DRIFT_MIN_SAMPLES is {min_samples}"
        )
    # first: events written before the first baseline are never scored, open or closed (and this
    # command may not read the worker's MONITOR_ALLOWED_LATENESS, which decides when it closes);
    # written is the wall clock, as the baseline's date is: event times may be hours old (a replay)
    written = window.window_end if window.written_until is None else window.written_until
    if first_baseline is not None and first_baseline >= written:
        return (
            f"no baseline when its events arrived (the first one dates from {utc_text(first_baseline)}); "
            "events folded before a baseline are never scored"
        )
    closes = window.window_end + allowed_lateness
    if closes > watermark:
        return (
            f"still open: scored once events pass {utc_text(closes)} (window end + allowed lateness "
            f"{allowed_lateness:g} s, MONITOR_ALLOWED_LATENESS as read here), or MONITOR_IDLE_TIMEOUT "
            "after that if no events arrive at all"
        )
    if first_baseline is None:
        return "no baseline for this version yet"
    return (
        "no feature values binned (events without features, or features the baseline does not have)"
    )


def unscored_windows(
    counted: Sequence[CountedWindow],
    scored: Mapping[tuple[float, float, str, str], ScoredWindow],
    first_baselines: Mapping[tuple[str, str], float],
    *,
    watermark: float,
    allowed_lateness: float,
    min_samples: int,
) -> list[UnscoredWindow]:
    """Every counted window without a drift score, with the reason, in window order.

    ``scored`` is keyed by (window_start, window_end, model, version); ``first_baselines`` gives
    when each version's first baseline was created.
    """
    out = []
    for w in sorted(counted, key=lambda c: (c.window_start, c.model, c.model_version)):
        reason = _reason(
            w,
            scored.get((w.window_start, w.window_end, w.model, w.model_version)),
            first_baselines.get((w.model, w.model_version)),
            watermark,
            allowed_lateness,
            min_samples,
        )
        if reason is not None:
            out.append(
                UnscoredWindow(
                    w.window_start, w.window_end, w.model, w.model_version, w.events, reason
                )
            )
    return out
