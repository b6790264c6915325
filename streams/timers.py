"""Periodic work: join and shadow expiry and consumer lag (every worker), and the leader's window
jobs: metric windows, automatic baselines, drift scores, outcome windows, alerts and experiments, and
their delivery; shadow results on a timer of their own.

``WorkerJobs`` holds every worker's own jobs, ``LeaderJobs`` the leader's and the state they share
between refreshes; ``register_timers`` only wires Faust timers to them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import faust

from monitor.adapters.alert_outbox import AlertOutbox
from monitor.adapters.alert_sinks import AlertDeduplicator, AlertSink
from monitor.adapters.client_security import redis_client_options
from monitor.adapters.inserted_since import next_mark
from monitor.adapters.join_store import JoinStore, MemoryJoinStore
from monitor.adapters.leader_series import LeaderSeries
from monitor.alerts.rules import configured_rules, judged_elsewhere, with_runbook_base
from monitor.alerts.state import Alert
from monitor.drift.windows import DriftRow
from monitor.errors import MonitorError, StoreRefused
from monitor.folding.windows import closing_watermark
from monitor.services.alert_delivery import AlertDelivery, build_sinks
from monitor.services.alert_refresh import AlertmanagerRefresh
from monitor.services.alerts import AlertService
from monitor.services.drift import DriftService
from monitor.services.experiments import ExperimentResults, Report
from monitor.services.outcome_windows import OutcomeWindows
from monitor.services.shadow import ShadowResults, ShadowStage
from monitor.wording import counted
from streams.agents import exit_refused
from streams.delivery import delivered, output_topic
from streams.wiring import Wiring

__all__ = ["LeaderJobs", "WorkerJobs", "register_timers"]

log = logging.getLogger("monitor.tools.worker")

T = TypeVar("T")
ScoredWindows = list[tuple[str, str, float, list[DriftRow]]]


def register_timers(app: faust.App, wiring: Wiring) -> None:
    """Wire the periodic jobs to Faust timers (registered in this order, with these intervals)."""
    s = wiring.settings
    leader = LeaderJobs(app, wiring)
    worker = WorkerJobs(wiring)
    app.on_partitions_assigned.connect(leader.note_rebalance)  # type: ignore[arg-type]  # faust passes assigned= by keyword
    # on every worker: the leader's work, and an old leader withdraws its series
    app.timer(s.refresh_interval, name="window_jobs")(leader.window_jobs)
    app.timer(s.join_expiry_interval, name="join_expiry")(worker.join_expiry)
    app.timer(s.refresh_interval, on_leader=True, name="shadow_results")(leader.shadow_results)
    app.timer(s.join_expiry_interval, name="shadow_expiry")(worker.shadow_expiry)
    app.timer(5.0, name="consumer_lag")(worker.consumer_lag)


async def run_blocking(wiring: Wiring, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking store call on the worker's executor, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(wiring.executor, fn, *args)


@dataclass(frozen=True, slots=True)
class WindowTick:
    """What one refresh of the leader produced, exported once every store job has succeeded."""

    touched: int  # metric windows rewritten
    scored: ScoredWindows  # (model, version, window start, drift rows) of the windows scored
    fired: list[Alert]  # the alert rules' alerts, then the experiments'
    reports: list[Report]  # every experiment's report


class WorkerJobs:
    """Every worker's own periodic jobs: expire what its join stores hold past their TTL, and
    export how far it is behind on the source partitions it consumes."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.metrics = wiring.metrics
        self.lag_shown: set[tuple[str, int]] = set()  # the partitions whose lag this worker exports

    async def join_expiry(self) -> None:
        """Expire the joins past their TTL; export how many expired and how many wait, by kind. A
        failure is logged and counted in ``store_errors{operation="join_expiry"}``; a refusal
        (:class:`StoreRefused`: the credentials, the ACL) stops the worker, as in a batch."""
        m = self.metrics
        join_store = cast(JoinStore, self.wiring.join_store)  # opened before the app is built
        try:
            expired = await run_blocking(self.wiring, join_store.expire, time.time())
            pending = await run_blocking(self.wiring, join_store.pending)
        except StoreRefused as exc:  # an idle worker must not look healthy on a password it lost
            exit_refused(exc, "the join expiry not done: it runs again after the next start")
        except MonitorError as exc:  # Redis down: the next run expires what this one could not
            m.store_errors.labels(operation="join_expiry").inc()
            log.error("join expiry failed: %s", exc)
            return
        for kind, n in expired.items():
            m.join_expired.labels(kind=kind).inc(n)
        for kind, n in pending.items():
            m.join_pending.labels(kind=kind).set(n)
        if isinstance(join_store, MemoryJoinStore):
            m.state_evictions.labels(state="join").inc(join_store.take_evicted())

    async def shadow_expiry(self) -> None:
        """Expire the shadow answers past their TTL; count the unpaired ones by side, and those the
        in-process store evicted at its cap (a failure: ``store_errors{operation="shadow_expiry"}``;
        a refusal stops the worker)."""
        shadow_stage = cast(ShadowStage, self.wiring.shadow_stage)  # opened before the app is built
        try:
            expired = await run_blocking(self.wiring, shadow_stage.expire, time.time())
        except StoreRefused as exc:
            exit_refused(exc, "the shadow expiry not done: it runs again after the next start")
        except MonitorError as exc:
            self.metrics.store_errors.labels(operation="shadow_expiry").inc()
            log.error("shadow expiry failed: %s", exc)
            return
        for side, n in expired.items():
            self.metrics.shadow.unpaired.labels(side=side).inc(n)
        if isinstance(shadow_stage.join_store, MemoryJoinStore):
            self.metrics.state_evictions.labels(state="shadow").inc(
                shadow_stage.join_store.take_evicted()
            )

    async def consumer_lag(self) -> None:
        """Messages behind the log end of each source partition this worker consumes: the log end
        from the ingest consumer's fetches, the written offset from the store's positions."""
        ends = self.wiring.log_ends()
        for (topic, partition), end in ends.items():
            position = self.wiring.positions.get((topic, partition))
            if position is not None:  # unknown until a batch of the partition (or after a failure)
                behind = max(end - position.last_offset - 1, 0)
                self.metrics.lag.labels(topic=topic, partition=str(partition)).set(behind)
                self.lag_shown.add((topic, partition))
        for topic, partition in self.lag_shown - ends.keys():  # revoked: another worker reports it
            self.metrics.lag.remove(topic, str(partition))
            self.lag_shown.discard((topic, partition))


