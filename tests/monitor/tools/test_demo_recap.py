"""The demo's progress lines and recap print what producers named (models, versions, features,
summaries, reasons) escaped, as tables and ``monitor alerts`` do: an escape sequence in a model
name does not reach the terminal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from monitor.tools.demo_recap import (
    AlertFeed,
    experiment_lines,
    recap_lines,
    shadow_lines,
    version_rate_lines,
)

MODEL = "m\x1b[2J"  # clears the screen if printed as is
VERSION = "v2\u202e"  # a bidirectional override reorders what follows
FEATURE = "lang\x1b]0;owned\x07"  # sets the terminal's title


@dataclass
class Result:
    rows: list[tuple[Any, ...]]


class StoreRows:
    """A reader answering each query of the recap with rows holding escape sequences."""

    db = "monitor"

    def query(self, sql: str) -> Result:
        if "fingerprint, status" in sql:  # the alert feed
            evidence = json.dumps({"top_drifted_features": [{"feature": FEATURE, "psi": 0.4}]})
            summary = f"{MODEL} {VERSION}: input drift \x1b[31m"
            return Result(
                [("f", "firing", 0, "warning", MODEL, VERSION, summary, "retrain\x1b[0m", evidence)]
            )
        if "FROM monitor.alerts" in sql:  # the recap's alerts
            return Result(
                [("drift\x1b[1m", "warning", MODEL, VERSION, "summary\x9b", "retrain", 0, "")]
            )
        if "drift_windows" in sql:
            return Result([(VERSION, FEATURE, 0.4, "significant")])
        if "metric_windows" in sql:
            return Result([(VERSION, "satisfaction", 0.8, 0.7, 0.9, 100)])
        if "experiment_results" in sql:
            return Result(
                [
                    ("exp\x1b[2J", "", VERSION, MODEL, 0, 0, 0, 0, 0, 1, "wait", "why\x07"),
                    (
                        "exp\x1b[2J",
                        "sat\x1b[2J",
                        VERSION,
                        MODEL,
                        0.5,
                        0.6,
                        0.1,
                        0.0,
                        0.2,
                        0.04,
                        "",
                        "",
                    ),
                ]
            )
        assert "shadow_results" in sql
        return Result(
            [
                (VERSION, MODEL, "", 0.0, 0.0, 0.0, 0.0, 10.0, 0.0, "ok\x1b[5m", "reason\x1b[5m"),
                (VERSION, MODEL, "agreement\x1b[1m", 0.9, 0.01, -0.02, 0.04, 10.0, 0.0, "", ""),
            ]
        )


def test_every_recap_line_prints_store_text_escaped() -> None:
    reader = StoreRows()
    lines = (
        version_rate_lines(reader)
        + AlertFeed(reader).lines()
        + recap_lines(reader)
        + experiment_lines(reader)
        + shadow_lines(reader)
    )
    text = "\n".join(lines)
    assert all(c.isprintable() for line in lines for c in line), text
    assert "m\\x1b[2J v2\\u202e: input drift \\x1b[31m" in text  # the alert's title, once
    assert "lang\\x1b]0;owned\\x07 PSI 0.40" in text  # features in the feed and the recap
    assert "(drift\\x1b[1m; fired, still firing)" in text and "summary\\x9b" in text
    assert "experiment exp\\x1b[2J: m\\x1b[2J against v2\\u202e: wait (why\\x07)" in text
    assert "  sat\\x1b[2J: " in text
    assert "m\\x1b[2J against v2\\u202e: ok\\x1b[5m (reason\\x1b[5m)" in text
    assert "  agreement\\x1b[1m " in text


def test_a_superseded_alert_reads_superseded_in_the_feed_and_the_recap(chdb_dir) -> None:
    import uuid

    from monitor.adapters.clickhouse_store import ClickHouseStore
    from monitor.alerts.state import Alert
    from monitor.services.alerts import ALERT_COLUMNS, alert_row

    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    drift = Alert.firing("input_drift", "warning", "chat", "v2", 600.0, "drift")
    rollback = Alert.firing(
        "satisfaction_drop", "critical", "chat", "v2", 900.0, "worse", recommended_action="rollback"
    )
    traffic = Alert.firing("traffic_stopped", "critical", "chat", "v1", 600.0, "no traffic")
    alerts = [drift, traffic, rollback, drift.superseded(rollback, 900.0), traffic.resolved(1e3)]
    store.insert("alerts", [alert_row(a) for a in alerts], ALERT_COLUMNS)

    feed = AlertFeed(store).lines()
    assert "  <<< ALERT SUPERSEDED by satisfaction_drop (rollback) chat v2: drift" in feed
    assert "  <<< ALERT RESOLVED chat v1: no traffic" in feed
    recap = {line for line in recap_lines(store) if "(input_drift;" in line or "(traffic_" in line}
    superseded = "fired, superseded by satisfaction_drop (rollback)"
    assert recap == {
        f"  [warning] chat v2: drift (input_drift; {superseded}); action: -",
        "  [critical] chat v1: no traffic (traffic_stopped; fired and resolved); action: -",
    }
