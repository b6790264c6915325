"""The event contract: validator and published JSON Schemas agree, and every reader derives from it."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from monitor.contract.decode import decode_message
from monitor.contract.events import (
    KINDS,
    FeedbackEvent,
    InferenceEvent,
    event_class,
    validate_event,
)
from monitor.contract.fields import (
    MAX_FEATURE_TEXT,
    MAX_FEATURES,
    MAX_NUMBER,
    MIN_EVENT_TIME,
    FieldSpec,
    contract_fields,
    json_keys,
)
from monitor.contract.json_schema import SCHEMA_FILES, batch_schema, event_schema, write_schemas
from monitor.errors import InvalidEvent

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_000_000.0  # 2026-11-18
SCHEMAS = {kind: Draft202012Validator(event_schema(kind)) for kind in KINDS}

# --- strategies derived from the field specs ----------------------------------------------------------

short_text = st.text(max_size=12)
finite = st.floats(-1e15, 1e15, allow_nan=False)


def _timestamps() -> st.SearchStrategy[Any]:
    moments = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 1))
    suffix = st.sampled_from(["Z", "+00:00", "+05:30", "-08:00", ""])
    fraction = st.sampled_from(["", ".5", ".250", ".123456789"])
    separator = st.sampled_from(["T", " "])
    strings = st.builds(
        lambda d, sep, frac, zone: d.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + zone,
        moments,
        separator,
        fraction,
        suffix,
    )
    seconds = st.floats(MIN_EVENT_TIME, NOW - 86_400, allow_nan=False) | st.integers(
        int(MIN_EVENT_TIME), int(NOW) - 86_400
    )
    millis = st.integers(int(MIN_EVENT_TIME * 1000), int((NOW - 86_400) * 1000))
    return strings | seconds | millis


def valid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    low = -1e15 if spec.minimum is None else spec.minimum
    high = 1e15 if spec.maximum is None else spec.maximum
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "id": st.text(min_size=1, max_size=12)
        | st.text(min_size=spec.max_length, max_size=spec.max_length),
        "timestamp": _timestamps(),
        "text": st.text(min_size=1, max_size=12),
        "choice": st.sampled_from(spec.choices),
        "answer": short_text | st.integers(-(10**18), 10**18) | finite | st.booleans(),
        "number": st.floats(low, high, allow_nan=False) | st.integers(int(low), int(high)),
        "integer": st.integers(int(low), int(min(high, 10**6)))
        | st.integers(int(low), int(min(high, 1000))).map(float),
        "boolean": st.booleans(),
        "features": st.dictionaries(
            short_text,
            st.none()
            | st.booleans()
            | st.integers(-(10**6), 10**6)
            | st.floats(-1e299, 1e299)
            | short_text,
            max_size=6,
        ),
        "segment": st.dictionaries(short_text, st.text(min_size=1, max_size=12), max_size=3),
        "kpi": st.dictionaries(
            st.text(min_size=1, max_size=12),
            st.floats(-1e299, 1e299) | st.integers(-(10**6), 10**6),
            max_size=3,
        ),
    }
    return by_kind[spec.kind]


def invalid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values one step outside what the field accepts (null only where the field is required)."""
    wrong = st.sampled_from([[], [1], {"a": 1}])
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "id": st.just("")
        | st.text(min_size=spec.max_length + 1, max_size=spec.max_length + 3)
        | st.integers()
        | st.booleans()
        | wrong,
        "timestamp": st.sampled_from(
            [
                "yesterday",
                "2026-13-01T00:00:00Z",
                "2026-01-01",
                "1767225600",
                "2026-01-01T00:00:00+25:00",
                0,
                -5,
                -1.5,
                True,
                86_400,
                int(MIN_EVENT_TIME) - 1,
                int(MIN_EVENT_TIME * 1000) - 1,
            ]
        )
        | wrong,
        "text": st.just("") | st.integers() | st.booleans() | wrong,
        "choice": short_text.filter(lambda s: s not in spec.choices)
        | st.integers()
        | st.booleans(),
        "answer": wrong,
        "number": short_text | st.booleans() | wrong,
        "integer": st.sampled_from([1.5, "3", True]) | wrong,
        "boolean": st.sampled_from(["yes", "true", 0, 1, 1.0]) | wrong,
        "features": st.sampled_from([[], "x", 3])
        | st.builds(
            lambda bad: {"ok": 1, "bad": bad},
            st.sampled_from(
                [[1], {"a": 1}, "x" * (MAX_FEATURE_TEXT + 1), MAX_NUMBER * 10, -(10**301)]
            ),
        )
        | st.just({f"f{i}": i for i in range(MAX_FEATURES + 1)}),
        "segment": st.sampled_from([[], "x", {"k": ""}, {"k": 3}, {"k": None}, {"k": "v" * 257}]),
        "kpi": st.sampled_from(
            [
                [],
                "x",
                {"k": "1"},
                {"k": True},
                {"k": None},
                {"": 1.0},
                {"k": MAX_NUMBER * 10},
                {"k" * 257: 1.0},
            ]
        ),
    }
    out = by_kind[spec.kind]
    edges = [
        bound
        for bound in (
            None if spec.minimum is None else spec.minimum - 1,
            None if spec.maximum is None else spec.maximum + 1,
        )
        if bound is not None
    ]
    if spec.kind in ("number", "integer") and edges:
        out = out | st.sampled_from(edges)
    if spec.required:
        out = out | st.none()
    return out


