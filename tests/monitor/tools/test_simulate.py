"""`monitor simulate`: files every line of which the topics accept, in time order, and no overwrite."""

from __future__ import annotations

import json
import time
from pathlib import Path

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
