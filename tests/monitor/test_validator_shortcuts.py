"""The compiled validators' inline shortcuts accept and reject exactly what the precise checks do."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import contract_fields
from monitor.contract.validator import compile_validator
from monitor.errors import InvalidEvent

NOW = 1_767_225_600.0
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5.0, 0.0, -0.5, 3, 6, 10.5, 2**63, 2**63 - 1]),
    st.text(max_size=5),
    st.text(min_size=120, max_size=140),
    st.sampled_from(["", "\ud800", "ü", "production", "shadow", "up", "down"]),
    st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),
)
# Every field of the contract gets arbitrary values (a field added to the contract is fuzzed too);
# the token counts also arrive nested in OTel's ``usage``.
REQUIRED = {"request_id": VALUES, "timestamp": st.just(NOW)}


def _optional(record: type) -> dict[str, Any]:
    return {name: VALUES for name, _ in contract_fields(record) if name not in REQUIRED}


INFERENCE = st.fixed_dictionaries(
    {**REQUIRED, "model": VALUES, "model_version": VALUES},
    optional={
        **{
            k: v
            for k, v in _optional(InferenceEvent).items()
            if k not in ("model", "model_version")
        },
        "usage": st.fixed_dictionaries(
            {}, optional={"input_tokens": VALUES, "output_tokens": VALUES}
        ),
    },
)
FEEDBACK = st.fixed_dictionaries(REQUIRED, optional=_optional(FeedbackEvent))


def _outcome(validate: Any, obj: dict[str, Any]) -> Any:
    try:
        record = validate(obj, NOW, 300.0, 0.0)
    except InvalidEvent as exc:
        return (exc.reason, exc.field, exc.detail)
    # the validator sets the slots directly: the record is what __init__ builds from the same values
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    assert record == type(record)(**values)
    return record


@settings(max_examples=400, deadline=None)
@given(INFERENCE)
def test_inference_shortcuts_change_nothing(obj: dict[str, Any]) -> None:
    fast, precise = (
        compile_validator(InferenceEvent),
        compile_validator(InferenceEvent, shortcuts=False),
    )
    assert _outcome(fast, obj) == _outcome(precise, obj)


@settings(max_examples=400, deadline=None)
@given(FEEDBACK)
def test_feedback_shortcuts_change_nothing(obj: dict[str, Any]) -> None:
    fast, precise = (
        compile_validator(FeedbackEvent),
        compile_validator(FeedbackEvent, shortcuts=False),
    )
    assert _outcome(fast, obj) == _outcome(precise, obj)


def test_a_bad_id_is_still_rejected_with_its_reason() -> None:
    obj = {"request_id": "r", "timestamp": NOW, "model": "m" * 500, "model_version": "v1"}
    assert _outcome(compile_validator(InferenceEvent), obj)[:2] == ("too_long", "model")


def test_a_validated_record_stays_frozen() -> None:
    obj = {"request_id": "r", "timestamp": NOW, "model": "m", "model_version": "v1"}
    record = compile_validator(InferenceEvent)(obj, NOW, 300.0, 0.0)
    assert (record.deployment, record.features, record.score) == ("production", {}, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.model = "other"
