"""The detector-values format is our own, but its topic is readable and writable by anyone with
broker access: a malformed message must be refused with :class:`MonitorError` (the agent skips it,
logs and counts it), never crash the agent or reach a detector with values it cannot use."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract.fields import MIN_EVENT_TIME
from monitor.detectors.values import (
    DETECTOR_STREAMS,
    DetectorValues,
    StreamValues,
    decode_values,
    encode_values,
)
from monitor.errors import MonitorError

NOW = 1_795_000_000.0
GOOD = DetectorValues(
    "m", "v1", "monitor.feedback", 2, 0, 41,
    {"error": StreamValues((40, 41), (0.0, 1.0), (NOW - 60, NOW - 59))},
)  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


def _usable(values: DetectorValues) -> bool:
    return (
        all(
            name in DETECTOR_STREAMS
            and len(s.positions) == len(s.values) == len(s.times)
            and all(math.isfinite(x) for x in (*s.values, *s.times))
            and all(MIN_EVENT_TIME <= t <= NOW + 300 for t in s.times)
            and all(o >= 0 for o in s.positions)
            for name, s in values.streams.items()
        )
        and min(values.src_partition, values.epoch) >= 0
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    try:
        assert _usable(decode_values(data, now=NOW))
    except MonitorError:
        pass


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {k: json_values for k in "mvtpeo"},
        optional={"s": st.dictionaries(st.sampled_from([*DETECTOR_STREAMS, "x"]), json_values)},
    )
)
def test_any_json_shaped_like_a_message_decodes_to_usable_values_or_is_refused(body) -> None:
    try:
        assert _usable(decode_values(orjson.dumps(body), now=NOW))
    except MonitorError:
        pass


@pytest.mark.parametrize(
    "change",
    [
        {"s": {"error": [[1], [None], [1.0]]}},  # a missing value
        {"s": {"error": [[1, 2], [0.0], [1.0]]}},  # lengths differ
        {"s": {"error": [[-1], [0.0], [1.0]]}},  # a negative offset
        {"s": {"mood": [[1], [0.0], [1.0]]}},  # a stream no detector reads
        {"p": -1},
        {"o": "41x"},
        {"s": {"error": [[1], ["NaN"], [1.0]]}},  # float("NaN") would pass float()
        {"s": {"error": [[1], [0.0], [1e400]]}},  # a time past the largest float: infinite
        {"s": {"error": [[1], [0.0], [1e300]]}},  # a time no calendar holds (no event has it)
        {"s": {"error": [[1], [0.0], [NOW + 301]]}},  # further ahead than MONITOR_MAX_FUTURE_SKEW
        {"s": {"error": [[1, 2], [0.0, 1.0], [NOW, 86_400.0]]}},  # before the earliest event time
        {"m": 7},  # a model that is not a string
        # a merged message's further sources and each value's source (``merged``)
        {"k": {"error": [0, 1]}},  # a source the message does not name
        {"x": [["fb", 3, 0, 9]], "k": {"error": [0]}},  # one source for two values
        {"x": [["fb", 3, 0, 9]], "k": {"error": [0, -1]}},  # a negative source
        {"x": [["fb", -3, 0, 9]], "k": {"error": [0, 1]}},  # a negative partition
        {"x": [["fb", 3, 0]], "k": {"error": [0, 1]}},  # a source without its last offset
        {"x": [["fb", 3, 0, 9]], "k": {"error": ["0", 1]}},  # an index that is not a number
    ],
)
def test_malformed_messages_are_refused_with_a_reason(change) -> None:
    body = {**orjson.loads(encode_values(GOOD)), **change}
    with pytest.raises(MonitorError, match="malformed"):
        decode_values(orjson.dumps(body), now=NOW)


def test_a_good_message_round_trips() -> None:
    assert decode_values(encode_values(GOOD), now=NOW) == GOOD
    two = {**orjson.loads(encode_values(GOOD)), "x": [["fb", 3, 0, 9]], "k": {"error": [1, 0]}}
    merged_message = decode_values(orjson.dumps(two), now=NOW)
    assert merged_message.streams["error"].source_of() == (1, 0)
    assert [s.partition for s in merged_message.sources] == [2, 3]
