"""`monitor simulate`: files every line of which the topics accept, in time order, and no overwrite."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests_support import monitor_cli
from typer.testing import CliRunner

from monitor.contract.decode import decode_message
from monitor.tools.cli import app


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_the_files_hold_valid_events_in_time_order_over_the_span(tmp_path: Path) -> None:
    before = time.time()
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--out",
            str(tmp_path),
            "--events",
            "3000",
            "--span",
            "10m",
            "--reference",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "monitor baseline build --model support-assistant --version v1" in result.output
    assert "monitor baseline build --model support-assistant --version v2" in result.output
    now = time.time()
    for name, kind, count in (
        ("reference.jsonl", "inference", 500),
        ("inference.jsonl", "inference", 3000),
        ("feedback.jsonl", "feedback", None),
    ):
        raw = lines(tmp_path / name)
        decoded = [decode_message(line, kind, now=now + 60) for line in raw]
        assert all(len(d.events) == 1 and not d.rejections for d in decoded), name
        assert count is None or len(raw) == count
        times = [json.loads(line)["timestamp"] for line in raw]
        assert times == sorted(times), name
    inference_times = [
        json.loads(line)["timestamp"] for line in lines(tmp_path / "inference.jsonl")
    ]
    assert before - 600 - 1 <= inference_times[0] < inference_times[-1] <= now
    versions = {json.loads(line)["model_version"] for line in lines(tmp_path / "inference.jsonl")}
    assert versions == {"v1", "v2"}
    answered = {json.loads(line)["request_id"] for line in lines(tmp_path / "feedback.jsonl")}
    assert 0.6 < len(answered) / 3000 < 0.8  # feedback for about 70 % of the requests


def test_existing_files_are_not_overwritten_without_force(tmp_path: Path) -> None:
    (tmp_path / "inference.jsonl").write_text("mine\n")
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--events", "10"])
    assert result.exit_code == 2
    assert "inference.jsonl already exists: --force overwrites" in result.output
    assert (tmp_path / "inference.jsonl").read_text() == "mine\n"
    assert not (tmp_path / "reference.jsonl").exists()
    forced = CliRunner().invoke(
        app, ["simulate", "--out", str(tmp_path), "--events", "10", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert len(lines(tmp_path / "inference.jsonl")) == 10


def test_a_bad_span_names_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--span", "an hour"])
    assert result.exit_code == 2
    assert "--span 'an hour': expected a duration" in result.output


def test_an_empty_span_names_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--span", "0s"])
    assert result.exit_code == 2
    assert "--span '0s': the events need a span longer than 0 s" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("span", ["31d", "1" + "0" * 400 + "d"])
def test_a_span_past_30_days_names_the_option(tmp_path: Path, span: str) -> None:
    # one-second ticks: 31d took seconds, 10**23 days never ended, 10**400 days overflowed
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--span", span])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"error: --span {span!r}: at most 30d"]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("option", "value"),
    [("--events", "1" + "0" * 400), ("--reference", "1000001"), ("--seed", "-1")],
)
def test_counts_past_a_million_and_a_negative_seed_are_usage_errors(
    tmp_path: Path, option: str, value: str
) -> None:
    # a subprocess with a timeout: the counts ran for hours, the seed was numpy's ValueError
    done = monitor_cli(
        "simulate", "--out", str(tmp_path), option, value, env={}, check=False, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()  # one line, never Typer's box or a traceback
    assert line.startswith(f"error: {option} {value!r}: expected an integer >= "), line
    assert not list(tmp_path.iterdir())
