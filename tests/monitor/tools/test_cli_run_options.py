"""The options of the commands that run a process (ui, broker, worker, judge) are refused before
anything starts: one usage error naming the option, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import monitor_cli

from monitor.adapters.clickhouse_store import ClickHouseStore


@pytest.mark.parametrize(
    "args",
    [
        ["ui", "--port", "99999"],  # bind()'s OverflowError
        ["ui", "--port", "-1"],
        ["broker", "--port", "1" + "0" * 400],  # 'Python int too large to convert to C long'
    ],
)
def test_a_port_outside_0_to_65535_is_a_usage_error(args: list[str], tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    ClickHouseStore(url).connect().migrate()  # the ui's store: the port is what is wrong
    done = monitor_cli(*args, env={"MONITOR_CLICKHOUSE_URL": url}, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Invalid value for '--port'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["worker", "judge"])
def test_an_unknown_loglevel_names_the_levels(command: str, tmp_path: Path) -> None:
    env = {
        "MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}",
        "MONITOR_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    done = monitor_cli(command, "--loglevel", "loud", env=env, check=False, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --loglevel 'loud': one of critical, error, warning, info, debug"
    ]
    assert not (tmp_path / "store").exists()  # refused before the store was opened
