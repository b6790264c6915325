"""``monitor alerts`` prints what producers named (models, versions, features and topics in the
summary and evidence) escaped: an escape sequence in a model name does not reach the terminal."""

from __future__ import annotations

from datetime import datetime

from monitor.tools.cli_alerts import _print_block


def test_an_alert_block_prints_producer_text_escaped(capsys) -> None:
    at = datetime(2026, 1, 1)
    _print_block(
        {
            "status": "firing",
            "severity": "warning",
            "model": "m\x1b[2J",
            "model_version": "v1\u202e",
            "created_at": at,
            "starts_at": at,
            "ends_at": None,
            "id": "0123456789",
            "rule": "input_drift_significant",
            "summary": "m\x1b[2J v1: feature \x1b]0;owned\x07 drifted\nsecond line",
            "recommended_action": "retrain",
            "description": "-",
            "evidence": {"top_drifted_features": [{"feature": "f\x1b[31m"}]},
            "runbook_url": "",
        }
    )
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "m\\x1b[2J v1\\u202e" in out and "\\x1b]0;owned\\x07 drifted" in out
    assert "second line" in out and '"f\\u001b[31m"' in out  # evidence: JSON-escaped already


def test_evidence_numbers_print_as_people_read_them_and_json_keeps_them(capsys) -> None:
    import json

    from monitor.tools.cli_alerts import _emit
    from monitor.tools.cli_support import Format

    at = datetime(2026, 1, 1)
    evidence = {
        "srm_p_value": 0.6220477036624747,
        "n_control": 5973.0,
        "metrics": [{"value": 0.5310924369747899, "denominator": 595}],
    }
    row = {
        "id": "0123456789",
        "created_at": at,
        "status": "firing",
        "severity": "warning",
        "rule": "experiment_stop",
        "model": "m",
        "model_version": "v2",
        "recommended_action": "stop_experiment",
        "starts_at": at,
        "ends_at": None,
        "summary": "s",
        "description": "d",
        "evidence": json.dumps(evidence),
        "runbook_url": "",
    }
    _emit(list(row), [tuple(row.values())], Format.table)
    text = capsys.readouterr().out
    assert "srm_p_value: 0.622\n" in text and "n_control: 5973\n" in text
    assert '"value": 0.5311' in text and "0.6220477" not in text
    _emit(list(row), [tuple(row.values())], Format.json)
    assert json.loads(capsys.readouterr().out)[0]["evidence"] == evidence


def test_a_superseded_alert_reads_superseded_by_its_successor_not_resolved(capsys) -> None:
    import json

    from monitor.tools.cli_alerts import _emit
    from monitor.tools.cli_support import Format

    at = datetime(2026, 1, 1)
    row = {
        "id": "0123456789",
        "created_at": at,
        "status": "resolved",
        "severity": "warning",
        "rule": "input_drift_significant",
        "model": "chat",
        "model_version": "v2",
        "recommended_action": "investigate_upstream",
        "starts_at": at,
        "ends_at": at,
        "summary": "s",
        "description": "d",
        "evidence": json.dumps(
            {
                "superseded_by": {
                    "rule": "satisfaction_drop_vs_previous_version",
                    "action": "rollback",
                }
            }
        ),
        "runbook_url": "",
    }
    cleared = {**row, "evidence": "{}"}
    _emit(list(row), [tuple(row.values()), tuple(cleared.values())], Format.table)
    superseded_block, cleared_block, _ = capsys.readouterr().out.split("\n\n")
    # the status column is as wide as its longest word: the severity lines up below it
    assert superseded_block.startswith("superseded warning  chat v2")
    assert cleared_block.startswith("resolved   warning  chat v2")
    assert superseded_block.splitlines()[1] == (
        "  superseded   by satisfaction_drop_vs_previous_version (rollback)"
    )
    assert "superseded" not in cleared_block
    assert (
        superseded_block.count("satisfaction_drop_vs_previous_version") == 1
    )  # not in evidence too


