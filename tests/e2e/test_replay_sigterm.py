"""`monitor replay` stopped by SIGTERM (``kill``, systemd, Kubernetes) ends as on Ctrl-C: the
producer closed, one line on stderr saying through which line the file was sent, exit 143."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from tests_support import read_topic, wait_until

from monitor.adapters.local_broker import LocalBroker

EVENTS = 3000  # one a line
CHUNK = 100  # the replay sends 10 x --batch-size events, waits for them, then as --rate asks
RATE = "10"  # a chunk every 10 s: the whole file would take 5 minutes


def events_in_topic(bootstrap: str, topic: str) -> list[str]:
    """The request_ids of every event in ``topic`` (a message holds one event or an array)."""
    records = read_topic(bootstrap, topic, expected=EVENTS, timeout=3)
    batches = [r if isinstance(r, list) else [r] for r in records]
    return [event["request_id"] for batch in batches for event in batch]


def test_sigterm_stops_the_replay_as_ctrl_c_does_with_exit_143(
    broker: LocalBroker, tmp_path: Path, unique: str
) -> None:
    """Before: SIGTERM killed the replay at once, exit -15, without a word of what had been sent."""
    path = tmp_path / "events.jsonl"
    now = time.time()
    path.write_bytes(
        b"\n".join(
            orjson.dumps(
                {"request_id": f"r{i}", "timestamp": now, "model": "m", "model_version": "v1"}
            )
            for i in range(EVENTS)
        )
        + b"\n"
    )
    topic = f"t{unique}.inference"
    env = {
        **os.environ,
        "MONITOR_KAFKA_BOOTSTRAP": broker.bootstrap,
        "MONITOR_INFERENCE_TOPIC": topic,
    }
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        replay = subprocess.Popen(
            [sys.executable, "-m", "monitor", "replay", str(path), "--kind", "inference"]
            + ["--batch-size", str(CHUNK // 10), "--rate", RATE],
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        # the second chunk is only sent once the broker confirmed the first
        wait_until(
            lambda: len(events_in_topic(broker.bootstrap, topic)) >= 2 * CHUNK,
            timeout=120,
            what="the first two chunks in the topic",
        )
        replay.send_signal(signal.SIGTERM)
        assert replay.wait(60) == 143
    finally:
        replay.kill()
    stderr = (tmp_path / "stderr").read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.splitlines()[-1]
    said = re.fullmatch(
        rf"interrupted: (\d+) events of {re.escape(str(path))} were sent, through line (\d+); "
        r"replay the lines after it \(an inference sent twice counts once, see docs/events\.md\)",
        last,
    )
    assert said, last
    sent, through = int(said[1]), int(said[2])
    assert sent == through and sent >= CHUNK and sent % CHUNK == 0, last
    # every line up to the one it names is in the topic: replaying the lines after it loses nothing
    in_topic = set(events_in_topic(broker.bootstrap, topic))
    assert {f"r{i}" for i in range(through)} <= in_topic, last
    assert (tmp_path / "stdout").read_text() == ""
