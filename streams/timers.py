"""Periodic work: join expiry and lag (every worker), and the
leader's window jobs: metric windows, automatic baselines, drift scores, outcome windows, shadow results."""

from __future__ import annotations

import asyncio
import logging
import time

import faust

from monitor.adapters.alert_outbox import AlertOutbox
from monitor.adapters.alert_sinks import AlertDeduplicator
from monitor.adapters.client_security import redis_client_options
from monitor.adapters.join_store import MemoryJoinStore
from monitor.adapters.leader_series import LeaderSeries
from monitor.alerts.rules import default_rules, load_rules, with_runbook_base
from monitor.errors import MonitorError
from monitor.experiments.config import load_experiments
from monitor.folding.windows import closing_watermark
from monitor.services.alert_delivery import AlertDelivery, build_sinks
from monitor.services.alerts import AlertService
from monitor.services.drift import DriftService
from monitor.services.experiments import ExperimentResults
from monitor.services.outcome_windows import OutcomeWindows
from monitor.services.shadow import ShadowResults
from streams.wiring import Wiring

__all__ = ["register_timers"]

log = logging.getLogger("monitor.tools.worker")


def register_timers(app: faust.App, wiring: Wiring) -> None:
    s = wiring.settings
    m = wiring.metrics
    state = {"since": 0.0, "assigned_at": time.time()}
    # run_worker opens the store (local owner or remote) before the app is built: these see the final one
    drift = DriftService(wiring.drift_store, s)
    outcome_windows = OutcomeWindows(wiring.store, s.stable_versions)
    rules = with_runbook_base(
        load_rules(s.alert_rules) if s.alert_rules else default_rules(), s.runbook_base_url
    )
    alerts_topic = app.topic(
        s.alerts_topic, partitions=1, value_serializer="raw", key_serializer="raw"
    )

    async def send_to_kafka(key: bytes, value: bytes) -> None:
        await (await alerts_topic.send(key=key, value=value))

    async def blocking(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(wiring.executor, fn, *args)

    delivery = AlertDelivery(
        build_sinks(s, send_to_kafka),
        AlertOutbox(wiring.store),
        AlertDeduplicator(
            s.redis_dsn, prefix=f"{s.app_id}:alert-sent:", client_options=redis_client_options(s)
        ),
        blocking,
        on_failure=lambda name, alert, exc: m.sink_failures.labels(sink=name).inc(),
        on_queue_size=lambda name, size: m.sink_queue.labels(sink=name).set(size),
    )
    experiments = ExperimentResults(
        wiring.store,
        load_experiments(s.experiments) if s.experiments else (),
        record=delivery.record,
    )
    alerts = AlertService(
        wiring.store,
        rules,
        allowed_lateness=s.allowed_lateness_seconds,
        stable_versions=s.stable_versions,
        record=delivery.record,
        window_seconds=s.window_seconds,
    )

    async def deliver(fired) -> None:
        for alert in fired:
            m.alerts.labels(rule=alert.rule, severity=alert.severity, status=alert.status).inc()
        await delivery.deliver(fired)

    def closing_now() -> (
        float
    ):  # newest event time written, or the wall clock once every partition is idle
        written, idle = wiring.store.write_clock()
        if (
            idle is not None
        ):  # a backlog after an outage or rebalance is not idleness: count from the rebalance
            idle = min(idle, time.time() - state["assigned_at"])
        return closing_watermark(written, time.time(), idle, s.idle_timeout_seconds)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust passes assigned= by keyword
    async def note_rebalance(sender, assigned, **kwargs):
        state["assigned_at"] = time.time()

    # a rebalance ends within the session timeout: one that keeps the leader must blank nothing
    leader_series = LeaderSeries(m, grace_seconds=max(60.0, 2 * s.session_timeout))

    @app.timer(s.refresh_interval, name="window_jobs")  # on every worker: the leader's work below
    async def window_jobs():
        if not app.is_leader():  # as on_leader=True would, but an old leader drops its series
            leader_series.not_leading(time.time())
            m.forget_idle_versions(time.time(), s.metrics_version_ttl_seconds)  # every worker's
            return
        leader_series.leading(time.time())
        mark = time.time() - 5.0  # margin for clocks between store and worker
        try:
            if not delivery.recovered:  # deliveries a killed leader left pending in the outbox
                await delivery.recover()
            touched = await blocking(wiring.store.refresh_metric_windows, state["since"])
            state["since"] = mark
            await blocking(drift.build_automatic_baselines, time.time())
            watermark = await blocking(closing_now)
            scored = await blocking(drift.score_closed_windows, time.time(), watermark)
            await blocking(outcome_windows.run, time.time())
            fired = await blocking(alerts.run, watermark)
            reports, experiment_fired = await blocking(experiments.run, time.time())
            fired = [*fired, *experiment_fired]
        except MonitorError as exc:
            m.store_errors.labels(operation="window_jobs").inc()
            log.error("window jobs failed: %s", exc)
            return
        if touched:
            m.windows_written.labels(table="metric_windows").inc(touched)
        await deliver(fired)
        m.experiments.set_reports(reports)
        m.set_drift(scored)
        if scored:
            m.windows_written.labels(table="drift_windows").inc(sum(len(r) for *_, r in scored))
        m.forget_idle_versions(time.time(), s.metrics_version_ttl_seconds)

    @app.timer(s.join_expiry_interval, name="join_expiry")
    async def join_expiry():
        try:
            expired = await blocking(wiring.join_store.expire, time.time())
            pending = await blocking(wiring.join_store.pending)
        except MonitorError as exc:
            log.error("join expiry failed: %s", exc)
            return
        for kind, n in expired.items():
            m.join_expired.labels(kind=kind).inc(n)
        for kind, n in pending.items():
            m.join_pending.labels(kind=kind).set(n)
        if isinstance(wiring.join_store, MemoryJoinStore):
            m.state_evictions.labels(state="join").inc(wiring.join_store.take_evicted())

    shadow_results = ShadowResults(wiring.store, s.shadow_margin_map)

    @app.timer(s.refresh_interval, on_leader=True, name="shadow_results")
    async def shadow_jobs():
        try:
            reports = await blocking(shadow_results.run, time.time())
        except MonitorError as exc:
            m.store_errors.labels(operation="shadow_results").inc()
            log.error("shadow results failed: %s", exc)
            return
        m.shadow.set_reports(reports)

    @app.timer(s.join_expiry_interval, name="shadow_expiry")
    async def shadow_expiry():
        try:
            expired = await blocking(wiring.shadow_stage.expire, time.time())
        except MonitorError as exc:
            log.error("shadow expiry failed: %s", exc)
            return
        for side, n in expired.items():
            m.shadow.unpaired.labels(side=side).inc(n)

    lag_shown: set[tuple[str, int]] = set()

    @app.timer(5.0, name="consumer_lag")
    async def consumer_lag():
        """Messages behind the log end of each source partition this worker consumes: the log end
        from the ingest consumer's fetches, the written offset from the store's positions."""
        ends = wiring.log_ends()
        for (topic, partition), end in ends.items():
            position = wiring.positions.get((topic, partition))
            if position is not None:  # unknown until a batch of the partition (or after a failure)
                behind = max(end - position.last_offset - 1, 0)
                m.lag.labels(topic=topic, partition=str(partition)).set(behind)
                lag_shown.add((topic, partition))
        for topic, partition in lag_shown - ends.keys():  # revoked: another worker reports it
            m.lag.remove(topic, str(partition))
            lag_shown.discard((topic, partition))
