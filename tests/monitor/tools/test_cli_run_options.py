"""The options of the commands that run a process (ui, broker, worker, judge) or feed one
(replay) are refused before anything starts: one usage error naming the option, never a
traceback. ``monitor ui --port 0`` listens on a free port and prints which."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from tests_support import monitor_cli, running_ui
from typer.testing import CliRunner

from monitor.tools.cli import app


def made_store(tmp_path: Path) -> str:
    """An embedded store made by another process (chdb opens one directory per process)."""
    url = f"chdb://{tmp_path / 'store'}"
    reference = tmp_path / "reference.jsonl"
    reference.write_text('{"features": {"x": 1.0}}\n{"features": {"x": 2.0}}\n')
    build = ("baseline", "build", str(reference), "--model", "m", "--version", "v1")
    monitor_cli(*build, env={"MONITOR_CLICKHOUSE_URL": url}, timeout=60)
    return url


@pytest.mark.parametrize(
    "args",
    [
        ["ui", "--port", "99999"],  # bind()'s OverflowError
        ["ui", "--port", "-1"],
        ["broker", "--port", "1" + "0" * 400],  # 'Python int too large to convert to C long'
    ],
)
def test_a_port_outside_0_to_65535_is_a_usage_error(args: list[str], tmp_path: Path) -> None:
    url = made_store(tmp_path)  # the ui's store: the port is what is wrong
    done = monitor_cli(*args, env={"MONITOR_CLICKHOUSE_URL": url}, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"error: --port {args[-1]!r}: expected an integer >= 0 and <= 65535"
    ]


@pytest.mark.parametrize(("host", "shown"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_ui_on_port_0_prints_the_port_it_listens_on(tmp_path: Path, host: str, shown: str) -> None:
    """Before: the URL printed was http://127.0.0.1:0/, whatever port the server was given, and an
    IPv6 host was printed without brackets (http://::1:8050/)."""
    url = made_store(tmp_path)
    with running_ui({"MONITOR_CLICKHOUSE_URL": url}, host) as ui:
        printed = re.fullmatch(
            rf"dashboard of {re.escape(url)}: http://{re.escape(shown)}:(\d+)/\n", ui.line
        )
        assert printed, ui.line
        port = int(printed[1])
        assert port != 0
        with urllib.request.urlopen(f"http://{shown}:{port}/", timeout=30) as page:
            assert page.status == 200 and "<html" in page.read().decode()
    assert ui.process.returncode == 0, ui.stderr


@pytest.mark.parametrize("command", ["worker", "judge"])
def test_an_unknown_loglevel_names_the_levels(command: str, tmp_path: Path) -> None:
    env = {
        "MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}",
        "MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    done = monitor_cli(command, "--loglevel", "loud", env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --loglevel 'loud': one of critical, error, warning, info, debug"
    ]
    assert not (tmp_path / "store").exists()  # refused before the store was opened


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--batch-size", "0"),  # range()'s ValueError traceback once the broker answered
        ("--batch-size", "-1"),  # every event 'not accepted'
        ("--rate", "-1"),
    ],
)
def test_replay_refuses_a_batch_size_below_1_and_a_negative_rate(
    tmp_path: Path, option: str, value: str
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"request_id": "r1", "timestamp": 1767225600, "model": "m"}\n')
    result = CliRunner().invoke(
        app,
        ["replay", str(events), "--kind", "inference", option, value],
        env={"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.exit_code == 2, result.output
    kind = "an integer >= 1" if option == "--batch-size" else "a number >= 0.0"
    assert result.stderr.splitlines() == [f"error: {option} {value!r}: expected {kind}"]


@pytest.mark.parametrize("option", ["--timeout", "--progress"])
def test_replay_durations_are_at_most_365_days(tmp_path: Path, option: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"request_id": "r1", "timestamp": 1767225600, "model": "m"}\n')
    result = CliRunner().invoke(
        app,
        ["replay", str(events), "--kind", "inference", option, "366d"],
        env={"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"error: {option} '366d': at most 365d"]


def test_ui_host_that_no_name_can_be_is_refused_as_beyond_loopback(tmp_path: Path) -> None:
    url = made_store(tmp_path)
    host = "x" * 100  # a label over 63 characters: the idna codec's UnicodeError traceback
    done = monitor_cli("ui", "--host", host, env={"MONITOR_CLICKHOUSE_URL": url}, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    expected = (
        f"error: MONITOR_WEB_HOST={host} is not a loopback address: set MONITOR_WEB_TOKEN (e.g. "
        "`export MONITOR_WEB_TOKEN=$(openssl rand -hex 32)`) or bind 127.0.0.1"
    )
    assert done.stderr.strip().splitlines() == [expected]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--rate", "nan"),  # int(nan): a ValueError traceback once broker and worker ran
        ("--rate", "1" + "0" * 400),  # an OverflowError traceback, likewise
        ("--drift-at", "-1"),
    ],
)
def test_demo_refuses_a_rate_or_drift_share_it_cannot_run(
    tmp_path: Path, option: str, value: str
) -> None:
    args = ("demo", "--data-dir", str(tmp_path / "demo"), option, value)
    done = monitor_cli(*args, env={"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()  # one line, never Typer's box or a traceback
    assert line.startswith(f"error: {option} {value!r}: expected a number >= 0.0"), line
    assert not (tmp_path / "demo").exists()  # refused before anything started


@pytest.mark.parametrize(("duration", "seconds"), [("1m", 60.0), ("90s", 90.0), ("0", 0.0)])
def test_demo_duration_takes_a_duration_with_its_unit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, duration: str, seconds: float
) -> None:
    """Before: `--duration 1m` was Typer's boxed 'Input should be a valid number'."""
    ran: dict[str, object] = {}
    monkeypatch.setattr("monitor.tools.demo.run_demo", lambda **kwargs: ran.update(kwargs) or 0)
    args = ["demo", "--data-dir", str(tmp_path / "demo"), "--duration", duration]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ran["duration"] == seconds


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("60", "--duration '60': a duration needs a unit: 60s, 60m or 60h"),
        ("nan", "--duration 'nan': expected a duration like 10s, 5m, 2h, 7d"),  # ran until Ctrl-C
        ("366d", "--duration '366d': at most 365d"),
    ],
)
def test_demo_refuses_a_duration_without_a_unit_or_past_a_year(
    tmp_path: Path, duration: str, expected: str
) -> None:
    args = ("demo", "--data-dir", str(tmp_path / "demo"), "--duration", duration)
    done = monitor_cli(*args, env={"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {expected}"]
    assert not (tmp_path / "demo").exists()  # refused before anything started


@pytest.mark.parametrize(
    ("duration", "passed"), [(None, "2m"), ("60", "60s"), ("2.5", "2.5s"), ("5m", "5m")]
)
def test_make_demo_gives_a_bare_duration_its_unit_of_seconds(
    duration: str | None, passed: str
) -> None:
    """`make demo DURATION=60` (README) still runs 60 s now that --duration needs a unit."""
    root = Path(__file__).resolve().parents[3]
    given = [f"DURATION={duration}"] if duration else []
    done = subprocess.run(
        ["make", "-s", "-n", "-C", str(root), "demo", *given],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1].endswith(f"monitor demo --duration {passed}"), done.stdout


@pytest.mark.parametrize("window", ["0s", "500ms"])
def test_demo_refuses_a_window_under_a_second_before_anything_starts(
    tmp_path: Path, window: str
) -> None:
    """Before: the demo started its broker and traffic, its worker stopped at once ('MONITOR_WINDOW
    '0s' is shorter than one second', in the worker's log) and the demo exited 0."""
    args = ("demo", "--data-dir", str(tmp_path / "demo"), "--window", window)
    done = monitor_cli(*args, env={"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [f"error: --window {window!r}: at least 1s"]
    assert not (tmp_path / "demo").exists()


def test_worker_web_port_0_is_a_settings_error_before_anything_opens(tmp_path: Path) -> None:
    """Before: the worker opened its store, then Faust refused port 0 with a traceback
    (ImproperlyConfigured: Value 0 is out of range for Port)."""
    store = tmp_path / "store"
    env = {"MONITOR_WEB_PORT": "0", "MONITOR_CLICKHOUSE_URL": f"chdb://{store}"}
    done = monitor_cli("worker", env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: MONITOR_WEB_PORT='0': expected an integer >= 1 and <= 65535"
    ]
    assert not store.exists()