def _store_with_an_escalation_and_a_clear(chdb_dir) -> tuple[str, dict[str, str | None]]:
    """An embedded store holding a drift alert superseded by a rollback alert, an experiment whose
    ``stop`` was replaced by ``invalid``, and a traffic alert that cleared; the store URL and each
    notification's ``Alert.resolution`` by ``rule:status``."""
    import uuid

    from monitor.adapters.clickhouse_store import ClickHouseStore
    from monitor.alerts.experiment_actions import experiment_alerts
    from monitor.alerts.state import Alert
    from monitor.experiments.report import ExperimentSummary
    from monitor.services.alerts import ALERT_COLUMNS, alert_row

    url = f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}"
    drift = Alert.firing("input_drift", "warning", "chat", "v2", 600.0, "drift")
    rollback = Alert.firing(
        "satisfaction_drop", "critical", "chat", "v2", 900.0, "worse", recommended_action="rollback"
    )
    traffic = Alert.firing("traffic_stopped", "critical", "chat", "v1", 600.0, "no traffic")
    stop = ExperimentSummary(
        "prompt-v3", "control", "v2", 5e3, 5e3, 0.5, 0.5, False, "stop", "guardrail", None, 1e4
    )
    invalid = ExperimentSummary(
        "prompt-v3", "control", "v2", 5e3, 4e3, 1e-20, 1e-12, True, "invalid", "srm", None, 1e4
    )
    first, state = experiment_alerts([stop], {}, 600.0, {"prompt-v3": "chat"})
    changed, _ = experiment_alerts([invalid], state, 1200.0, {"prompt-v3": "chat"})
    alerts = [
        drift,
        traffic,
        *first,
        rollback,
        drift.superseded(rollback, 900.0),
        traffic.resolved(1000.0),
        *changed,
    ]
    store = ClickHouseStore(url).connect()
    store.migrate()
    store.insert("alerts", [alert_row(a) for a in alerts], ALERT_COLUMNS)
    return url, {f"{a.rule}:{a.status}": a.resolution for a in alerts}


def _monitor_alerts(url: str, *args: str) -> str:
    from typer.testing import CliRunner

    from monitor.tools.cli import app

    result = CliRunner().invoke(app, ["alerts", *args], env={"MONITOR_CLICKHOUSE_URL": url})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_alerts_json_and_csv_carry_the_resolution_the_alert_has(chdb_dir) -> None:
    import csv
    import io
    import json

    url, resolutions = _store_with_an_escalation_and_a_clear(chdb_dir)
    listed = json.loads(_monitor_alerts(url, "--format", "json"))
    assert {f"{a['rule']}:{a['status']}": a["resolution"] for a in listed} == resolutions
    assert resolutions == {
        "input_drift:firing": None,
        "input_drift:resolved": "superseded",
        "satisfaction_drop:firing": None,
        "traffic_stopped:firing": None,
        "traffic_stopped:resolved": "cleared",
        "experiment_stop:firing": None,
        "experiment_stop:resolved": "superseded",
        "experiment_invalid:firing": None,
    }
    rows = list(csv.DictReader(io.StringIO(_monitor_alerts(url, "--format", "csv"))))
    assert {f"{r['rule']}:{r['status']}": r["resolution"] for r in rows} == {
        k: v or "" for k, v in resolutions.items()
    }


def test_status_superseded_and_cleared_split_what_resolved_lists(chdb_dir) -> None:
    import json

    url, _ = _store_with_an_escalation_and_a_clear(chdb_dir)

    def rules(status: str) -> list[str]:
        listed = json.loads(_monitor_alerts(url, "--status", status, "--format", "json"))
        return sorted(a["rule"] for a in listed)

    assert rules("superseded") == ["experiment_stop", "input_drift"]
    assert rules("cleared") == ["traffic_stopped"]
    assert rules("resolved") == ["experiment_stop", "input_drift", "traffic_stopped"]
    assert rules("firing") == [
        "experiment_invalid",
        "experiment_stop",
        "input_drift",
        "satisfaction_drop",
        "traffic_stopped",
    ]


def test_the_count_says_notifications_and_alerts_and_the_columns_line_up(chdb_dir) -> None:
    """Each block is a notification: an alert that fired and was resolved or superseded shows
    two, and the count says so; every head line has its severity in the same column."""
    import json

    url, resolutions = _store_with_an_escalation_and_a_clear(chdb_dir)
    ids = {a["id"] for a in json.loads(_monitor_alerts(url, "--format", "json"))}
    assert len(resolutions) == 8 and 5 <= len(ids) < 8  # drift and traffic: fired, then resolved
    text = _monitor_alerts(url)
    assert text.splitlines()[-1] == f"(8 notifications of {len(ids)} alerts)"
    heads = [block.splitlines()[0] for block in text.split("\n\n")[:-1]]
    assert len(heads) == 8
    columns = {
        head.index(severity)
        for head in heads
        for severity in ("warning", "critical")
        if f" {severity} " in head
    }
    assert columns == {len("superseded ")}, heads
    assert _monitor_alerts(url, "--status", "firing").splitlines()[-1] == "(5 alerts)"


def test_a_csv_of_no_alerts_is_its_header_line(chdb_dir) -> None:
    """Before: `monitor alerts --status superseded --format csv` printed only '\\r\\n' where no alert
    was superseded (an empty result named no columns)."""
    url, _ = _store_with_an_escalation_and_a_clear(chdb_dir)
    header = _monitor_alerts(url, "--format", "csv").splitlines()[0]
    assert header.startswith("id,created_at,status,resolution,"), header
    no_superseded = ("--status", "superseded", "--until", "2000-01-01")  # all written since
    assert _monitor_alerts(url, *no_superseded).splitlines() == ["(0 alerts)"]
    assert _monitor_alerts(url, *no_superseded, "--format", "csv").splitlines() == [header]
