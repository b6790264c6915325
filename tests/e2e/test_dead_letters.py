"""`monitor dead-letters` on the dead letters a real worker wrote: the summary, the filters, the
records as JSON, the originals written for `monitor replay` (accepted once fixed), and what an
on-call engineer meets at night: no topic yet, an unknown reason, garbage on the topic, escape
sequences in an original, Ctrl-C (a broker that cannot be reached: test_broker_unreachable.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from tests_support import inference, monitor_cli, publish_raw, read_topic, wait_until

from monitor.contract.reasons import REJECTION_REASONS

RED = b"\x1b[31m"


def test_dead_letters_of_a_real_worker_summarised_filtered_and_replayed_once_fixed(
    deployment, start_worker, tmp_path: Path
) -> None:
    worker = start_worker()
    env = deployment.env()
    now = time.time()
    inference_messages = [
        orjson.dumps([inference("ok-1", now), {**inference("wt-1", now), "model_version": 3}]),
        orjson.dumps({k: v for k, v in inference("mf-1", now).items() if k != "model"}),
        b'{"request_id": "' + RED + b'red", ',  # not JSON: the original is the raw message
        b"\xff\xfe\x00 not json",
    ]
    feedback = [
        {"request_id": "f1", "timestamp": now, "rating": 7},
        {"request_id": "f2", "timestamp": now, "thumbs": "sideways"},
    ]
    publish_raw(deployment.broker.bootstrap, deployment.topics["inference"], inference_messages)
    publish_raw(
        deployment.broker.bootstrap, deployment.topics["feedback"], [orjson.dumps(feedback)]
    )
    stored = read_topic(deployment.broker.bootstrap, deployment.topics["dlq"], 6, timeout=120)
    assert len(stored) == 6
    publish_raw(deployment.broker.bootstrap, deployment.topics["dlq"], [b"\x00garbage \x1b[2J"])

    shown = monitor_cli("dead-letters", env=env)
    out = shown.stdout
    assert "6 dead letters in " + deployment.topics["dlq"] in out
    assert "inference 4" in out and "feedback 2" in out
    assert "1 unreadable record skipped" in out
    for kind, reason, field in [
        ("inference", "wrong_type", "model_version"),
        ("inference", "missing_field", "model"),
        ("inference", "undecodable", "-"),
        ("inference", "not_utf8", "-"),
        ("feedback", "out_of_range", "rating"),
        ("feedback", "bad_choice", "thumbs"),
    ]:
        assert re.search(rf"^{kind}\s+{reason}\s+{re.escape(field)}\s+1$", out, re.MULTILINE), (
            kind,
            out,
        )
    assert "the latest 6 of 6:" in out
    assert "\x1b" not in out and '{"request_id": "\\x1b[31mred", ' in out  # escaped, not acted on
    assert "(not UTF-8: original_base64, see --format json)" in out

    rating = monitor_cli("dead-letters", "--reason", "out_of_range", "--limit", "5", env=env).stdout
    assert "1 dead letter matching --reason out_of_range" in rating
    latest = rating.split("the latest 1 of 1:\n", 1)[1].splitlines()
    assert len(latest) == 1 and "  feedback  out_of_range  rating  " in latest[0]
    assert '"rating": 7' in latest[0] or '"rating":7' in latest[0]

    as_json = monitor_cli("dead-letters", "--kind", "feedback", "--format", "json", env=env)
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert sorted(r["reason"] for r in records) == ["bad_choice", "out_of_range"]
    assert all(r in stored for r in records)  # the records as stored
    assert "2 dead letters matching --kind feedback" in as_json.stderr
    since = monitor_cli("dead-letters", "--since", "1h", "--format", "json", env=env).stdout
    assert len(since.splitlines()) == 6

    mixed = monitor_cli(
        "dead-letters", "--originals", str(tmp_path / "x.jsonl"), env=env, check=False
    )
    assert mixed.returncode == 2 and "choose one with --kind" in mixed.stderr
    assert not list(tmp_path.glob("*x.jsonl*"))  # nothing written, nothing left behind

    wrote = monitor_cli(
        "dead-letters", "--kind", "inference", "--originals", str(tmp_path / "inf.jsonl"), env=env
    )
    assert "wrote 3 originals to" in wrote.stdout and "1 not UTF-8 left out" in wrote.stdout

    path = tmp_path / "feedback.jsonl"
    wrote = monitor_cli("dead-letters", "--kind", "feedback", "--originals", str(path), env=env)
    assert f"fix them, then: monitor replay {path} --kind feedback" in wrote.stdout
    originals = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(o["request_id"] for o in originals) == ["f1", "f2"]
    fixed = [{**o, "rating": 5} if "rating" in o else {**o, "thumbs": "up"} for o in originals]
    path.write_text("".join(json.dumps(o) + "\n" for o in fixed))
    replayed = monitor_cli("replay", str(path), "--kind", "feedback", env=env)
    assert "sent 2 events" in replayed.stdout and "0 rejected" in replayed.stdout
    wait_until(
        lambda: worker.metric("monitor_events_total", {"kind": "feedback"}) == 2,
        timeout=120,
        what="the fixed feedback counted by the worker",
    )
    again = monitor_cli(
        "dead-letters", "--kind", "feedback", "--originals", str(path), env=env, check=False
    )
    assert again.returncode == 2 and "exists" in again.stderr  # a fixed file is never overwritten


def _topics(bootstrap: str) -> set[str]:
    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(listed())


def test_no_topic_yet_and_an_unknown_reason(broker, unique: str) -> None:
    topic = f"t{unique}.no-dlq"
    env = {"MONITOR_KAFKA_BOOTSTRAP": broker.bootstrap, "MONITOR_DLQ_TOPIC": topic}
    missing = monitor_cli("dead-letters", env=env)
    assert f"no dead letters: the topic {topic} does not exist yet" in missing.stdout
    assert topic not in _topics(broker.bootstrap)  # reading did not create it

    unknown = monitor_cli("dead-letters", "--reason", "bad_rating", env=env, check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: --reason 'bad_rating' is not a known rejection reason")
    assert all(reason in unknown.stderr for reason in REJECTION_REASONS)


def test_ctrl_c_while_the_broker_does_not_answer_exits_130_without_a_traceback() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(silent.accept()[0])
                # the client's first request: it now waits for an answer that never comes (a
                # signal while asyncio completes the connect itself races a CPython callback)
                held[-1].recv(1)
            except OSError:  # closed at the end of the test
                return
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    env = {**os.environ, "MONITOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{silent.getsockname()[1]}"}
    command = subprocess.Popen(
        [sys.executable, "-m", "monitor", "dead-letters"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert connected.wait(60), "the command never sent a request"
        command.send_signal(signal.SIGINT)
        _, stderr = command.communicate(timeout=60)
    finally:
        command.kill()
        silent.close()
        for connection in held:
            connection.close()
    assert command.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in stderr
