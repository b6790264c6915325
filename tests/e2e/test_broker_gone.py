"""/health says so when the broker goes away under a running worker: the ingest consumer's fetches
go unanswered, and after MONITOR_HEALTH_FAILING_AFTER the worker is failing (503). An idle worker
whose broker answers stays ok."""

from __future__ import annotations

import time

from tests_support import wait_until

from monitor.adapters.local_broker import LocalBroker

FAILING_AFTER = 4.0


def test_an_idle_worker_stays_ok_and_a_silent_broker_makes_it_fail(
    deployment, start_worker, tmp_path
):
    broker = LocalBroker(log_path=tmp_path / "own-broker.log").start()  # this test stops it
    try:
        worker = start_worker(
            MONITOR_KAFKA_BOOTSTRAP=broker.bootstrap,
            MONITOR_HEALTH_FAILING_AFTER=f"{FAILING_AFTER:g}s",
        )
        wait_until(
            lambda: worker.health()["broker_answered_at"] is not None,
            timeout=30,
            what="a first fetch answer",
        )
        idle_until = time.time() + 3 * FAILING_AFTER  # idle well past the threshold
        while time.time() < idle_until:
            body = worker.health()
            assert body["status"] == "ok", body
            assert time.time() - body["broker_answered_at"] < FAILING_AFTER, body
            time.sleep(0.5)
    finally:
        broker.stop()
    wait_until(
        lambda: worker.health()["status"] == "failing",
        timeout=30,
        what="/health failing once the broker is gone",
    )
    body = worker.health()
    assert body["last_error"].startswith("no fetch answer from the broker for "), body
