"""A duration option without a unit is refused with the units it could mean (``--since 5`` was
read as 5 seconds); a setting's bare number stays seconds."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.settings import Settings
from monitor.tools.cli import app


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
