"""``monitor replay`` checks each line before it sends anything: a rejected event is never sent, so
no worker sees it and it never becomes a dead letter; the replay's report is where it is
(docs/events.md, "Bad input and the dead-letter topic")."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Self

from monitor.adapters.producer import SendReport
from monitor.settings import Settings
from monitor.tools import replay


class Producer:
    """What the replay hands to the broker, kept instead of sent."""

    sent: list[tuple[str, list[Any]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def send(self, kind: str, events: list[Any]) -> SendReport:
        self.sent.append((kind, list(events)))
        report = SendReport()
        report.sent, report.messages = len(events), 1
        return report


async def _no_check(*args: Any) -> None:
    pass


def test_a_rejected_line_is_reported_and_never_sent(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(Producer, "sent", [], raising=False)
    monkeypatch.setattr(replay, "EventProducer", Producer)
    monkeypatch.setattr(replay, "check_broker", _no_check)
    now = time.time()
    good = {"request_id": "r1", "timestamp": now, "rating": 5}
    bad = {"request_id": "r2", "timestamp": now, "rating": 7}
    path = tmp_path / "fixed.jsonl"
    path.write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    settings = Settings(kafka_bootstrap="127.0.0.1:9")

    report = asyncio.run(replay.replay_file(settings, path, "feedback"))

    sent = [event["request_id"] for _, events in Producer.sent for event in events]
    assert sent == ["r1"]
    assert (report.sent, report.lines) == (1, 2)
    assert [r.describe() for r in report.rejected] == [
        "line 2: out_of_range: rating: 7 is outside 1–5"
    ]


def test_the_command_prints_what_it_sent_and_each_rejection_with_its_line(
    tmp_path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from monitor.tools.cli import app

    monkeypatch.setattr(Producer, "sent", [], raising=False)
    monkeypatch.setattr(replay, "EventProducer", Producer)
    monkeypatch.setattr(replay, "check_broker", _no_check)
    now = time.time()
    path = tmp_path / "fixed.jsonl"
    path.write_text(
        json.dumps({"request_id": "r1", "timestamp": now, "rating": 5})
        + "\n"
        + json.dumps({"request_id": "r2", "timestamp": now, "rating": 7})
        + "\n"
    )
    env = {"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    done = CliRunner().invoke(app, ["replay", str(path), "--kind", "feedback"], env=env)
    assert done.exit_code == 0, done.output
    assert "sent 1 event in 1 message; 1 rejected" in done.stdout
    assert f"{path}: line 2: out_of_range: rating: 7 is outside 1–5" in done.stderr
