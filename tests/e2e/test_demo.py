"""`monitor demo` on the embedded defaults: its own broker, a worker, progress, drift, a clean stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests_support import kill_brokers_on

from monitor.adapters.local_broker import wait_for_port


def test_demo_runs_on_embedded_defaults_and_stops_cleanly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--duration",
            "30s",
            "--rate",
            "150",
            "--window",
            "5s",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "local broker (Tansu, memory storage)" in out
    assert "injecting drift into support-assistant v2" in out
    progress = [line for line in out.splitlines() if "events/s" in line]
    assert len(progress) >= 5
    last = progress[-1]
    assert int(last.split("windows written")[1].split()[0]) > 0  # windows reached the store
    assert "satisfaction" in out and "human takeover" in out  # per-version outcome lines
    rates = [line for line in out.splitlines() if "task completion" in line]
    assert rates and all(
        re.search(r"satisfaction \d\.\d\d \[\d\.\d\d, \d\.\d\d\] n=\d+", line)
        for line in rates
        if "satisfaction -" not in line
    ), rates  # rates with intervals
    for line in out.splitlines():  # an alert names its model version once
        if "ALERT" in line:
            assert line.count("support-assistant v") == 1, (
                line
            )  # (experiment names may contain the model)
    assert "worker exited (0)" in out
    recap = out[out.index("\nRecap") :]
    assert "what drifted" in recap and "alerts:" in recap
    assert re.search(r"v2: \w+ PSI \d+\.\d\d \((moderate|significant)\)", recap), (
        recap
    )  # drift was injected
    assert re.search(
        r"experiment support-assistant-versions: v2 against v1: (ship|stop|continue|invalid) \(",
        recap,
    )
    effect = re.search(
        r"  task_completion: (\d\.\d+) -> (\d\.\d+), diff ([+-]?\d\.\d+) \(interval ([+-]?\d\.\d+) "
        r"to ([+-]?\d\.\d+), p (= \d\.\d{3}|< 0\.001), always valid\)",
        recap,
    )
    assert effect and len({len(x.split(".")[1]) for x in effect.groups()[:5]}) == 1, (
        recap
    )  # both arms, the difference and its interval with the same decimals
    assert re.search(
        r"v3 against v1: (promising|not_promising|collecting) \(.*\); \d+ pairs", recap
    ), recap
    assert re.search(r"  agreement [01]\.\d+ \(interval [01]\.\d+ to [01]\.\d+\)", recap), recap
    assert "monitor shadow report" in recap, recap
    assert "Next:" in recap and "monitor query metrics" in recap and "monitor alerts" in recap
    assert f"export MONITOR_CLICKHOUSE_URL=chdb://{tmp_path / 'demo' / 'clickhouse'}" in recap
    assert (tmp_path / "demo" / "clickhouse").is_dir()


def test_demo_stops_its_broker_when_it_fails_after_starting_it(tmp_path):
    """A bad setting fails the demo once its local broker is up (the settings are read after it):
    the demo exits with the error and no broker is left running on the port it announced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--duration", "5s"]
        + ["--data-dir", str(tmp_path / "demo")],
        env={**env, "MONITOR_BATCH_WITHIN": "abc"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    announced = re.search(
        r"local broker \(Tansu, memory storage\) on 127\.0\.0\.1:(\d+)", done.stdout
    )
    assert announced, done.stdout[-3000:] + done.stderr[-3000:]
    port = int(announced.group(1))
    left = kill_brokers_on(port)
    assert done.returncode != 0 and "MONITOR_BATCH_WITHIN" in done.stdout + done.stderr, (
        done.stdout[-3000:] + done.stderr[-3000:]
    )
    assert left == []
    assert not wait_for_port("127.0.0.1", port, 0.5)
