"""The catalogue rendered: the outcome and drift tables of docs/outcomes.md."""

from __future__ import annotations

from monitor.catalogue.outcome import (
    OUTCOME_LABEL,
    OUTCOME_METRICS,
    OUTCOME_OBSERVATIONS_SERIES,
    OUTCOME_POSITIVE_SERIES,
)
from monitor.catalogue.window import DRIFT_SCORES

__all__ = ["catalogue_markdown", "write_catalogue_docs"]


def catalogue_markdown() -> str:
    """The outcome and drift tables of docs/outcomes.md, rendered from the catalogue."""
    lines = [
        "| metric | kind | unit | a pair contributes | rule metric | Prometheus | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in OUTCOME_METRICS:
        rule = f"`{m.rule_metric}`" + (
            f", `{m.inverse_rule_metric}` (1 − value)" if m.inverse_rule_metric else ""
        )
        if m.prometheus_label:
            series = f'`{OUTCOME_POSITIVE_SERIES}` / `{OUTCOME_OBSERVATIONS_SERIES}` `{{{OUTCOME_LABEL}="{m.name}"}}`'
        elif m.prometheus_series:
            series = f"`{m.prometheus_series[0]}`"
        else:
            series = "–"
        lines.append(
            f"| `{m.name}` | {m.kind} | {m.unit} | {m.contribution} | {rule} | {series} | {m.description} |"
        )
    lines += ["", "| drift score | rule metric | Prometheus | meaning |", "|---|---|---|---|"]
    for s in DRIFT_SCORES:
        lines.append(
            f"| `{s.name}` | {f'`{s.rule_metric}`' if s.rule_metric else '–'} | "
            f"{f'`{s.prometheus_series}`' if s.prometheus_series else '–'} | {s.description} |"
        )
    return "\n".join(lines) + "\n"


def write_catalogue_docs(path: str) -> bool:
    """Replace the table between the ``catalogue`` markers of a Markdown file; True if it changed."""
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text()
    head, rest = text.split("<!-- catalogue:start -->\n", 1)
    _, tail = rest.split("<!-- catalogue:end -->", 1)
    updated = f"{head}<!-- catalogue:start -->\n{catalogue_markdown()}<!-- catalogue:end -->{tail}"
    doc.write_text(updated)
    return updated != text
