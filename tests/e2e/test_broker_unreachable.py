"""Every command that talks to Kafka, run as ``python -m monitor`` with MONITOR_KAFKA_BOOTSTRAP at a
closed loopback port, a server that never answers, or a broker that refuses the login: exit code 2
and one ``error:`` line naming the address and the cause, no traceback, within the check's timeout
(before: aiokafka's KafkaConnectionError traceback and exit code 1, or 40 s of silence first)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from judge_support import ScriptedJudge, ThreadedJudge

from monitor.adapters.broker_check import CHECK_TIMEOUT_SECONDS
from monitor.adapters.local_broker import LocalBroker, free_port


def run_monitor(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done, time.monotonic() - started


def assert_one_error_line(done: subprocess.CompletedProcess[str], expected_start: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert done.stderr.splitlines() == [done.stderr.splitlines()[-1]], output[-3000:]
    assert done.stderr.startswith(expected_start), output[-3000:]
    assert "Traceback" not in output and "Unclosed" not in output, output[-3000:]


@pytest.fixture()
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"request_id": "r1", "timestamp": 1767225600, "model": "m", "version": "v1"}\n'
    )
    return path


COMMANDS = {
    "replay": lambda tmp: ["replay", str(tmp / "events.jsonl"), "--kind", "inference"],
    "dead-letters": lambda tmp: ["dead-letters"],
    "judge": lambda tmp: ["judge"],
    "demo": lambda tmp: ["demo", "--duration", "5s", "--data-dir", str(tmp / "demo")],
    "bench": lambda tmp: ["bench", "--events", "100", "--no-latency"],
    "worker": lambda tmp: ["worker"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_closed_port_is_one_error_line_naming_it(
    command: str, tmp_path: Path, events_file: Path
) -> None:
    port = free_port()
    env = {
        "MONITOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}",
        "MONITOR_WEB_PORT": str(free_port()),
    }
    with ThreadedJudge(ScriptedJudge()) as judge:  # the judge's endpoint answers: only Kafka fails
        env |= {"MONITOR_JUDGE_URL": judge.url, "MONITOR_JUDGE_MODEL": "judge-1"}
        done, took = run_monitor(COMMANDS[command](tmp_path), env, tmp_path)
    assert_one_error_line(
        done,
        f"error: cannot connect to the Kafka broker at 127.0.0.1:{port} "
        f"(MONITOR_KAFKA_BOOTSTRAP, PLAINTEXT): [Errno 111] Connect call failed",
    )
    assert took < 30


def test_a_server_that_never_answers_is_given_up_on_after_the_check_timeout(
    tmp_path: Path, events_file: Path
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        done, took = run_monitor(
            COMMANDS["replay"](tmp_path), {"MONITOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}, tmp_path
        )
    assert_one_error_line(
        done,
        f"error: cannot connect to the Kafka broker at 127.0.0.1:{port} (MONITOR_KAFKA_BOOTSTRAP, "
        f"PLAINTEXT): no answer within {CHECK_TIMEOUT_SECONDS:g} s",
    )
    assert CHECK_TIMEOUT_SECONDS <= took < CHECK_TIMEOUT_SECONDS + 15


@pytest.mark.parametrize(
    ("mechanism", "cause"),
    [
        ("SCRAM-SHA-256", "the broker refused the SASL login"),
        ("PLAIN", "KafkaConnectionError: Connection at 127.0.0.1:{port} closed"),
    ],
)
def test_a_refused_login_is_one_error_line_without_the_password(
    scram_broker: LocalBroker, mechanism: str, cause: str, tmp_path: Path, events_file: Path
) -> None:
    env = {
        "MONITOR_KAFKA_BOOTSTRAP": scram_broker.bootstrap,
        "MONITOR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MONITOR_KAFKA_SASL_MECHANISM": mechanism,
        "MONITOR_KAFKA_SASL_USERNAME": "mallory",
        "MONITOR_KAFKA_SASL_PASSWORD": "pw-e2e-secret",
    }
    done, _ = run_monitor(COMMANDS["replay"](tmp_path), env, tmp_path)
    assert_one_error_line(
        done,
        f"error: cannot connect to the Kafka broker at {scram_broker.bootstrap} "
        f"(MONITOR_KAFKA_BOOTSTRAP, SASL_PLAINTEXT {mechanism} as 'mallory'): "
        + cause.format(port=scram_broker.port),
    )
    assert "pw-e2e-secret" not in done.stdout + done.stderr
