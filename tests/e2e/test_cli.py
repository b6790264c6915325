"""The command line against a running worker: replay, baselines, queries whose SQL runs as-is."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import orjson
from tests_support import inference, monitor_cli, reader_for, wait_until

from monitor.adapters.local_broker import free_port, wait_for_port


def test_replay_baselines_and_queries_through_the_cli(deployment, start_worker, tmp_path):
    worker = start_worker(MONITOR_BASELINE_SAMPLES="50", MONITOR_BASELINE_FROM_PREVIOUS="true")
    env = {**deployment.env(), "MONITOR_WEB_PORT": str(worker.web_port)}
    now = time.time() - 120
    events = tmp_path / "inference.jsonl"
    lines = [
        orjson.dumps(inference(f"r{i}", now + i * 0.1, version="v1", features={"x": float(i % 7)}))
        for i in range(300)
    ]
    lines.insert(
        10, b'{"request_id": "bad", "timestamp": "yesterday", "model": "m", "model_version": "v1"}'
    )
    events.write_bytes(b"\n".join(lines) + b"\n")

    replayed = monitor_cli("replay", str(events), "--kind", "inference", "--rate", "2000", env=env)
    assert "sent 300 events" in replayed.stdout and "1 rejected" in replayed.stdout
    assert "line 11: bad_timestamp" in replayed.stderr

    # the automatic baseline from the first 50 events, then a new version copies it
    wait_until(
        lambda: "v1" in monitor_cli("baseline", "list", "--format", "json", env=env).stdout,
        timeout=60,
        what="the automatic baseline of v1",
    )
    listed = json.loads(monitor_cli("baseline", "list", "--format", "json", env=env).stdout)
    assert [(b["model_version"], b["source"]) for b in listed] == [("v1", "first 50 events")]
    shown = json.loads(monitor_cli("baseline", "show", listed[0]["baseline_id"], env=env).stdout)
    assert shown["model_version"] == "v1" and "x" in shown["features"]
    monitor_cli(
        "replay", str(events), "--kind", "inference", env=env
    )  # same request ids, now as v2:
    v2 = tmp_path / "v2.jsonl"
    v2.write_bytes(
        b"\n".join(orjson.dumps(inference(f"s{i}", now + i * 0.1, version="v2")) for i in range(20))
    )
    monitor_cli("replay", str(v2), "--kind", "inference", env=env)
    wait_until(
        lambda: any(
            b["model_version"] == "v2"
            for b in json.loads(monitor_cli("baseline", "list", "--format", "json", env=env).stdout)
        ),
        timeout=60,
        what="v2's copied baseline",
    )
    copied = [
        b
        for b in json.loads(monitor_cli("baseline", "list", "--format", "json", env=env).stdout)
        if b["model_version"] == "v2"
    ]
    assert copied[0]["source"] == "copied from v1"
    deleted = monitor_cli("baseline", "delete", "--model", "m", "--version", "v2", env=env)
    assert "1 baseline deleted for m/v2" in deleted.stdout

    # a query prints SQL that runs as-is against the same database and gives the same rows
    wait_until(
        lambda: (
            "inference_events" in monitor_cli("query", "metrics", "--format", "csv", env=env).stdout
        ),
        timeout=60,
        what="metric windows",
    )
    done = monitor_cli(
        "query",
        "metrics",
        "--model",
        "m",
        "--metric",
        "inference_events",
        "--since",
        "1h",
        "--format",
        "json",
        env=env,
    )
    sql = done.stderr.strip().removeprefix("-- ")
    assert "{" not in sql and "'inference_events'" in sql
    printed = json.loads(done.stdout)
    direct = reader_for(worker).query(sql).rows
    assert len(printed) == len(direct) > 0
    assert [r["value"] for r in printed] == [round(row[6], 6) for row in direct]

    # a range without rows is a table without rows (the worker's reader names no column then)
    empty = monitor_cli(
        "query",
        "metrics",
        "--metric",
        "inference_events",
        "--since",
        "1d",
        "--until",
        "12h",
        env=env,
    )
    assert "Traceback" not in empty.stderr and "'inference_events'" in empty.stderr
    assert "inference_events" not in empty.stdout

    bad = monitor_cli("query", "drift", "--since", "not-a-time", env=env, check=False)
    assert bad.returncode != 0


def test_broker_command_runs_until_interrupted():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for_port("127.0.0.1", port, 30)
        first = process.stdout.readline() + process.stdout.readline()
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert f"MONITOR_KAFKA_BOOTSTRAP=127.0.0.1:{port}" in first
    assert "stopping broker" in out
    assert not wait_for_port("127.0.0.1", port, 1)
