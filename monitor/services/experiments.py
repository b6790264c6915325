"""Leader job: rewrite ``experiment_results`` from the merged experiment partials, and alert on decisions.

The partials are written exactly once with their offsets, and the results are recomputed from
all of them each time (ReplacingMergeTree, latest wins), so a crash or a replay never counts a
request twice in a result. A decision other than ``continue`` fires an alert through the alert
pipeline (stored, recorded in the delivery outbox, then the state saved: a crash in between
re-evaluates and the outbox de-duplicates), see :mod:`monitor.alerts.experiment_actions`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.experiment_store import (
    RESULT_COLUMNS,
    read_experiment_scopes,
    read_experiment_sums,
    reported_experiments,
    result_rows,
)
from monitor.adapters.inserted_since import inserted_since, next_mark
from monitor.adapters.named_state import read_state, write_state
from monitor.alerts.experiment_actions import (
    EXPERIMENT_RUNBOOK,
    Fired,
    experiment_alerts,
)
from monitor.alerts.rules import resolve_runbook
from monitor.alerts.state import Alert
from monitor.contract.fields import DEFAULT_MAX_EXPERIMENTS
from monitor.experiments.config import ExperimentSpec
from monitor.experiments.fold import EXPERIMENT_PREFIX
from monitor.experiments.report import ExperimentSummary, MetricRow
from monitor.experiments.results import experiment_reports
from monitor.services.alerts import ALERT_COLUMNS, alert_row

__all__ = ["ExperimentResults"]

Report = tuple[list[MetricRow], ExperimentSummary]
STATE_NAME = "experiments"

LEFT_OUT_LOG_INTERVAL = 3600.0  # seconds between two warnings of experiments left out

log = logging.getLogger(__name__)


class ExperimentResults:
    def __init__(
        self,
        store: ClickHouseStore,
        specs: Sequence[ExperimentSpec] = (),
        record: Callable[[Sequence[Alert]], None] | None = None,
        runbook_base_url: str = "",
        max_experiments: int = DEFAULT_MAX_EXPERIMENTS,
    ) -> None:
        self.store = store
        self.specs = tuple(specs)
        # the undeclared experiments reported (monitor.experiments.bound)
        self.max_experiments = max_experiments
        self.left_out_logged_at = -math.inf  # when the last run logged experiments left out
        self.record = record
        self.runbook_url = resolve_runbook(EXPERIMENT_RUNBOOK, runbook_base_url)
        self.fired: Fired | None = None
        # the last run's reports, and the mark of the partials it read (monitor.adapters.inserted_since)
        self.reports: list[Report] | None = None
        self.since = 0.0

    def _load(self) -> Fired:
        """Each experiment's firing alert (a bare decision where an earlier version saved one)."""
        saved = read_state(self.store, STATE_NAME)
        return {
            name: value if isinstance(value, str) else Alert.from_dict(value)
            for name, value in (json.loads(saved) if saved else {}).items()
        }

    def _save(self, fired: Fired) -> None:
        document = {k: v if isinstance(v, str) else v.to_dict() for k, v in fired.items()}
        write_state(self.store, STATE_NAME, json.dumps(document))

    def forget(self) -> None:
        """Read the saved state again at the next run, and report afresh: another worker may have
        led, and changed both, since this one last did."""
        self.fired, self.reports = None, None

    def open_alerts(self) -> list[Alert]:
        """Each experiment's firing alert (none before the first run loaded the state)."""
        return [alert for alert in (self.fired or {}).values() if isinstance(alert, Alert)]

    def run(self, now: float) -> tuple[list[Report], list[Alert]]:
        """Every reported experiment's report (the declared ones, the undeclared ones whose alert
        fires, and the most assigned others up to ``max_experiments`` undeclared in all), written to
        ``experiment_results``, and the alerts of changed decisions. With no experiment partial
        inserted since the last run, that run's reports again and nothing written: the sums, and
        so every report and decision, are the same."""
        db = self.store.db
        if self.reports is not None and not inserted_since(
            self.store, db, EXPERIMENT_PREFIX, self.since
        ):
            return self.reports, []
        mark = next_mark(now)
        if self.fired is None:
            self.fired = self._load()
        declared = [s.name for s in self.specs]
        # an undeclared experiment whose alert fires stays reported until its decision changes, so
        # that experiments passing it in assignments cannot leave its page open for ever
        firing = sorted(set(self.fired) - set(declared))
        names, left_out = reported_experiments(
            self.store, db, [*declared, *firing], max(self.max_experiments - len(firing), 0)
        )
        if left_out and now - self.left_out_logged_at >= LEFT_OUT_LOG_INTERVAL:
            self.left_out_logged_at = now
            log.warning(
                "%d experiment(s) seen in events are not reported: MONITOR_MAX_EXPERIMENTS=%d "
                "reports the undeclared ones with the most assignments; declare an experiment in "
                "MONITOR_EXPERIMENTS to report it whatever its traffic",
                left_out,
                self.max_experiments,
            )
        scopes = read_experiment_scopes(self.store, db, only=names)
        reports = experiment_reports(
            read_experiment_sums(self.store, db, only=names), self.specs, scopes=scopes
        )
        self.store.insert("experiment_results", result_rows(reports, now), RESULT_COLUMNS)
        models = {
            **{name: scope.models[0] for name, scope in scopes.items() if scope.models},
            **{s.name: s.model for s in self.specs if s.model},
        }
        summaries = [s for _, s in reports]
        alerts, fired = experiment_alerts(summaries, self.fired, now, models, self.runbook_url)
        if alerts:
            self.store.insert("alerts", [alert_row(a) for a in alerts], ALERT_COLUMNS)
            if self.record is not None:
                self.record(alerts)
        restated = _restated(self.fired, fired)
        if restated:  # the incident's row says its current cause; nobody is notified
            self.store.insert("alerts", [alert_row(a) for a in restated], ALERT_COLUMNS)
        if fired != self.fired:  # a decision, or the cause of a firing one, changed
            self._save(fired)
            self.fired = fired
        self.reports, self.since = reports, mark
        return reports, alerts


def _restated(before: Fired, after: Fired) -> list[Alert]:
    """The open alerts of ``after`` that restate one of ``before`` (the same incident: fingerprint
    and start) with another text."""
    out = []
    for name, alert in after.items():
        old = before.get(name)
        if (
            isinstance(alert, Alert)
            and isinstance(old, Alert)
            and (old.fingerprint, old.starts_at) == (alert.fingerprint, alert.starts_at)
            and old != alert
        ):
            out.append(alert)
    return out
