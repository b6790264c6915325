from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.timestamps import MILLIS_THRESHOLD, parse_timestamp
from monitor.errors import InvalidEvent

NEW_YEAR_2026 = 1767225600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-01-01T00:00:00Z", NEW_YEAR_2026),
        ("2026-01-01T00:00:00+00:00", NEW_YEAR_2026),
        ("2026-01-01T02:00:00+02:00", NEW_YEAR_2026),
        ("2025-12-31T19:00:00-05:00", NEW_YEAR_2026),
        ("2026-01-01T05:30:00+05:30", NEW_YEAR_2026),
        ("2026-01-01T00:00:00.250Z", NEW_YEAR_2026 + 0.25),
        ("2026-01-01T00:00:01.5+00:00", NEW_YEAR_2026 + 1.5),
        ("  2026-01-01T00:00:00Z \n", NEW_YEAR_2026),
        ("1970-01-01T00:00:01Z", 1.0),
    ],
)
def test_rfc3339_strings_with_z_and_offsets(text: str, expected: float) -> None:
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


def test_naive_string_is_read_as_utc() -> None:
    assert parse_timestamp("2026-01-01T00:00:00") == NEW_YEAR_2026
    assert parse_timestamp("2026-01-01T01:00:00") == NEW_YEAR_2026 + 3600


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2400, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_any_offset_gives_the_same_instant(naive: datetime, offset_minutes: int) -> None:
    tz = timezone(timedelta(minutes=offset_minutes))
    aware = naive.replace(tzinfo=tz)
    expected = (aware - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    assert parse_timestamp(aware.isoformat()) == pytest.approx(expected, abs=1e-6)


def test_epoch_seconds_int_and_float() -> None:
    assert parse_timestamp(1767225600) == NEW_YEAR_2026
    assert parse_timestamp(1767225600.5) == NEW_YEAR_2026 + 0.5
    assert isinstance(parse_timestamp(5), float)


def test_epoch_milliseconds() -> None:
    assert parse_timestamp(1767225600000) == NEW_YEAR_2026
    assert parse_timestamp(1767225600123) == pytest.approx(NEW_YEAR_2026 + 0.123)


def test_seconds_milliseconds_boundary() -> None:
    # Just below the threshold is seconds (year ~5138); at it, milliseconds (1973).
    assert parse_timestamp(MILLIS_THRESHOLD - 1) == MILLIS_THRESHOLD - 1
    assert parse_timestamp(int(MILLIS_THRESHOLD)) == MILLIS_THRESHOLD / 1000
    assert parse_timestamp(MILLIS_THRESHOLD) == 1e8
    assert parse_timestamp(MILLIS_THRESHOLD + 1000) == 1e8 + 1


@given(st.floats(min_value=1.0, max_value=MILLIS_THRESHOLD / 10))
def test_same_instant_in_seconds_or_milliseconds_after_1973(seconds: float) -> None:
    if seconds * 1000 < MILLIS_THRESHOLD:
        return  # milliseconds below the threshold are read as seconds by design
    assert parse_timestamp(seconds * 1000) == pytest.approx(seconds, rel=1e-12)
    assert parse_timestamp(seconds) == seconds


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_wrong_type(value: bool) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_timestamp(value)
    assert info.value.reason == "wrong_type"
    assert info.value.field == "timestamp"
    assert "bool" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers(value: float) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_timestamp(value, field="sent_at")
    assert info.value.reason == "not_finite"
    assert info.value.field == "sent_at"
    assert str(value) in str(info.value)


@pytest.mark.parametrize("value", [0, 0.0, -1, -1767225600, -1767225600000, -0.001])
def test_zero_and_negative_numbers_are_out_of_range(value: float) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_timestamp(value)
    assert info.value.reason == "out_of_range"
    assert "1970" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-01-32",
        "2026-01-01T25:00:00Z",
        "1767225600",
        "nan",
        "2026-01-01T00:00:00+25:00",
        "x" * 500,
    ],
)
def test_garbage_strings(text: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_timestamp(text)
    assert info.value.reason == "bad_timestamp"
    assert info.value.field == "timestamp"
    assert "RFC 3339" in str(info.value)
    assert len(str(info.value)) < 200  # the bad value is cut, not echoed whole


def test_garbage_message_names_the_value() -> None:
    with pytest.raises(InvalidEvent, match="'yesterday'"):
        parse_timestamp("yesterday")


@pytest.mark.parametrize("value", [None, [1767225600], {"t": 1}, b"2026-01-01T00:00:00Z"])
def test_other_types(value: object) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_timestamp(value)
    assert info.value.reason == "wrong_type"
    assert type(value).__name__ in str(info.value)