class LeaderJobs:
    """The leader's jobs and what they share between refreshes: how far metric windows were
    refreshed, when partitions were last assigned, the alert delivery and the leader-only series."""

    def __init__(self, app: faust.App, wiring: Wiring) -> None:
        s = wiring.settings
        self.app = app
        self.wiring = wiring
        self.metrics = wiring.metrics
        self.since = 0.0  # partials inserted from here on are not in metric windows yet
        self.assigned_at = time.time()  # the last rebalance
        self.term_started = False  # whether this leadership's saved state has been read
        # run_worker opens the store (local owner or remote) before the app is built: these see the final one
        self.drift = DriftService(wiring.drift_store, s)
        self.outcome_windows = OutcomeWindows(wiring.store, s.stable_versions)
        rules = with_runbook_base(configured_rules(s.alert_rules), s.runbook_base_url)
        for note in judged_elsewhere(rules):
            log.info("alert %s", note)
        self.alerts_topic = output_topic(app, s, s.alerts_topic)  # declared at start
        sinks = build_sinks(s, self.send_to_kafka)
        self.delivery = self._alert_delivery(sinks)
        self.alertmanager_refresh = AlertmanagerRefresh(sinks)
        self.experiments = ExperimentResults(
            wiring.store,
            wiring.experiments,
            record=self.delivery.record,
            runbook_base_url=s.runbook_base_url,
            max_experiments=s.max_experiments,
        )
        self.alerts = AlertService(
            wiring.store,
            rules,
            allowed_lateness=s.allowed_lateness_seconds,
            feedback_delay=s.feedback_delay_seconds,
            stable_versions=s.stable_versions,
            record=self.delivery.record,
            window_seconds=s.window_seconds,
        )
        # a rebalance ends within the session timeout: one that keeps the leader must blank nothing
        self.leader_series = LeaderSeries(
            self.metrics, grace_seconds=max(60.0, 2 * s.session_timeout)
        )
        self.shadow = ShadowResults(wiring.store, s.shadow_margin_map)

    def _alert_delivery(self, sinks: Sequence[AlertSink]) -> AlertDelivery:
        """The sinks, the outbox and the de-duplication across workers that fired alerts go through."""
        s, m = self.wiring.settings, self.metrics
        return AlertDelivery(
            sinks,
            AlertOutbox(self.wiring.store),
            AlertDeduplicator(
                s.redis_dsn,
                prefix=s.redis_prefix("alert-sent"),
                client_options=redis_client_options(s),
            ),
            partial(run_blocking, self.wiring),
            on_failure=lambda name, alert, exc: m.sink_failures.labels(sink=name).inc(),
            on_queue_size=lambda name, size: m.sink_queue.labels(sink=name).set(size),
        )

    async def send_to_kafka(self, key: bytes, value: bytes) -> None:
        """Send one alert to the alerts topic and wait until the broker has it."""
        await delivered([await self.alerts_topic.send(key=key, value=value)])

    async def note_rebalance(self, sender: Any, assigned: Any, **kwargs: Any) -> None:
        """Remember when partitions were last assigned (faust passes ``assigned=`` by keyword);
        the next refresh that leads starts a new term (:meth:`_start_term`)."""
        self.assigned_at = time.time()
        self.term_started = False

    def closing_now(self) -> tuple[float, float | None]:
        """Blocking: the closing watermark (the newest event time written, or the wall clock once
        every partition is idle), and with a feedback delay the feedback topic's own, which the
        outcome rules also wait for (a replay's inferences run ahead of their feedback)."""
        store = self.wiring.store
        windows = self._closing(*store.write_clock())
        if not self.alerts.feedback_delay:
            return windows, None
        return windows, self._closing(*store.write_clock(self.wiring.settings.feedback_topic))

    def _closing(self, written: float, idle: float | None) -> float:
        # a backlog after an outage or rebalance is not idleness: count from the rebalance
        if idle is not None:
            idle = min(idle, time.time() - self.assigned_at)
        return closing_watermark(
            written, time.time(), idle, self.wiring.settings.idle_timeout_seconds
        )

    async def window_jobs(self) -> None:
        """One refresh, on every worker: the leader runs the window jobs and exports what they
        produced; any other worker only withdraws the leader-only series it no longer leads (so
        this timer cannot be ``on_leader=True``)."""
        if not self.app.is_leader():
            self._not_leading()
            return
        self.leader_series.leading(time.time())
        if not self.term_started:
            self._start_term()
        tick = await self._run_window_jobs()
        if tick is not None:
            await self._export(tick)

    def _start_term(self) -> None:
        """A worker that leads after a rebalance reads the leader's saved state again (the open
        incidents, the experiments' firing alerts, the deliveries pending in the outbox): another
        worker may have led meanwhile, fired and closed alerts, and died with deliveries pending.
        From memory, the incidents it opened would fire again and the ones it closed never
        resolve here, and its pending deliveries would wait for this worker's restart."""
        self.alerts.forget()
        self.experiments.forget()
        self.delivery.recovered = False
        self.term_started = True

    def _not_leading(self) -> None:
        """Withdraw the leader-only series after the grace, and every worker's idle versions; the
        next refresh that leads starts a new term."""
        self.term_started = False
        self.leader_series.not_leading(time.time())
        self.metrics.forget_idle_versions(
            time.time(), self.wiring.settings.metrics_version_ttl_seconds
        )

    async def _run_window_jobs(self) -> WindowTick | None:
        """The store jobs in order; on a store failure the refresh is logged, counted in
        ``store_errors{operation="window_jobs"}`` and exports nothing (``None``); the metric windows
        keep the mark of their last successful refresh."""
        mark = next_mark(time.time())  # monitor.adapters.inserted_since
        try:
            if not self.delivery.recovered:  # deliveries a killed leader left pending in the outbox
                await self.delivery.recover()
            # the closing watermark before the metric windows: a batch written in between would
            # close windows whose metric rows this refresh has not rewritten (a traffic drop of 0
            # events was paged on a window drift had scored 438 events of)
            watermark, outcome_watermark = await run_blocking(self.wiring, self.closing_now)
            touched = await self._refresh_metric_windows(mark)
            scored = await self._score_drift(watermark)
            fired, reports = await self._judge(watermark, outcome_watermark)
        except MonitorError as exc:
            self.metrics.store_errors.labels(operation="window_jobs").inc()
            log.error("window jobs failed: %s", exc)
            return None
        return WindowTick(touched, scored, fired, reports)

    async def _refresh_metric_windows(self, mark: float) -> int:
        """Rewrite the metric windows touched since the last refresh (first: the alerts read
        them); the next refresh starts from ``mark`` once this one is written."""
        touched = await run_blocking(
            self.wiring, self.wiring.store.refresh_metric_windows, self.since
        )
        self.since = mark
        return touched

    async def _score_drift(self, watermark: float) -> ScoredWindows:
        """Build the missing automatic baselines, then score the drift of the windows closed by
        the closing watermark (baselines first, so this refresh's scoring can use them)."""
        await run_blocking(self.wiring, self.drift.build_automatic_baselines, time.time())
        return await run_blocking(
            self.wiring, self.drift.score_closed_windows, time.time(), watermark
        )

    async def _judge(
        self, watermark: float, outcome_watermark: float | None
    ) -> tuple[list[Alert], list[Report]]:
        """Compare outcome windows, then evaluate the alert rules on the windows closed by the same
        watermark (they read metric, comparison and drift windows: all written before), then the
        experiments; their alerts follow the rules' alerts."""
        await run_blocking(self.wiring, self.outcome_windows.run, time.time())
        fired = await run_blocking(self.wiring, self.alerts.run, watermark, outcome_watermark)
        reports, experiment_fired = await run_blocking(
            self.wiring, self.experiments.run, time.time()
        )
        return [*fired, *experiment_fired], reports

    async def _export(self, tick: WindowTick) -> None:
        """Count the windows written, deliver the fired alerts, export the experiment reports and
        drift scores, and forget the idle versions' series."""
        m = self.metrics
        if tick.touched:
            m.windows_written.labels(table="metric_windows").inc(tick.touched)
        await self._deliver(tick.fired)
        # Alertmanager ends an alert resolve_timeout after it was last posted: keep open ones up
        open_alerts = [*self.alerts.open_alerts(), *self.experiments.open_alerts()]
        await self.alertmanager_refresh.refresh(open_alerts, time.time(), tick.fired)
        m.experiments.set_reports(tick.reports)
        m.set_drift(tick.scored)
        if tick.scored:
            m.windows_written.labels(table="drift_windows").inc(
                sum(len(r) for *_, r in tick.scored)
            )
        m.forget_idle_versions(time.time(), self.wiring.settings.metrics_version_ttl_seconds)

    async def _deliver(self, fired: Sequence[Alert]) -> None:
        """Count the fired alerts (:meth:`MonitorMetrics.count_alerts`), and hand them to the
        delivery; a refusal of the deduplicator's Redis stops the worker, as in a batch."""
        self.metrics.count_alerts(fired)
        try:
            await self.delivery.deliver(fired)
        except StoreRefused as exc:  # a configuration error, as in a batch
            exit_refused(
                exc,
                f"the notifications of {counted(len(fired), 'fired alert')} not sent: they stay pending in "
                "the alert outbox and are sent after the next start",
            )

    async def shadow_results(self) -> None:
        """The leader's shadow comparison reports, on a timer of their own (``on_leader=True``)."""
        try:
            reports = await run_blocking(self.wiring, self.shadow.run, time.time())
        except MonitorError as exc:
            self.metrics.store_errors.labels(operation="shadow_results").inc()
            log.error("shadow results failed: %s", exc)
            return
        self.metrics.shadow.set_reports(reports)