def _place(event: dict[str, Any], location: tuple[str, ...], value: Any) -> None:
    if len(location) == 1:
        event[location[0]] = value
    else:
        container = event.setdefault(location[0], {})
        if isinstance(container, dict):
            container[location[1]] = value


@st.composite
def events(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], bool]:
    """An event of ``kind`` and whether it is valid: all fields valid, or exactly one made invalid."""
    specs = contract_fields(event_class(kind))
    event: dict[str, Any] = {}
    for name, spec in specs:
        if spec.required or draw(st.booleans()):
            _place(event, spec.location(name), draw(valid_value(spec)))
        elif draw(st.integers(0, 9)) == 0:
            _place(event, spec.location(name), None)  # explicit null is "absent"
    if draw(st.booleans()):
        event["unknown_field"] = draw(short_text)  # unknown fields are ignored
    if not draw(st.booleans()):
        return event, True
    name, spec = draw(st.sampled_from(specs))
    if spec.required and draw(st.integers(0, 4)) == 0:
        event.pop(name)
        return event, False
    if spec.path and draw(st.integers(0, 3)) == 0:
        event[spec.path[0]] = draw(
            st.sampled_from(["x", 5, [1], True])
        )  # the container itself is wrong
        return event, False
    _place(event, spec.location(name), draw(invalid_value(spec)))
    return event, False


def _validator_accepts(kind: str, event: Any) -> bool:
    try:
        validate_event(kind, event, now=NOW)
    except InvalidEvent:
        return False
    return True


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validator_and_schema_accept_and_reject_the_same_events(
    kind: str, data: st.DataObject
) -> None:
    event, valid = data.draw(events(kind))
    by_schema = SCHEMAS[kind].is_valid(event)
    by_validator = _validator_accepts(kind, event)
    assert by_validator == by_schema == valid, (
        f"validator {by_validator}, schema {by_schema}, generated as {'valid' if valid else 'invalid'}: {event!r:.300}"
        " - a check added to monitor/contract/checks.py needs its rule in monitor/contract/json_schema.py (then `monitor schema "
        "--write docs/schema`) and its values in the strategies above"
    )


def test_a_batch_message_is_an_event_or_an_array_of_events_of_one_kind() -> None:
    batch = Draft202012Validator(batch_schema())
    inference = {"request_id": "r", "timestamp": NOW, "model": "m", "model_version": "v"}
    feedback = {"request_id": "r", "timestamp": NOW, "rating": 5}
    assert (
        batch.is_valid(inference)
        and batch.is_valid([inference, inference])
        and batch.is_valid([feedback])
    )
    assert not batch.is_valid([{"request_id": "r"}]) and not batch.is_valid("x")
    Draft202012Validator.check_schema(batch_schema())


def test_committed_schemas_are_generated_from_the_contract() -> None:
    stale = write_schemas(ROOT / "docs" / "schema", check=True)
    assert not stale, f"docs/schema is stale: run `monitor schema --write docs/schema` ({stale})"
    assert sorted(p.name for p in (ROOT / "docs" / "schema").glob("*.json")) == sorted(
        SCHEMA_FILES.values()
    )


