"""A duration option without a unit is refused with the units it could mean (``--since 5`` was
read as 5 seconds); a setting's bare number stays seconds. --since and --until take times from
1970-01-01 to 9999-12-31 (UTC) and name the option otherwise."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.tools.cli import app
from monitor.tools.cli_support import parse_time


def cli(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


@pytest.mark.parametrize("option", ["--since", "--until"])
@pytest.mark.parametrize("value", ["5", "90", "2.5"])
def test_a_bare_number_of_since_or_until_is_refused_with_the_units(option, value) -> None:
    result = cli({}, "query", "metrics", option, value)
    assert result.exit_code == 2, result.output
    units = f"{value}s, {value}m or {value}h"
    assert result.stderr.strip().splitlines() == [
        f"error: {option} '{value}': a duration needs a unit: {units} (or an ISO time)"
    ]


def test_alerts_and_dead_letters_refuse_a_bare_since_too() -> None:
    for args in (["alerts", "--since", "5"], ["dead-letters", "--since", "5"]):
        result = cli({"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, *args)
        assert result.exit_code == 2, (args, result.output)
        assert "--since '5': a duration needs a unit: 5s, 5m or 5h" in result.stderr, args


def test_other_duration_options_refuse_a_bare_number_but_settings_read_seconds(
    tmp_path: Path,
) -> None:
    result = cli({}, "simulate", "--out", str(tmp_path), "--span", "600")
    assert result.exit_code == 2, result.output
    assert "--span '600': a duration needs a unit: 600s, 600m or 600h" in result.stderr
    assert Settings(query_timeout="30").query_timeout_seconds == 30.0  # documented: seconds


def test_since_reads_a_unit_a_zero_or_a_date_but_not_a_bare_number(chdb_dir: Path) -> None:
    url = f"chdb://{chdb_dir}?database=d_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore(url).connect()
    store.migrate()
    try:
        for value in ("5m", "2h", "0", "2026-01-31"):
            result = cli({"MONITOR_CLICKHOUSE_URL": url}, "query", "metrics", "--since", value)
            assert result.exit_code == 0, (value, result.output)
        bare = cli({"MONITOR_CLICKHOUSE_URL": url}, "query", "metrics", "--since", "5")
        assert bare.exit_code == 2 and "5s, 5m or 5h" in bare.stderr, bare.output
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.db}")


OUT_OF_RANGE = [
    "99999999999999999999999d",  # 10**23 days back: before any calendar (an OverflowError escaped)
    "1" + "0" * 400 + "d",  # an infinite duration
    "0001-01-01T00:00:00Z",  # ClickHouse's 'cannot be parsed as DateTime64(3)'
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("option", ["--since", "--until"])
def test_a_time_outside_1970_to_9999_is_refused_naming_the_option(
    chdb_dir: Path, option: str, value: str
) -> None:
    url = f"chdb://{chdb_dir}?database=d_{uuid.uuid4().hex[:10]}"
    store = ClickHouseStore(url).connect()
    store.migrate()
    try:
        result = cli({"MONITOR_CLICKHOUSE_URL": url}, "query", "metrics", option, value)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [
            f"error: {option} {value!r}: the time must fall between 1970-01-01 and 9999-12-31 (UTC)"
        ]
        edge = cli({"MONITOR_CLICKHOUSE_URL": url}, "query", "metrics", option, "9999-12-31")
        assert edge.exit_code == 0, edge.output
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.db}")


def test_dead_letters_refuses_a_since_before_1970_before_reading_the_topic() -> None:
    result = cli({"MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, "dead-letters", "--since", "20000000d")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "error: --since '20000000d': the time must fall between 1970-01-01 and 9999-12-31 (UTC)"
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\A[0-9]{1,40}(\.[0-9]{1,5})?(ms|s|m|h|d|w)\Z"),
        st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    )
)
def test_parse_time_returns_a_time_in_range_or_names_the_option(value: str) -> None:
    try:
        seconds = parse_time(value, "--since")
    except ConfigError as exc:
        assert str(exc).startswith(f"--since {value!r}: ")
    else:
        assert seconds is not None and 0 <= seconds < 253_402_300_800
