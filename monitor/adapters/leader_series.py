"""The series only the leader exports (drift scores, experiment and shadow reports) on a worker
whose leadership moves away and back."""

from __future__ import annotations

from monitor.adapters.prometheus_metrics import MonitorMetrics

__all__ = ["LeaderSeries"]


class LeaderSeries:
    """Withdraw the leader-only series of a worker that has not led for ``grace_seconds``, and
    export its drift series again when it leads again.

    Once another worker leads it exports these series; the old leader's last values would
    otherwise stay exported beside them for ever, and a rule taking the maximum over workers
    (``MonitorInputDriftSignificant``) would keep firing on them. A rebalance that leaves this
    worker leader takes less than the grace and blanks nothing: a gap in a series restarts a
    Prometheus ``for:``. Drift series come back from memory (a refresh re-scores only windows
    touched since the last one); experiment and shadow series from the next refresh's reports.

    >>> from prometheus_client import CollectorRegistry
    >>> m = MonitorMetrics(CollectorRegistry())
    >>> leader = LeaderSeries(m, grace_seconds=60.0)
    >>> leader.leading(now=0.0); leader.not_leading(now=30.0), leader.not_leading(now=61.0)
    (False, True)
    """

    def __init__(self, metrics: MonitorMetrics, grace_seconds: float) -> None:
        if grace_seconds < 0:
            raise ValueError(f"grace_seconds: {grace_seconds} is negative")
        self.metrics = metrics
        self.grace_seconds = grace_seconds
        self._led_at: float | None = None  # the last time this worker was seen leading
        self._withdrawn = False

    def leading(self, now: float) -> None:
        """This worker leads (runs the leader's jobs) at ``now``."""
        if self._withdrawn:
            self.metrics.drift.restore()
            self._withdrawn = False
        self._led_at = now

    def not_leading(self, now: float) -> bool:
        """This worker does not lead at ``now``; returns whether the series were withdrawn now."""
        if self._withdrawn or self._led_at is None or now - self._led_at <= self.grace_seconds:
            return False
        self.metrics.drift.withdraw()
        self.metrics.experiments.set_reports([])
        self.metrics.shadow.set_reports([])
        self._withdrawn = True
        return True