@pytest.mark.parametrize("option", ["--write", "--check"])
def test_monitor_schema_names_a_file_given_for_the_directory(tmp_path: Path, option: str) -> None:
    from typer.testing import CliRunner

    from monitor.tools.cli import app

    file = tmp_path / "schemas.json"
    file.write_text("mine\n")  # --write: a FileExistsError traceback; --check: 'stale', exit 1
    result = CliRunner().invoke(app, ["schema", option, str(file)])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.stderr and "is a file" in result.stderr
    assert file.read_text() == "mine\n"


def test_the_check_notices_a_changed_schema(tmp_path: Path) -> None:
    assert len(write_schemas(tmp_path)) == 3 and write_schemas(tmp_path, check=True) == []
    path = tmp_path / SCHEMA_FILES["feedback"]
    path.write_text(path.read_text().replace('"maximum": 5', '"maximum": 6'))
    assert write_schemas(tmp_path, check=True) == [path]


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)]


def test_examples_in_the_events_doc_are_accepted() -> None:
    blocks = _json_blocks((ROOT / "docs" / "events.md").read_text())
    events_blocks = [
        b for b in blocks if not (isinstance(b, dict) and "reason" in b)
    ]  # not a dead letter
    assert len(events_blocks) >= 4
    for block in events_blocks:
        verdicts = {
            kind: decode_message(json.dumps(block).encode(), kind, now=time.time())
            for kind in KINDS
        }
        accepted = [kind for kind, out in verdicts.items() if out.events and not out.rejections]
        assert accepted, (
            block,
            {k: [r.message for r in v.rejections] for k, v in verdicts.items()},
        )
        contract_shaped = block if isinstance(block, dict) else None
        if contract_shaped and "request_id" in contract_shaped:
            assert any(SCHEMAS[kind].is_valid(contract_shaped) for kind in accepted), block


def test_every_contract_field_is_documented() -> None:
    text = (ROOT / "docs" / "events.md").read_text()
    for record in (InferenceEvent, FeedbackEvent):
        for name, spec in contract_fields(record):
            documented = ".".join(spec.location(name))
            assert (
                f"`{documented}`" in text
                or f"`{spec.location(name)[0]}.{name}`" in text
                or f"`{documented.split('.')[-1]}`" in text
            ), documented
            for attribute in spec.otel:  # the OTel mapping table names every GenAI attribute read
                assert f"`{attribute}`" in text, attribute
    assert set(json_keys(InferenceEvent)) >= {"usage", "features", "segment"}


def test_unix_seconds_near_the_bound_and_far_future_follow_the_skew() -> None:
    # The schema cannot know the worker clock: a far-future time passes it but not the validator.
    future = {"request_id": "r", "timestamp": NOW + 3600, "rating": 5}
    assert SCHEMAS["feedback"].is_valid(future) and not _validator_accepts("feedback", future)
    assert _validator_accepts(
        "feedback",
        {**future, "timestamp": (datetime.fromtimestamp(NOW, UTC) - timedelta(days=1)).isoformat()},
    )


def test_the_documented_kafka_partitions_are_what_the_producer_computes() -> None:
    from aiokafka.partitioner import murmur2

    from monitor.adapters.producer import partition_for

    section = (ROOT / "docs" / "events.md").read_text().split("## Kafka key and partition", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| (\d+) \| (\d+) \|$", section, flags=re.MULTILINE)
    assert len(rows) >= 4
    for key, hashed, of_4, of_12 in rows:
        assert murmur2(key.encode()) == int(hashed)
        assert (partition_for(key, 4), partition_for(key, 12)) == (int(of_4), int(of_12))
    # Kafka's own test vectors for its Java murmur2 (signed 32-bit), the reference other clients match
    assert [murmur2(k.encode()) - 2**32 for k in ("21", "foobar")] == [-973932308, -790332482]


@pytest.mark.parametrize("kind", KINDS)
def test_the_declared_examples_make_a_valid_event(kind: str) -> None:
    from monitor.contract.fields import to_json_event

    record = event_class(kind)
    event = to_json_event(record, {name: spec.example for name, spec in contract_fields(record)})
    assert all(spec.example is not None for _, spec in contract_fields(record))
    assert _validator_accepts(kind, {**event, "timestamp": NOW - 60}) and SCHEMAS[kind].is_valid(
        event
    )
