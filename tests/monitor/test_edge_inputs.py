from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from monitor.contract.decode import decode_message
from monitor.contract.timestamps import parse_timestamp
from monitor.errors import ConfigError, InvalidEvent
from monitor.folding.pipeline import BatchConfig, RawMessage, process_batch
from monitor.queries import render_sql
from monitor.settings import load_settings

NOW = 1767225600.0
BIG = "1" + "0" * 400


def test_nan_element_original_redecodes_to_the_element() -> None:
    raw = b'[{"request_id":"a","timestamp":1767225600,"model":"m","model_version":"v","features":{"x":NaN}}]'
    [rej] = decode_message(raw, "inference", now=NOW).rejections
    assert rej.reason == "not_finite"
    again = decode_message(rej.original, "inference", now=NOW)
    assert again.events == [] and again.rejections[0].reason == "not_finite"


@pytest.mark.parametrize(
    "raw",
    [
        (
            '{"request_id":"a","timestamp":1767225600,"model":"m","model_version":"v","features":{"x":'
            + BIG
            + "}}"
        ),
        ('{"request_id":"a","timestamp":' + BIG + "}"),
        ('{"request_id":"a","timestamp":1767225600,"judge_score":' + BIG + "}"),
    ],
)
def test_huge_integer_is_a_rejection_not_a_crash(raw: str) -> None:
    kind = "inference" if "features" in raw else "feedback"
    out = decode_message(raw.encode(), kind, now=NOW)
    assert out.events == [] and len(out.rejections) == 1


def test_parse_timestamp_huge_int() -> None:
    with pytest.raises(InvalidEvent):
        parse_timestamp(10**400)


@pytest.mark.parametrize(
    "attr",
    [
        {"key": "gen_ai.response.id", "value": {"intValue": "abc"}},
        {"key": "a", "value": "stringValue"},
    ],
)
def test_malformed_otlp_attribute_is_a_rejection(attr: dict) -> None:
    raw = orjson.dumps(
        {
            "eventName": "gen_ai.evaluation.result",
            "timeUnixNano": "1767225600000000000",
            "attributes": [attr],
        }
    )
    out = decode_message(raw, "feedback", now=NOW)
    assert out.events == [] and len(out.rejections) == 1


def test_pre_1970_rfc3339_rejected_like_numbers() -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_timestamp("1969-12-31T00:00:00Z")
    assert info.value.reason == "out_of_range"


def test_unit_separator_in_model_name() -> None:
    cfg = BatchConfig(
        window_seconds=60, allowed_lateness=0, max_future_skew=300, now=1000.0, min_event_time=0
    )
    raw = orjson.dumps(
        {"request_id": "a", "timestamp": 990, "model": "m\x1fx", "model_version": "v"}
    )
    out = process_batch([RawMessage("inf", 0, 1, raw, "inference")], {}, cfg)
    [p] = [p for p in out.sources[("inf", 0)].partials if p.name == "inference_events"]
    assert p.model == "m\x1fx"


def test_bad_env_number_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_PARTITIONS", "0")
    with pytest.raises(ConfigError, match="MONITOR_PARTITIONS=.0.: expected an integer >= 1"):
        load_settings()


@pytest.mark.parametrize(
    "suffix, text", [(".toml", "window = ["), (".yaml", "window: '5m\n"), (".yaml", "- a\n")]
)
def test_malformed_config_file_is_config_error(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_settings(path)


def test_render_sql_aware_non_utc_datetime() -> None:
    dt = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert (
        render_sql("{t:DateTime64(3)}", {"t": dt})
        == "toDateTime64('2026-01-01 00:00:00.000', 3, 'UTC')"
    )


def test_dead_letter_of_a_batch_element_keeps_integers_beyond_64_bits() -> None:
    element = {"request_id": "a", "timestamp": NOW, "model": -(2**63) - 1, "model_version": "v"}
    out = decode_message(json.dumps([element]).encode(), "inference", now=NOW)
    assert out.rejections[0].reason == "wrong_type"
    assert json.loads(out.rejections[0].original) == element
