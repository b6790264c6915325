"""`monitor replay` whose broker goes away in the middle of a file: it says through which line the
file was sent, stops on Ctrl-C at once (exit 130) or once the broker has confirmed nothing for
``--timeout`` (exit 2), in one line, without a traceback and without aiokafka's flood of lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from tests_support import read_topic, wait_until

from monitor.adapters.local_broker import LocalBroker

EVENTS = 3000  # one a line; the replay sends 1,000 at a time, then waits as --rate asks
RATE = "100"  # the second 1,000 go 10 s after the first: the broker is stopped in between


@pytest.fixture()
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    now = time.time()
    lines = (
        orjson.dumps({"request_id": f"r{i}", "timestamp": now, "model": "m", "model_version": "v1"})
        for i in range(EVENTS)
    )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def replay_until_the_broker_is_gone(
    events_file: Path, tmp_path: Path, unique: str, *options: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """A replay whose first 1,000 events the broker took, then the broker stopped."""
    own = LocalBroker(log_path=tmp_path / "own-broker.log").start()
    topic = f"t{unique}.inference"
    log_path = tmp_path / "replay.log"
    env = {**os.environ, "MONITOR_KAFKA_BOOTSTRAP": own.bootstrap, "MONITOR_INFERENCE_TOPIC": topic}
    with open(log_path, "wb") as log:
        replay = subprocess.Popen(
            [sys.executable, "-m", "monitor", "replay", str(events_file), "--kind", "inference"]
            + ["--rate", RATE, *options],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # up to 100 events a message, per partition: count events, not messages
        wait_until(
            lambda: sum(map(len, read_topic(own.bootstrap, topic, expected=10, timeout=3))) == 1000,
            timeout=60,
            what="the first 1,000 events in the topic",
        )
    finally:
        own.stop()
    return replay, log_path


def last_line_and_log(log_path: Path) -> tuple[str, str]:
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert len([line for line in text.splitlines() if "aiokafka" in line]) <= 30, text[-2000:]
    return text.splitlines()[-1], text


def test_ctrl_c_while_the_broker_is_gone_says_through_which_line_it_sent(
    events_file, tmp_path, unique
) -> None:
    """Before: Ctrl-C waited about 40 s for aiokafka to give up on its pending messages, then
    printed a traceback and nothing of what had been sent."""
    replay, log_path = replay_until_the_broker_is_gone(events_file, tmp_path, unique)
    try:
        time.sleep(2)
        replay.send_signal(signal.SIGINT)
        assert replay.wait(8) == 130
    finally:
        replay.kill()
    last, _ = last_line_and_log(log_path)
    assert last == (
        f"interrupted: 1000 events of {events_file} were sent, through line 1000; replay the "
        "lines after it (an inference sent twice counts once, see docs/events.md)"
    )


def test_a_broker_that_confirms_nothing_stops_the_replay_with_one_line(
    events_file, tmp_path, unique
) -> None:
    """Before: about 48 s after the broker went, a traceback of NodeNotReadyError after 1,700 lines
    of aiokafka's, and nothing of what had been sent."""
    replay, log_path = replay_until_the_broker_is_gone(
        events_file, tmp_path, unique, "--timeout", "2s"
    )
    try:
        assert replay.wait(30) == 2
    finally:
        replay.kill()
    last, _ = last_line_and_log(log_path)
    assert last.startswith("error: the Kafka broker at 127.0.0.1:") and last.endswith(
        f"1000 events of {events_file} were sent, through line 1000; replay the lines after it "
        "(an inference sent twice counts once, see docs/events.md)"
    )
