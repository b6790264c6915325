"""`monitor demo` on the embedded defaults: its own broker, a worker, progress, drift, a clean stop."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_on_embedded_defaults_and_stops_cleanly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--duration", "30", "--rate", "150", "--window", "5s",
         "--data-dir", str(tmp_path / "demo")],
        env=env, capture_output=True, text=True, timeout=240,
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
    assert "worker exited (0)" in out
    assert (tmp_path / "demo" / "clickhouse").is_dir()
