"""/health says so when the broker goes away under a running worker: the ingest consumer's fetches
go unanswered, and after MONITOR_HEALTH_FAILING_AFTER the worker is failing (503). An idle worker
whose broker answers stays ok. Meanwhile the worker's log holds a few lines each 10 s, not
aiokafka's hundred and more a second, and SIGTERM still stops it within seconds: cleanly when it is idle, by
force (code 75) when an offset commit waits for the broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests_support import inference, publish_raw, wait_until, written_inferences

from monitor.adapters.local_broker import LocalBroker
from monitor.tools.worker import BROKER_GONE_AFTER, EXIT_FORCED

FAILING_AFTER = 4.0
OUTAGE = 15.0  # seconds the broker is gone before the log is read
# aiokafka's four or five templates: each one line at first, then one each 10 s (about 1,500 lines
# in 10 s before they were throttled)
MAX_OUTAGE_LINES = 30
STOPS_WITHIN = 8.0  # seconds from SIGTERM to exit (15, the forced exit, before the fix)


@pytest.fixture()
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test alone, for it to stop."""
    broker = LocalBroker(log_path=tmp_path / "own-broker.log").start()
    yield broker
    broker.stop()


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


def test_a_worker_whose_broker_is_gone_logs_a_few_lines_and_stops_cleanly(
    deployment, start_worker, own_broker
):
    worker = start_worker(MONITOR_KAFKA_BOOTSTRAP=own_broker.bootstrap)
    wait_until(
        lambda: worker.health()["broker_answered_at"] is not None,
        timeout=30,
        what="a first fetch answer",
    )
    logged_before = len(worker.log_path.read_bytes().splitlines())
    own_broker.stop()
    time.sleep(OUTAGE)
    outage = worker.log_path.read_text(errors="replace").splitlines()[logged_before:]
    assert len(outage) <= MAX_OUTAGE_LINES, f"{len(outage)} lines in {OUTAGE:g} s: {outage[-5:]}"
    assert any("similar messages suppressed in the last" in line for line in outage), outage

    started = time.monotonic()
    code = worker.stop(timeout=30)  # SIGTERM; SIGKILL after 30 s
    stopped_in = time.monotonic() - started
    assert (code, stopped_in < STOPS_WITHIN) == (0, True), (
        f"exit code {code} after {stopped_in:.1f} s; see {worker.log_path}"
    )
    assert "Traceback" not in worker.log_path.read_text(errors="replace")


def test_sigterm_stops_within_seconds_while_a_commit_waits_for_the_gone_broker(
    deployment, start_worker, own_broker
):
    # offsets committed only on the way out: the batch's commit is still pending at the stop,
    # however late the kill comes after the write (at the 2.8 s default a loaded machine let the
    # commit through first, and the stop had nothing to wait for)
    worker = start_worker(
        MONITOR_KAFKA_BOOTSTRAP=own_broker.bootstrap, MONITOR_COMMIT_INTERVAL="600"
    )
    publish_raw(
        own_broker.bootstrap,
        deployment.topics["inference"],
        [orjson.dumps([inference("before", time.time())])],
    )
    wait_until(lambda: written_inferences(worker) == 1, what="an event written")
    own_broker.kill()  # the written batch's offsets (and Faust's) are not committed yet
    time.sleep(BROKER_GONE_AFTER + 3)

    started = time.monotonic()
    code = worker.stop(timeout=30)
    stopped_in = time.monotonic() - started
    assert (code, stopped_in < STOPS_WITHIN) == (EXIT_FORCED, True), (
        f"exit code {code} after {stopped_in:.1f} s; see {worker.log_path}"
    )
    log = worker.log_path.read_text(errors="replace")
    assert "the broker has not answered for" in log and "Traceback" not in log
