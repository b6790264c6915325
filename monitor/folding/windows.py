"""Event-time tumbling windows aligned to epoch multiples, and a per-partition watermark.

Which events a window counts (one definition for every metric of the window):

- **on time**: the event's window end is after the partition's watermark when it arrives;
- **late**: the window has ended but ``window_end + allowed_lateness`` is still after the
  watermark. Counted, exactly like an on-time event (the window is rewritten);
- **too late**: ``window_end + allowed_lateness`` is at or before the watermark. Not counted in
  any metric of the window; counted in ``late_inference_events`` / ``late_feedback_events``.

An inference's outcomes (joined feedback) belong to the inference's window and are counted when
the inference was counted, whenever the feedback arrives (within the join TTL); the outcomes of a
too-late inference are left out too, so no outcome denominator exceeds ``inference_events``.

>>> import numpy as np
>>> window_starts(np.array([59.9, 60.0, 125.0]), 60).tolist()
[0.0, 60.0, 120.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LatenessResult", "classify_lateness", "closing_watermark", "window_starts"]


def window_starts(timestamps: np.ndarray, window_seconds: float) -> np.ndarray:
    """Start of the tumbling window holding each timestamp (a 60 s window starts on a minute)."""
    return np.floor(np.asarray(timestamps, dtype=np.float64) / window_seconds) * window_seconds


@dataclass(frozen=True)
class LatenessResult:
    late: np.ndarray  # bool per event
    watermark: float  # after the batch: the largest event time seen


def classify_lateness(
    timestamps: np.ndarray, watermark: float, window_seconds: float, allowed_lateness: float
) -> LatenessResult:
    """Mark events whose window closed before they arrived.

    The watermark before event *i* is the largest event time among the events before it in
    its partition (in offset order), so the answer does not depend on how events were batched.
    An event is late when its window end plus the allowed lateness is at or before that watermark.

    >>> r = classify_lateness(np.array([100.0, 500.0, 130.0, 480.0]), 0.0, 60, 120)
    >>> r.late.tolist(), r.watermark
    ([False, False, True, False], 500.0)
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if times.size == 0:
        return LatenessResult(np.zeros(0, dtype=bool), watermark)
    before = np.maximum.accumulate(np.concatenate(([watermark], times[:-1])))
    closes = window_starts(times, window_seconds) + window_seconds + allowed_lateness
    return LatenessResult(closes <= before, float(max(watermark, times.max())))


def closing_watermark(
    event_watermark: float, now: float, idle_seconds: float | None, idle_timeout: float
) -> float:
    """The event time up to which the leader closes windows (``window_end + lateness`` at or before it).

    While data flows it is the newest event time written by any partition. Once no partition has
    been written for ``idle_timeout`` seconds (``idle_seconds``, ``None`` when nothing was ever
    written), it follows the wall clock, ``idle_timeout`` behind: when traffic stops, a window
    closes at ``window_end + allowed_lateness + idle_timeout`` of wall-clock time, never earlier,
    and a busy replay of old events is never closed by the wall clock.

    >>> closing_watermark(1000.0, now=5000.0, idle_seconds=10.0, idle_timeout=60.0)
    1000.0
    >>> closing_watermark(1000.0, now=5000.0, idle_seconds=61.0, idle_timeout=60.0)
    4940.0
    >>> closing_watermark(6000.0, now=5000.0, idle_seconds=61.0, idle_timeout=60.0)  # events ahead of the clock
    6000.0
    """
    if idle_seconds is not None and idle_seconds >= idle_timeout:
        return max(event_watermark, now - idle_timeout)
    return event_watermark
