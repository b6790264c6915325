"""Removing labelled Prometheus series: a report value that became undefined (NaN), or series a
new report no longer has, must not leave an earlier number exported as current."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence

from prometheus_client import Gauge
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["remove_matching", "remove_series", "set_or_remove"]


def set_or_remove(gauge: Gauge, labels: Sequence[str], value: float) -> None:
    """Set the series ``labels`` of ``gauge`` to ``value``, or remove it when ``value`` is NaN.

    A value that became undefined (an interval end, a rate with nothing counted) must not leave the
    previous report's number exported as if it were current: its series disappears instead.

    >>> from prometheus_client import CollectorRegistry
    >>> g = Gauge("x", "x", ["k"], registry=CollectorRegistry())
    >>> set_or_remove(g, ["a"], 0.5); g.collect()[0].samples[0].value
    0.5
    >>> set_or_remove(g, ["a"], float("nan")); g.collect()[0].samples
    []
    >>> set_or_remove(g, ["b"], float("nan"))  # never set: nothing to remove
    """
    if not math.isnan(value):
        gauge.labels(*labels).set(value)
        return
    remove_series(gauge, labels)


def remove_series(gauge: MetricWrapperBase, labels: Sequence[str]) -> None:
    """Remove the series ``labels`` of ``gauge``; one that was never set (or is gone) is no error.

    >>> from prometheus_client import CollectorRegistry
    >>> g = Gauge("x", "x", ["k"], registry=CollectorRegistry())
    >>> g.labels("a").set(1.0); remove_series(g, ["a"]); remove_series(g, ["a"]); g.collect()[0].samples
    []
    """
    with contextlib.suppress(KeyError):  # older prometheus_client raises for a missing series
        gauge.remove(*labels)


def remove_matching(metric: MetricWrapperBase, matches: Callable[[Sequence[str]], bool]) -> None:
    """Remove every series of ``metric`` whose label values ``matches``.

    >>> from prometheus_client import CollectorRegistry
    >>> g = Gauge("x", "x", ["k"], registry=CollectorRegistry())
    >>> g.labels("a").set(1.0); g.labels("b").set(2.0)
    >>> remove_matching(g, lambda labels: labels[0] != "a"); [s.labels for s in g.collect()[0].samples]
    [{'k': 'a'}]
    """
    # prometheus_client has no public listing of a metric's label sets; _metrics is stable
    for labels in [k for k in list(metric._metrics) if matches(k)]:
        remove_series(metric, labels)
