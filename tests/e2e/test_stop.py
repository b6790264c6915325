"""SIGTERM stops a worker within seconds even while it retries a batch against a dead store, and
that batch is not lost: its offsets are not committed, the next worker writes it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import orjson
import pytest
from tests_support import (
    inference,
    missing_service,
    publish_raw,
    wait_until,
    written_inferences,
)

from monitor.adapters.local_broker import free_port, wait_for_port
from streams.agents import EXIT_UNWRITTEN


def health(worker) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{worker.url}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class RedisServer:
    """A redis-server of this test alone, so it can be killed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if not binary:
            missing_service("redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for_port("127.0.0.1", self.port, 10), "redis-server did not start"
        return self

    def pause(self) -> None:
        """SIGSTOP: connections still open, nothing answers (a hung store, not a refused one)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture()
def redis_server():
    server = RedisServer().start()
    yield server
    server.kill()


def test_sigterm_while_retrying_against_a_dead_store_stops_fast_and_loses_nothing(
    deployment, start_worker, redis_server
):
    env = {
        "MONITOR_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "MONITOR_HEALTH_FAILING_AFTER": "2s",
    }
    worker = start_worker(**env)
    bootstrap, topic = deployment.broker.bootstrap, deployment.topics["inference"]
    publish_raw(
        bootstrap, topic, [orjson.dumps([inference(f"before-{i}", time.time()) for i in range(3)])]
    )
    wait_until(lambda: written_inferences(worker) == 3, what="events before the outage")
    assert health(worker)[1]["status"] == "ok"

    redis_server.kill()  # the join store is gone: every batch now fails, retryably
    publish_raw(
        bootstrap, topic, [orjson.dumps([inference(f"during-{i}", time.time()) for i in range(2)])]
    )
    wait_until(
        lambda: health(worker)[1]["consecutive_failures"] >= 2, what="the worker retrying the batch"
    )
    wait_until(lambda: health(worker)[0] == 503, what="/health to report failing")
    _, body = health(worker)
    assert body["status"] == "failing" and "Connection refused" in body["last_error"]

    started = time.monotonic()
    code = worker.stop(timeout=30)
    stopped_in = time.monotonic() - started
    assert code == EXIT_UNWRITTEN, f"exit code {code}; see {worker.log_path}"
    assert stopped_in < 10, f"SIGTERM took {stopped_in:.1f} s"
    assert b"not written" in worker.log_path.read_bytes()

    redis_server.start()  # back, on the same port: the next worker writes the batch the first one could not
    again = start_worker(**env)
    wait_until(lambda: written_inferences(again) == 5, what="the batch that was being retried")
    # only that batch, once (its metrics are counted just after the write)
    wait_until(
        lambda: again.metric("monitor_events_total", {"kind": "inference"}) == 2,
        what="the batch's metrics",
    )
    assert written_inferences(again) == 5

    started = time.monotonic()  # and an idle worker stops cleanly, just as fast
    assert again.stop(timeout=30) == 0
    assert time.monotonic() - started < 10


def test_sigterm_while_a_store_call_hangs_stops_within_seconds(
    deployment, start_worker, redis_server
):
    worker = start_worker(MONITOR_REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0")
    bootstrap, topic = deployment.broker.bootstrap, deployment.topics["inference"]
    publish_raw(bootstrap, topic, [orjson.dumps([inference("before", time.time())])])
    wait_until(lambda: written_inferences(worker) == 1, what="an event before the hang")
    redis_server.pause()  # the join store call of the next batch blocks on a socket that never answers
    publish_raw(bootstrap, topic, [orjson.dumps([inference("during", time.time())])])
    time.sleep(3)  # the batch is in the store thread, waiting
    started = time.monotonic()
    code = worker.stop(timeout=30)
    assert code == EXIT_UNWRITTEN and time.monotonic() - started < 10, (
        code,
        time.monotonic() - started,
    )
    assert b"did not return within" in worker.log_path.read_bytes()
