"""The leader's alert job: gather the facts of each newly closed window and evaluate incidents.

A closed window is judged once. Windows without any row (no traffic at all) are judged too, up to
``RECENT_WINDOWS`` windows after the last window with data, for the versions expected in them
(see :mod:`monitor.alerts.traffic`): that is how a traffic drop to zero is seen.

A concept-drift detection is counted once: in the window of its event time when it was written
before that window was judged, else in the first window judged after it was written (the detector
agent runs a hop behind the ingest agent), up to ``LATE_DETECTION_HORIZON`` after its event time.
Only a change for the worse counts (``monitor.detectors.values.worsened``): an error rate that
falls is stored in ``detector_events`` and pages no one.

State (rule trackers, open incidents, last window evaluated) is saved in ClickHouse after every
run, so a new leader continues where the old one stopped. Alerts are stored in ``alerts`` and
returned for delivery.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.named_state import read_state, write_state
from monitor.alerts.evaluate import Comparison, IncidentEvaluator, MetricValue, WindowFacts
from monitor.alerts.rules import AlertRule
from monitor.alerts.state import Alert
from monitor.alerts.traffic import RECENT_WINDOWS, window_traffic
from monitor.contract.timestamps import epoch_seconds, utc_datetime
from monitor.detectors.values import worsened
from monitor.drift.embeddings import SAMPLED_FEATURES
from monitor.outcomes.evidence import detection_evidence
from monitor.services.outcome_windows import previous_versions

__all__ = ["ALERT_COLUMNS", "AlertService", "alert_row"]

STATE_NAME = "leader"
# A detection written later than the horizon after its event time pages no one; the state remembers
# the newest counted detections (by key: model, version, stream, detector, source, position) so that
# each is counted once.
LATE_DETECTION_HORIZON = 86_400.0
MAX_COUNTED_DETECTIONS = 2_000
DetectionKey = tuple[str, str, str, str, str, int, int]
ALERT_COLUMNS = [
    "fingerprint",
    "status",
    "rule",
    "severity",
    "model",
    "model_version",
    "starts_at",
    "ends_at",
    "summary",
    "description",
    "recommended_action",
    "evidence",
    "runbook_url",
    "created_at",
]


def alert_row(a: Alert) -> list[Any]:
    """One row of the ``alerts`` table (ALERT_COLUMNS)."""
    return [
        a.fingerprint,
        a.status,
        a.rule,
        a.severity,
        a.model,
        a.model_version,
        utc_datetime(a.starts_at),
        None if a.ends_at is None else utc_datetime(a.ends_at),
        a.summary,
        a.description,
        a.recommended_action or "",
        json.dumps(dict(a.evidence), default=str),
        a.runbook_url,
        utc_datetime(time.time()),
    ]


class AlertService:
    def __init__(
        self,
        store: ClickHouseStore,
        rules: Sequence[AlertRule],
        *,
        allowed_lateness: float,
        stable_versions: dict[str, str] | None = None,
        record: Callable[[Sequence[Alert]], None] | None = None,
        window_seconds: int | None = None,
        feedback_delay: float = 0.0,
    ) -> None:
        """``record`` sees the new alerts after they are stored and before the state is saved (the
        delivery outbox): a crash in between evaluates the same windows again. With ``window_seconds``
        windows without any row are judged too (traffic drops). With ``feedback_delay`` the outcome
        (``metric``) rules judge each window that much later than the other rules."""
        self.store = store
        self.feedback_delay = feedback_delay
        self.record = record
        self.window_seconds = window_seconds  # None: only windows with rows are judged
        self.rules = tuple(rules)
        self.lateness = allowed_lateness
        self.stable = stable_versions or {}
        self.evaluator: IncidentEvaluator | None = None
        self.last_window = -1.0
        self.last_outcome_window = -1.0  # the outcome rules' pass, behind by feedback_delay
        # detections counted in a judged window, by key -> event time, pruned past the horizon
        self.counted: dict[DetectionKey, float] = {}
        self.detections_from = 0.0  # detections with earlier event times are never counted late

    def _load(self) -> None:
        saved = read_state(self.store, STATE_NAME)
        state = json.loads(saved) if saved else {}
        self.evaluator = IncidentEvaluator.from_state(state.get("evaluator", {}))
        self.last_window = float(state.get("last_window", -1.0))
        # a state from before the outcome pass: its windows were judged by every rule
        self.last_outcome_window = float(state.get("last_outcome_window", self.last_window))
        self.counted = {
            (m, v, s, d, t, int(p), int(o)): float(e)
            for m, v, s, d, t, p, o, e in state.get("counted_detections", [])
        }
        # a state saved before detections were counted late: the windows it judged keep what they had
        judged_until = self.last_window + (self.window_seconds or 0) if self.last_window >= 0 else 0
        self.detections_from = float(state.get("detections_from", judged_until))

    def _save(self) -> None:
        assert self.evaluator is not None
        oldest = self.last_window - LATE_DETECTION_HORIZON
        kept = sorted((t, k) for k, t in self.counted.items() if t >= oldest)
        self.counted = {k: t for t, k in kept[-MAX_COUNTED_DETECTIONS:]}
        if len(kept) > MAX_COUNTED_DETECTIONS:  # forgotten ones must not be counted again
            newest_forgotten = kept[-MAX_COUNTED_DETECTIONS - 1][0]
            self.detections_from = max(self.detections_from, newest_forgotten + 0.001)
        state = json.dumps(
            {
                "evaluator": self.evaluator.to_state(),
                "last_window": self.last_window,
                "last_outcome_window": self.last_outcome_window,
                "counted_detections": [[*k, t] for k, t in sorted(self.counted.items())],
                "detections_from": self.detections_from,
            }
        )
        write_state(self.store, STATE_NAME, state)

    def forget(self) -> None:
        """Read the saved state again at the next run: another worker may have led, and changed
        it, since this one last did."""
        self.evaluator = None

    def open_alerts(self) -> list[Alert]:
        """The firing alert of each open incident (none before the first run loaded the state)."""
        return list(self.evaluator.open.values()) if self.evaluator is not None else []

    def run(self, watermark: float, outcome_watermark: float | None = None) -> list[Alert]:
        """Evaluate every window closed since the last run; store and return the alerts. With a
        feedback delay, the outcome rules judge a window once ``outcome_watermark`` (the feedback
        topic's own, default ``watermark``) passes its end, the lateness and the delay."""
        if self.evaluator is None:
            self._load()
        assert self.evaluator is not None
        outcomes = watermark if outcome_watermark is None else min(watermark, outcome_watermark)
        passes = self._passes(watermark, outcomes)
        if not passes:
            return []
        alerts: list[Alert] = []
        for window, outcome_pass in passes:
            facts = self._facts(window, count_detections=not outcome_pass)
            alerts += self.evaluator.evaluate(facts, self.rules, self._observed(outcome_pass))
        self.last_window = max([self.last_window, *(w for w, late in passes if not late)])
        self.last_outcome_window = (
            max([self.last_outcome_window, *(w for w, late in passes if late)])
            if self.feedback_delay
            else self.last_window
        )
        self.store.insert("alerts", [self._row(a) for a in alerts], ALERT_COLUMNS)
        if alerts and self.record is not None:
            self.record(alerts)
        self._save()
        return alerts

    def _passes(self, watermark: float, outcome_watermark: float) -> list[tuple[float, bool]]:
        """(window, outcome pass) to judge, in time order: the windows closed since the last run,
        and with a feedback delay the windows that delay closed for the outcome rules by
        ``outcome_watermark`` (a window in both: the other rules first)."""
        main = [
            (w, False) for w in self._closed_windows(watermark, self.lateness, self.last_window)
        ]
        if not self.feedback_delay:
            return main
        late = self.lateness + self.feedback_delay
        outcome = self._closed_windows(outcome_watermark, late, self.last_outcome_window)
        return sorted(main + [(w, True) for w in outcome])

    def _observed(self, outcome_pass: bool) -> Callable[[AlertRule], bool] | None:
        """The rules a pass feeds: all of them without a feedback delay; else the outcome rules
        in the outcome pass and the others in the main one."""
        if not self.feedback_delay:
            return None
        return lambda rule: rule.judges_outcomes == outcome_pass

    def _closed_windows(self, watermark: float, lateness: float, after: float) -> list[float]:
        """Windows closed (``lateness`` after their end) since ``after``: those with rows, and the
        empty ones that follow a window with rows by at most ``RECENT_WINDOWS`` windows (a
        version may be expected there)."""
        seconds = self.window_seconds
        since = after - RECENT_WINDOWS * seconds if seconds else after
        with_rows = [
            float(w)
            for (w,) in self.store.query(
                "SELECT DISTINCT toFloat64(window_start) "
                f"FROM {self.store.table('metric_windows')} "
                "WHERE window_start > {since:DateTime64(3)} "
                "AND toFloat64(window_end) + {late:Float64} <= {wm:Float64} "
                "ORDER BY 1",
                {"since": utc_datetime(max(since, 0.0)), "late": lateness, "wm": watermark},
            ).rows
        ]
        windows = {w for w in with_rows if w > after}
        if seconds:
            windows |= {
                a + k * seconds
                for a in with_rows
                for k in range(1, RECENT_WINDOWS + 1)
                if after < a + k * seconds and a + (k + 1) * seconds + lateness <= watermark
            }
        return sorted(windows)

    def _row(self, a: Alert) -> list[Any]:
        return alert_row(a)

    def _facts(self, window: float, count_detections: bool = True) -> list[WindowFacts]:
        """The facts of every model version with metrics in this window or traffic expected in it
        (detections only where they are to be counted: not in the outcome pass)."""
        metrics, ends = self._window_metrics(window)
        comparisons = self._window_comparisons(window)
        window_end = max(ends.values(), default=window + (self.window_seconds or 0))
        drift, details, coverage = self._window_drift(window, window_end)
        detections = self._detections(window, window_end) if count_detections else defaultdict(list)
        first_seen = self._first_seen()
        previous = previous_versions(first_seen, self.stable)
        traffic = self._traffic(window, first_seen)
        return [
            WindowFacts(
                m,
                v,
                window,
                ends.get((m, v), window_end),
                metrics[(m, v)],
                comparisons[(m, v)],
                drift[(m, v)],
                detections[(m, v)],
                metrics[(m, v)].get("late_inference_events", MetricValue(0, 0, 0)).value,
                first_seen.get((m, v)),
                previous.get((m, v)),
                self.store.db,
                coverage.get((m, v)),
                traffic.get((m, v)),
                details[(m, v)],
            )
            for (m, v) in sorted(set(metrics) | set(traffic))
        ]

    def _window_metrics(
        self, window: float
    ) -> tuple[dict[tuple[str, str], dict[str, MetricValue]], dict[tuple[str, str], float]]:
        """Each version's all-traffic metric values in this window, and its window end."""
        metrics: dict[tuple[str, str], dict[str, MetricValue]] = defaultdict(dict)
        ends: dict[tuple[str, str], float] = {}
        for m, v, metric, value, num, count, low, high, end in self.store.query(
            "SELECT model, model_version, metric, value, numerator, count, low, high, window_end "
            f"FROM {self.store.table('metric_windows')} FINAL "
            "WHERE window_start = {w:DateTime64(3)} AND segment = ''",
            {"w": utc_datetime(window)},
        ).rows:
            metrics[(m, v)][metric] = MetricValue(value, num, count, low, high)
            ends[(m, v)] = epoch_seconds(end)
        return metrics, ends

    def _window_comparisons(self, window: float) -> dict[tuple[str, str], dict]:
        """Each version's comparisons in this window, keyed by (metric, reference)."""
        comparisons: dict[tuple[str, str], dict] = defaultdict(dict)
        for m, v, metric, ref, value, rv, diff, lo, hi, p in self.store.query(
            "SELECT model, model_version, metric, reference, value, reference_value, difference, "
            f"diff_low, diff_high, p_value FROM {self.store.table('metric_comparisons')} FINAL "
            "WHERE window_start = {w:DateTime64(3)}",
            {"w": utc_datetime(window)},
        ).rows:
            comparisons[(m, v)][(metric, ref)] = Comparison(value, rv, diff, lo, hi, p)
        return comparisons

    def _window_drift(
        self, window: float, window_end: float
    ) -> tuple[
        dict[tuple[str, str], list],
        dict[tuple[str, str], dict[str, str]],
        dict[tuple[str, str], tuple[int, int]],
    ]:
        """Each version's drift rows of the tumbling window (not sliding ones), the details of what
        moved per feature, and (events drift was scored on, the window's inference events)."""
        drift: dict[tuple[str, str], list] = defaultdict(list)
        details: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        coverage: dict[tuple[str, str], tuple[int, int]] = {}
        for m, v, feature, psi, severity, n, missing, n_events, detail in self.store.query(
            "SELECT model, model_version, feature, psi, severity, n_current, missing_rate, "
            f"n_events, detail FROM {self.store.table('drift_windows')} FINAL "
            "WHERE window_start = {w:DateTime64(3)} AND window_end = {end:DateTime64(3)}",
            {"w": utc_datetime(window), "end": utc_datetime(window_end)},
        ).rows:
            drift[(m, v)].append((feature, psi or 0.0, severity, int(n), missing))
            if detail:
                details[(m, v)][feature] = detail
            if feature in SAMPLED_FEATURES:  # scored on the embedding sample, by design
                continue
            scored_on = min(int(n), coverage.get((m, v), (int(n), 0))[0])
            coverage[(m, v)] = (scored_on, int(n_events))
        return drift, details, coverage

    def _first_seen(self) -> dict[tuple[str, str], float]:
        """The first window with inference events of every model version in the store."""
        return {
            (m, v): epoch_seconds(ts)
            for m, v, ts in self.store.query(
                "SELECT model, model_version, min(window_start) "
                f"FROM {self.store.table('metric_windows')} "
                "WHERE metric = 'inference_events' GROUP BY model, model_version"
            ).rows
        }

    def _detections(self, window: float, window_end: float) -> dict[tuple[str, str], list[str]]:
        """The detections this window counts: its own, and earlier ones written after their window
        was judged (each once, named with its event time); only changes for the worse."""
        since = min(window, max(window - LATE_DETECTION_HORIZON, self.detections_from))
        detections: dict[tuple[str, str], list[str]] = defaultdict(list)
        rows = self.store.query(
            "SELECT model, model_version, stream, detector, src_topic, src_partition, position, "
            "toFloat64(event_time), mean_before, mean_after, n_before, n_after FROM "
            f"{self.store.table('detector_events')} FINAL "
            "WHERE event_time >= {since:DateTime64(3)} "
            "AND event_time < {end:DateTime64(3)} ORDER BY event_time, stream, detector",
            {"since": utc_datetime(max(since, 0.0)), "end": utc_datetime(window_end)},
        ).rows
        for m, v, stream, detector, topic, partition, position, at, *means in rows:
            key = (m, v, stream, detector, topic, int(partition), int(position))
            if key in self.counted:
                continue
            self.counted[key] = at
            before, after, n_before, n_after = means
            if not worsened(stream, before, after):  # an improvement is stored, pages no one
                continue
            text = f"{stream}/{detector}: {detection_evidence(stream, before, after, int(n_before), int(n_after))}"
            if at < window:  # its own window was judged before it was written
                text += f" (at {utc_datetime(at).isoformat(timespec='seconds')}, written after its window closed)"
            detections[(m, v)].append(text)
        return detections

    def _traffic(self, window: float, first_seen: dict[tuple[str, str], float]) -> dict:
        """Inference events of this window against the recent rate, per version seen or expected."""
        if not self.window_seconds:
            return {}
        counts: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
        for m, v, start, value in self.store.query(
            "SELECT model, model_version, toFloat64(window_start), value "
            f"FROM {self.store.table('metric_windows')} FINAL "
            "WHERE metric = 'inference_events' AND segment = '' "
            "AND window_start >= {first:DateTime64(3)} AND window_start <= {w:DateTime64(3)}",
            {
                "first": utc_datetime(max(window - RECENT_WINDOWS * self.window_seconds, 0.0)),
                "w": utc_datetime(window),
            },
        ).rows:
            counts[(m, v)][float(start)] = float(value)
        return window_traffic(counts, first_seen, window, self.window_seconds)
