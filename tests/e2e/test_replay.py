"""`monitor replay` accepts what the topics accept: contract events, OTel GenAI events, OTLP/JSON envelopes."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from tests_support import monitor_cli

from monitor.adapters.producer import partition_for
from monitor.contract.decode import decode_message

INFERENCE = "gen_ai.client.inference.operation.details"


def monitor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return monitor_cli(*args, env=env, check=False)


def _kv(key: str, value: object) -> dict[str, object]:
    kind = (
        "intValue"
        if isinstance(value, int)
        else "doubleValue"
        if isinstance(value, float)
        else "stringValue"
    )
    return {"key": key, "value": {kind: str(value) if isinstance(value, int) else value}}


def _record(request_id: str, at: float, **extra: object) -> dict[str, object]:
    attributes = {
        "gen_ai.response.id": request_id,
        "gen_ai.request.model": "chat",
        "gen_ai.response.model": "v7",
        "gen_ai.usage.input_tokens": 12,
        **extra,
    }
    return {
        "timeUnixNano": str(int(at * 1e9)),
        "eventName": INFERENCE,
        "attributes": [_kv(k, v) for k, v in attributes.items()],
    }


async def _consume(bootstrap: str, topic: str, expected: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[tuple[int, bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and sum(len(decode_message(v, "inference", now=time.time()).events) for _, _, v in out)
            < expected
        ):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [(r.partition, r.key, r.value) for r in records]
    finally:
        await consumer.stop()
    return out


def test_replay_accepts_otel_events_and_otlp_envelopes_and_fails_on_a_file_of_bad_events(
    deployment, tmp_path: Path
) -> None:
    env = deployment.env()
    now = time.time() - 60
    envelope = {
        "resourceLogs": [
            {
                "resource": {"attributes": [_kv("service.name", "chat")]},
                "scopeLogs": [
                    {
                        "scope": {"name": "genai"},
                        "logRecords": [
                            _record("o1", now, **{"monitor.feature.language": "de"}),
                            _record("o2", now + 1),
                            {"eventName": "app.started", "attributes": []},
                        ],
                    }
                ],
            }
        ]
    }
    lines = [
        json.dumps({"request_id": "c1", "timestamp": now, "model": "chat", "model_version": "v7"}),
        json.dumps(
            {
                "name": INFERENCE,
                "timestamp": now,
                "attributes": {
                    "gen_ai.response.id": "f1",
                    "gen_ai.request.model": "chat",
                    "gen_ai.response.model": "v7",
                },
            }
        ),
        json.dumps(_record("r1", now)),
        "",
        json.dumps(envelope),
        json.dumps(
            {"request_id": "bad", "timestamp": "yesterday", "model": "chat", "model_version": "v7"}
        ),
    ]
    path = tmp_path / "otel.jsonl"
    path.write_text("\n".join(lines) + "\n")

    done = monitor("replay", str(path), "--kind", "inference", env=env)
    assert done.returncode == 0, done.stderr
    assert "sent 5 events" in done.stdout and "2 rejected" in done.stdout
    assert "line 5, element 2: unsupported_event" in done.stderr  # the envelope's third log record
    assert "line 6: bad_timestamp" in done.stderr  # line numbers of the file, blank lines counted

    published = asyncio.run(
        _consume(deployment.broker.bootstrap, deployment.topics["inference"], 5)
    )
    events = {}
    for partition, key, value in published:  # the topic accepts every published message as it is
        decoded = decode_message(value, "inference", now=time.time())
        assert decoded.rejections == []
        for event in decoded.events:
            events[event.request_id] = event
            assert partition == partition_for(event.request_id, deployment.partitions)
        assert key.decode() == decoded.events[0].request_id
    assert sorted(events) == ["c1", "f1", "o1", "o2", "r1"]
    assert events["o1"].features == {"language": "de"} and events["r1"].input_tokens == 12

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"request_id": "x"}\nnot json\n\n'
        + json.dumps(envelope).replace(INFERENCE, "gen_ai.other")
        + "\n"
    )
    failed = monitor("replay", str(bad), "--kind", "inference", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "sent 0 events" in failed.stdout and "no event of" in failed.stderr
    assert "line 1: missing_field" in failed.stderr and "line 2: undecodable" in failed.stderr
    assert "line 4, element 1: unsupported_event" in failed.stderr


def test_a_long_replay_says_how_far_it_got_as_it_goes(deployment, tmp_path: Path) -> None:
    now = time.time() - 60
    path = tmp_path / "long.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"request_id": f"p{i}", "timestamp": now, "model": "m", "model_version": "v1"}
            )
            + "\n"
            for i in range(3000)
        )
    )
    args = ("replay", str(path), "--kind", "inference", "--rate", "1000")
    done = monitor(*args, "--progress", "1s", env=deployment.env())
    assert done.returncode == 0, done.stderr
    lines = re.findall(
        r"sent ([\d,]+) events through line ([\d,]+) \((\d+) % of the file\), [\d,]+ events/s",
        done.stderr,
    )
    assert lines, done.stderr
    sent, line, percent = lines[0]
    assert sent == line and 0 < int(percent) < 100  # one event a line, read part of the way
    assert "sent 3000 events" in done.stdout
    quiet = monitor(*args, "--progress", "0", env=deployment.env())
    assert "events through line" not in quiet.stderr


def test_replay_measures_a_future_time_by_this_machines_clock(deployment, tmp_path: Path) -> None:
    """Before: 'ahead of the worker clock', though replay's own check is by the clock of the
    machine it runs on (the workers check again by theirs, and their dead letters say so)."""
    ahead = tmp_path / "ahead.jsonl"
    event = {
        "request_id": "a1",
        "timestamp": time.time() + 3600,
        "model": "m",
        "model_version": "v",
    }
    ahead.write_text(json.dumps(event) + "\n")
    done = monitor("replay", str(ahead), "--kind", "inference", env=deployment.env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(
        rf"{re.escape(str(ahead))}: line 1: future_timestamp: timestamp: 3[56]\d\d s ahead of this "
        r"machine's clock \(at most 300 s\)",
        done.stderr,
    ), done.stderr
    assert "worker clock" not in done.stderr
