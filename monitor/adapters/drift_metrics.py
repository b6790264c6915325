"""Prometheus series of input drift: the scores of each model version's newest scored window."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Gauge

from monitor.adapters.gauges import remove_series
from monitor.catalogue import DRIFT_SCORES
from monitor.drift.divergence import SEVERITIES
from monitor.drift.windows import DriftRow

__all__ = ["DriftMetrics"]

_SERIES = {s.name: s.prometheus_series for s in DRIFT_SCORES if s.prometheus_series}
Labels = tuple[str, str]  # the exported model, model_version pair


class DriftMetrics:
    """``monitor_drift_*`` gauges holding, per model version, the newest closed window's scores.

    A feature has series only while the version's newest scored window scored it: a feature that
    window has too few samples for (``insufficient``) or no row for loses its series, and so does
    every feature of a version with no scored row in the newest window scored for any version (no
    binned events, no baseline). A window re-scored for late events updates the series only if it
    is the version's newest. So a "significant" severity that is no longer measured does not keep
    a Prometheus alert firing.

    >>> from monitor.drift.windows import DriftRow
    >>> d = DriftMetrics(CollectorRegistry())
    >>> row = DriftRow("x", "b1", 0.3, 0.2, 0.1, 500, 1000, "significant", 0.0, 0.0, 0.0)
    >>> d.set_windows([(("chat", "v1"), 0.0, [row])]); d.severity.collect()[0].samples[0].value
    2.0
    >>> few = DriftRow("x", "b1", None, None, None, 12, 1000, "insufficient", 0.0, 0.0, 0.0)
    >>> d.set_windows([(("chat", "v1"), 300.0, [few])]); d.severity.collect()[0].samples
    []
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("model", "model_version", "feature")
        self.psi = Gauge(_SERIES["psi"], "PSI of the last scored window", labels, registry=registry)
        self.kl = Gauge(
            _SERIES["kl"],
            "KL(current||reference) of the last scored window",
            labels,
            registry=registry,
        )
        self.js = Gauge(
            _SERIES["js"],
            "Jensen-Shannon distance (base 2), last window",
            labels,
            registry=registry,
        )
        self.severity = Gauge(
            _SERIES["severity"], "0 none, 1 moderate, 2 significant", labels, registry=registry
        )
        # per exported pair: the start of the window its series show, and that window's scored rows
        self._shown: dict[Labels, tuple[float, dict[str, DriftRow]]] = {}
        self._newest = -math.inf  # the newest window start scored for any version

    def set_windows(self, windows: Iterable[tuple[Labels, float, Sequence[DriftRow]]]) -> None:
        """Export one refresh's scored windows, each ``(labels, window_start, rows)``.

        Rows of windows sharing one label pair and start (versions folded into ``other``) are
        exported together; an older window than the pair's newest is not exported.
        """
        newest: dict[Labels, tuple[float, dict[str, DriftRow]]] = {}
        for labels, start, rows in windows:
            held = newest.get(labels)
            if held is None or start > held[0]:
                newest[labels] = (start, {row.feature: row for row in rows})
            elif start == held[0]:
                held[1].update((row.feature, row) for row in rows)
        for labels, (start, by_feature) in newest.items():
            shown_start, _ = self._shown.get(labels, (-math.inf, {}))
            if start >= shown_start:  # an older window re-scored for late events changes nothing
                self._export(labels, start, by_feature)
            self._newest = max(self._newest, start)
        for labels, (start, _) in list(self._shown.items()):
            if start < self._newest:  # no scored row in the newest window: nothing is current
                self.forget([labels])

    def _export(self, labels: Labels, start: float, by_feature: dict[str, DriftRow]) -> None:
        scored = {f: row for f, row in by_feature.items() if row.severity in SEVERITIES}
        _, before = self._shown.get(labels, (start, {}))
        self._remove(labels, before.keys() - scored.keys())  # insufficient or no row: not scored
        self._write(labels, scored.values())
        self._shown[labels] = (start, scored)

    def _write(self, labels: Labels, rows: Iterable[DriftRow]) -> None:
        for row in rows:
            series = (*labels, row.feature)
            self.severity.labels(*series).set(SEVERITIES.index(row.severity))
            # prompt_embedding has a severity and no PSI (docs/embeddings.md): no score series
            for gauge, value in ((self.psi, row.psi), (self.kl, row.kl), (self.js, row.js)):
                if value is None:
                    remove_series(gauge, series)
                else:
                    gauge.labels(*series).set(value)

    def withdraw(self) -> None:
        """Remove every drift series but remember them: this worker stopped leading."""
        for labels, (_, scored) in self._shown.items():
            self._remove(labels, scored)

    def restore(self) -> None:
        """Export again what :meth:`withdraw` removed: this worker leads again."""
        for labels, (_, scored) in self._shown.items():
            self._write(labels, scored.values())

    def forget(self, pairs: Iterable[Labels]) -> None:
        """Remove every drift series of these label pairs."""
        for labels in pairs:
            _, scored = self._shown.pop(labels, (0.0, {}))
            self._remove(labels, scored)

    def _remove(self, labels: Labels, features: Iterable[str]) -> None:
        for feature in features:
            for gauge in (self.psi, self.kl, self.js, self.severity):
                remove_series(gauge, (*labels, feature))
