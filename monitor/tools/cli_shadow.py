"""``monitor shadow report``: shadow candidates compared with production, from the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from monitor.errors import ConfigError, StoreError
from monitor.experiments.formatting import effect_parts, precision_for
from monitor.judge.stats import PairKey, PairSummary, judge_sentence
from monitor.settings import Settings
from monitor.shadow.report import ShadowReport
from monitor.tools.cli_options import ConfigOption, FormatOption
from monitor.tools.cli_support import Format, print_rows

__all__ = [
    "JUDGE_COLUMNS",
    "REPORT_COLUMNS",
    "judge_line",
    "judge_summaries",
    "metric_cells",
    "report_dict",
    "shadow_app",
]

shadow_app = typer.Typer(help="Shadow deployments compared with production.", no_args_is_help=True)

REPORT_COLUMNS = (
    "model",
    "production_version",
    "shadow_version",
    "pairs",
    "agreement",
    "similarity",
    "semantic_similarity",
    "latency_delta_ms",
    "output_tokens_delta",
    "length_delta_chars",
    "shadow_events",
    "shadow_error_rate",
    "verdict",
    "reason",
)
# The table shows each version's verdict; its metrics follow with their intervals, one table each
# (the title names the model). JSON and CSV keep every column of REPORT_COLUMNS.
TABLE_COLUMNS = (
    "production_version",
    "shadow_version",
    "pairs",
    "shadow_events",
    "verdict",
    "reason",
)
METRIC_COLUMNS = ("metric", "n", "value", "diff", "ci_low", "ci_high", "margin", "status")
# The LLM judge's pairwise verdicts of the same comparison (``monitor judge``, read from
# MONITOR_REDIS_URL's Redis under MONITOR_APP_ID); None where no judge has compared them.
JUDGE_COLUMNS = ("judge_pairs", "judge_win_rate", "judge_lc_win_rate", "judge_flip_rate")


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def metric_cells(d: dict[str, Any]) -> dict[str, Any]:
    """One metric of a report as the table prints it: the value, the paired difference and its
    interval with the same decimals.

    >>> c = metric_cells({"value": 0.9012, "diff": -0.0988, "ci_low": -0.1291, "ci_high": -0.0712})
    >>> c["value"], c["diff"], c["ci_low"], c["ci_high"]
    ('0.901', '-0.099', '-0.129', '-0.071')
    """
    diff, low, high = (
        math.nan if d[c] is None else float(d[c]) for c in ("diff", "ci_low", "ci_high")
    )
    shown = precision_for(diff, low, high)
    value = math.nan if d["value"] is None else float(d["value"])
    return {
        **d,
        "value": shown.text(value),
        **dict(zip(("diff", "ci_low", "ci_high"), effect_parts(diff, low, high))),
    }


def report_dict(r: ShadowReport, judge: PairSummary | None = None) -> dict[str, Any]:
    """One report row; ``metrics`` lists each metric's mean paired difference and always-valid
    interval; the ``judge_*`` columns the judge's :class:`PairSummary` of the same versions."""
    row = {c: _clean(getattr(r, c)) for c in REPORT_COLUMNS}
    row.update(dict.fromkeys(JUDGE_COLUMNS))
    if judge is not None and judge.pairs:
        row.update(
            judge_pairs=judge.pairs,
            judge_win_rate=_clean(judge.win_rate),
            judge_lc_win_rate=_clean(judge.lc_win_rate),
            judge_flip_rate=_clean(judge.flip_rate),
        )
    row["metrics"] = [{c: _clean(getattr(d, c)) for c in METRIC_COLUMNS} for d in r.metrics]
    return row


def judge_line(row: dict[str, Any]) -> str:
    """What the table prints under a comparison the judge has verdicts of.

    >>> print(judge_line({"judge_pairs": 200, "judge_win_rate": 0.6125, "judge_lc_win_rate": 0.55,
    ...                   "judge_flip_rate": 0.02}))
    LLM judge: shadow preferred in 61% of 200 pairs (length-controlled 55%, order flips 2%)
    """
    return judge_sentence(*(row[c] for c in JUDGE_COLUMNS))


def judge_summaries(settings: Settings) -> dict[PairKey, PairSummary]:
    """The judge's pairwise summaries in MONITOR_REDIS_URL's Redis (empty without Redis); a Redis
    that does not answer is said on stderr, and the report goes on without them."""
    from monitor.adapters.judge_journal import pair_summaries

    try:
        return pair_summaries(settings)
    except StoreError as exc:
        typer.echo(f"warning: the judge's verdicts are not shown: {exc}", err=True)
        return {}


@shadow_app.command("report")
def shadow_report_command(
    model: str = typer.Option(..., "--model", help="the model whose shadow versions to compare"),
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Each shadow version against production: agreement, similarity (text and semantic), deltas, error rate and the verdict."""
    from monitor.adapters.client_security import clickhouse_client_options
    from monitor.adapters.reader import open_reader
    from monitor.adapters.shadow_store import read_shadow_sums
    from monitor.shadow.fold import pair_sums
    from monitor.shadow.report import shadow_report
    from monitor.tools.cli_options import cli_settings as _settings

    settings = _settings(config)
    reader = open_reader(
        settings.clickhouse_url, clickhouse_client_options(settings), token=settings.web_token_value
    )
    margins = settings.shadow_margin_map
    reports = [
        shadow_report(s, margins) for s in pair_sums(read_shadow_sums(reader, reader.db, model))
    ]
    if not reports:
        known = sorted({m for m, *_ in read_shadow_sums(reader, reader.db)})
        raise ConfigError(
            f"--model {model!r}: no shadow answer paired with production yet; "
            f"models with shadow traffic: {', '.join(known) or 'none yet'}"
        )
    judged = judge_summaries(settings)
    rows = [
        report_dict(r, judged.get((r.model, r.production_version, r.shadow_version)))
        for r in reports
    ]
    if fmt is Format.json:
        typer.echo(json.dumps(rows, indent=1))
        return
    columns = TABLE_COLUMNS if fmt is Format.table else (*REPORT_COLUMNS, *JUDGE_COLUMNS)
    print_rows(
        list(columns),
        [[row[c] for c in columns] for row in rows],
        fmt,
        title=f"shadow versions of {model} against production" if fmt is Format.table else None,
    )
    if fmt is Format.table:
        declared = ", ".join(f"{k} {v:g}" for k, v in margins.items()) or "none"
        for r, row in zip(reports, rows):
            print_rows(
                list(METRIC_COLUMNS),
                [[cells[c] for c in METRIC_COLUMNS] for cells in map(metric_cells, row["metrics"])],
                fmt,
                title=f"{r.shadow_version} minus {r.production_version} (margins: {declared})",
                numeric=("value", "diff", "ci_low", "ci_high"),
            )
            if row["judge_pairs"]:
                typer.echo(judge_line(row))
