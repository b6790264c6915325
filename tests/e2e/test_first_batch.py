"""Drift exact from a worker's first batch: a baseline built, a worker started, a file replayed at
once; every window's drift rows are scored on all of the window's inference events, also across a
kill -9 and restart in the middle of the replay."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import orjson
from tests_support import monitor_cli, reader_for, wait_until

WINDOW = 60
N_WINDOWS = 6
PER_WINDOW = 400
FEATURES = ("x", "lang")
ROWS = (
    "SELECT toFloat64(window_start), feature, n_current, n_events, partial FROM monitor.drift_windows FINAL "
    "WHERE window_end - window_start = {w:UInt32} ORDER BY window_start, feature"
)
EVENTS = (
    "SELECT toFloat64(window_start), sum(value) FROM monitor.metric_windows FINAL "
    "WHERE metric = 'inference_events' GROUP BY window_start ORDER BY window_start"
)


def write_files(tmp_path) -> tuple[str, str, float]:
    """A reference file and a replay of N_WINDOWS whole windows that ended before now."""
    rng = np.random.default_rng(8)
    reference = tmp_path / "reference.jsonl"
    reference.write_bytes(
        b"\n".join(
            orjson.dumps(
                {
                    "features": {
                        "x": float(rng.normal()),
                        "lang": str(rng.choice(["en", "fr", "de"])),
                    }
                }
            )
            for _ in range(2000)
        )
    )
    start = (int(time.time()) // WINDOW - N_WINDOWS - 1) * WINDOW
    events = tmp_path / "inference.jsonl"
    events.write_bytes(
        b"\n".join(
            orjson.dumps(
                {
                    "request_id": f"r{w}-{i}",
                    "timestamp": start + w * WINDOW + i * WINDOW / PER_WINDOW,
                    "model": "m",
                    "model_version": "v1",
                    "features": {"x": float(rng.normal()), "lang": str(rng.choice(["en", "fr"]))},
                }
            )
            for w in range(N_WINDOWS)
            for i in range(PER_WINDOW)
        )
    )
    return str(reference), str(events), float(start)


def assert_every_window_scored_whole(worker, start: float, closed: int) -> None:
    reader = reader_for(worker)
    expected = [
        (start + w * WINDOW, f, PER_WINDOW, PER_WINDOW, 0)
        for w in range(closed)
        for f in sorted(FEATURES)
    ]
    wait_until(
        lambda: reader.query(ROWS, {"w": WINDOW}).rows == expected,
        timeout=90,
        what=f"drift rows of {closed} windows with n_current == n_events == {PER_WINDOW}",
    )
    events = dict(reader.query(EVENTS).rows)
    assert [events[start + w * WINDOW] for w in range(N_WINDOWS)] == [PER_WINDOW] * N_WINDOWS


def test_a_replay_started_with_the_worker_is_scored_on_every_event(
    deployment, start_worker, tmp_path
):
    reference, events, start = write_files(tmp_path)
    env = deployment.env()
    monitor_cli("baseline", "build", reference, "--model", "m", "--version", "v1", env=env)
    worker = start_worker(
        MONITOR_ALLOWED_LATENESS="0s", MONITOR_REFRESH_INTERVAL="2", MONITOR_IDLE_TIMEOUT="2s"
    )
    monitor_cli(
        "replay",
        events,
        "--kind",
        "inference",
        env={**env, "MONITOR_WEB_PORT": str(worker.web_port)},
    )
    # the newest window too: no event passes its end, the idle timeout closes it
    assert_every_window_scored_whole(worker, start, N_WINDOWS)


def test_kill_9_and_restart_mid_replay_keep_every_window_whole(deployment, start_worker, tmp_path):
    reference, events, start = write_files(tmp_path)
    env = deployment.env()
    monitor_cli("baseline", "build", reference, "--model", "m", "--version", "v1", env=env)
    settings = {
        "MONITOR_ALLOWED_LATENESS": "0s",
        "MONITOR_REFRESH_INTERVAL": "2",
        "MONITOR_BATCH_SIZE": "50",
        "MONITOR_IDLE_TIMEOUT": "2s",
    }
    crashing = start_worker(**settings)
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "replay",
            events,
            "--kind",
            "inference",
            "--rate",
            "300",
            "--batch-size",
            "10",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: crashing.metric("monitor_events_total") >= PER_WINDOW // 4,
            timeout=60,
            what="the worker to fold the first events",
        )
        crashing.kill()
        assert replay.poll() is None, "the replay finished before the worker was killed"
        restarted = start_worker(**settings)
        assert replay.wait(60) == 0, replay.stdout.read() if replay.stdout else ""
    finally:
        if replay.poll() is None:
            replay.kill()
    assert_every_window_scored_whole(restarted, start, N_WINDOWS)
