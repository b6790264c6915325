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
    assert superseded_block.startswith(
        "superseded by satisfaction_drop_vs_previous_version (rollback) warning"
    )
    assert cleared_block.startswith("resolved warning  chat v2")
