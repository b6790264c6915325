"""``monitor alerts``: each alert with its description, evidence, recommended action and runbook."""

from __future__ import annotations

import json
import math
from typing import Any, get_args

import typer

from monitor.alerts.rules import Severity
from monitor.alerts.state import SUPERSEDED_BY, Resolution, successor
from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.tools.cli_known import check_store_filters
from monitor.tools.cli_support import Format, counted, print_rows

__all__ = ["list_alerts", "show_alert", "shown_count"]

# The head line's columns, as wide as the longest status ("superseded") and severity
STATUS_WIDTH = max(len(s) for s in ("firing", "resolved", *get_args(Resolution)))
SEVERITY_WIDTH = max(len(s) for s in get_args(Severity))


def _evidence(raw: Any) -> Any:
    try:
        return json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    except ValueError:
        return raw


def _readable(value: Any) -> Any:
    """Evidence numbers for a person: whole floats as integers, others to four significant digits
    (at least to the unit); ``--format json`` keeps the stored values.

    >>> _readable({"p": 0.6220477036624747, "n": 5973.0, "psi": [5.065873032822347, 1e-07], "at": 1795817100.5})
    {'p': 0.622, 'n': 5973, 'psi': [5.066, 1e-07], 'at': 1795817100.0}
    """
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    digits = 3 - math.floor(math.log10(abs(value)))
    return round(value, digits) if digits > 0 else float(round(value))


def _evidence_lines(evidence: Any) -> list[str]:
    if not isinstance(evidence, dict):
        return [str(evidence)] if evidence else []
    lines = []
    for key, raw in evidence.items():
        if key in ("trend_query", SUPERSEDED_BY):
            continue  # printed apart: a query to paste, the alert that took over
        value = _readable(raw)
        text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"{key}: {text}")
    return lines


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)


def _print_block(alert: dict[str, Any]) -> None:
    """One alert as a block of labelled lines; what producers named (models, versions, features,
    topics in the summary) is escaped before it reaches the terminal."""
    from rich.console import Console
    from rich.text import Text

    from monitor.tools.terminal import terminal_text

    console = Console(soft_wrap=True, highlight=False)
    evidence = alert["evidence"] if isinstance(alert["evidence"], dict) else {}
    by = successor(evidence) if alert["status"] == "resolved" else None
    status = "superseded" if by else alert["status"]  # a superseded alert did not clear
    colour = {"firing": "red", "resolved": "green"}.get(status, "yellow")
    head = Text.assemble(  # fixed widths: the columns line up from one block to the next
        (terminal_text(f"{status:<{STATUS_WIDTH}} "), f"bold {colour}"),
        (f"{alert['severity']:<{SEVERITY_WIDTH}} ", "bold"),
        terminal_text(f"{alert['model']} {alert['model_version']}  "),
        (_when(alert["created_at"]), "dim"),
        f"  id {alert['id']}",
    )
    console.print(head)
    ends = f", ended {_when(alert['ends_at'])}" if alert.get("ends_at") else ""
    rows = [
        *([("superseded", f"by {by}")] if by else []),
        ("summary", alert["summary"]),
        ("rule", f"{alert['rule']} (started {_when(alert['starts_at'])}{ends})"),
        ("action", alert["recommended_action"] or "-"),
        ("description", alert["description"] or "-"),
        *(("evidence", line) for line in _evidence_lines(alert["evidence"])),
        ("runbook", alert["runbook_url"] or "-"),
    ]
    trend = alert["evidence"].get("trend_query") if isinstance(alert["evidence"], dict) else None
    if trend:
        rows.append(("trend query", trend))
    for label, value in rows:
        for i, line in enumerate(str(value).splitlines() or [""]):
            shown = terminal_text(line)
            console.print(Text.assemble((f"  {label if i == 0 else '':<12} ", "cyan"), shown))
    console.print()


def _emit(columns: list[str], rows: list[tuple], fmt: Format) -> None:
    alerts = [dict(zip(columns, row)) for row in rows]
    for alert in alerts:
        alert["evidence"] = _evidence(alert.get("evidence"))
    if fmt is Format.json:
        typer.echo(json.dumps(alerts, default=str, indent=1))
    elif fmt is Format.csv:
        print_rows(
            columns,
            [
                tuple(json.dumps(v, default=str) if isinstance(v, dict) else v for v in a.values())
                for a in alerts
            ],
            fmt,
        )
    else:
        for alert in alerts:
            _print_block(alert)
        typer.echo(f"({shown_count(alerts)})")


def shown_count(alerts: list[dict[str, Any]]) -> str:
    """How many alerts the blocks show: each block is a notification, and an alert that fired
    and then resolved shows two.

    >>> shown_count([{"id": "a"}, {"id": "b"}])
    '2 alerts'
    >>> shown_count([{"id": "a"}, {"id": "a"}, {"id": "b"}, {"id": "c"}])
    '4 notifications of 3 alerts'
    """
    incidents = len({alert["id"] for alert in alerts})
    if incidents == len(alerts):
        return counted(incidents, "alert")
    return f"{counted(len(alerts), 'notification')} of {counted(incidents, 'alert')}"


def _reader(settings: Settings) -> Any:
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.reader import open_reader

    return open_reader(
        settings.clickhouse_url, clickhouse_client_options(settings), token=settings.web_token_value
    )


def list_alerts(settings: Settings, fmt: Format, **filters: Any) -> None:
    """Print the alerts matching ``filters`` (model, version, status, since, until, limit); status
    ``cleared`` or ``superseded`` is a resolved alert with that resolution."""
    from monitor.queries import alerts_query, render_sql

    reader = _reader(settings)
    check_store_filters(reader, model=filters.get("model"), version=filters.get("version"))
    if filters.get("status") in get_args(Resolution):
        filters |= {"status": "resolved", "resolution": filters["status"]}
    sql, params = alerts_query(reader.db, **filters)
    typer.echo(f"-- {render_sql(sql, params)}", err=True)
    result = reader.query(sql, params)
    _emit(result.columns, result.rows, fmt)


def show_alert(settings: Settings, alert_id: str, fmt: Format) -> None:
    """Print every notification of the alert whose id starts with ``alert_id``."""
    from monitor.queries import ALERT_ID, alerts_query

    reader = _reader(settings)
    sql, params = alerts_query(reader.db)
    sql = sql.replace(
        " ORDER BY ", f" WHERE startsWith({ALERT_ID}, {{alert_id:String}}) ORDER BY ", 1
    )
    result = reader.query(sql, {**params, "alert_id": alert_id.lower()})
    ids = sorted({row[0] for row in result.rows})
    if not ids:
        known = [
            r[0]
            for r in reader.query(
                f"SELECT DISTINCT {ALERT_ID} FROM {reader.db}.alerts FINAL ORDER BY 1 LIMIT 20"
            ).rows
        ]
        raise ConfigError(f"no alert {alert_id!r}; known ids: {', '.join(known) or 'none yet'}")
    if len(ids) > 1:
        raise ConfigError(f"alert id {alert_id!r} is ambiguous: {', '.join(ids)}")
    _emit(result.columns, result.rows, fmt)
