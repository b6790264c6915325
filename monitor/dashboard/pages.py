"""The dashboard's HTML pages: a layout with the filter form and one body per page.

Every value from the store is escaped (``svg.esc``); there is no inline script or style.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.dashboard import data
from monitor.dashboard.filters import RANGES, Filters
from monitor.dashboard.svg import (
    SEVERITY_COLOURS,
    colour,
    esc,
    heatmap,
    histogram_chart,
    line_chart,
)
from monitor.experiments.formatting import effect_parts, format_p, p_value_text, precision_for
from monitor.judge.stats import PairKey, PairSummary, judge_sentence

__all__ = [
    "PAGES",
    "alerts_page",
    "drift_page",
    "experiments_page",
    "layout",
    "overview_page",
    "shadow_section",
]

#: path -> nav title
PAGES = {"/": "Overview", "/drift": "Drift", "/alerts": "Alerts", "/experiments": "Experiments"}


def _time(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _select(name: str, label: str, current: str, choices: Sequence[tuple[str, str]]) -> str:
    options = "".join(
        f'<option value="{esc(v)}"{" selected" if v == current else ""}>{esc(text)}</option>'
        for v, text in choices
    )
    return f'<label>{esc(label)} <select name="{esc(name)}" id="f-{esc(name)}">{options}</select></label>'


def _filter_form(path: str, f: Filters, dims: Sequence[tuple[str, str, str]]) -> str:
    models = sorted({m for m, _, _ in dims} | ({f.model} if f.model else set()))
    versions = sorted(
        {v for m, v, _ in dims if not f.model or m == f.model}
        | ({f.version} if f.version else set())
    )
    segments = sorted({s for _, _, s in dims if s} | ({f.segment} if f.segment else set()))
    return (
        f'<form class="filters" method="get" action="{esc(path)}">'
        + _select("model", "model", f.model, [("", "all"), *((m, m) for m in models)])
        + _select("version", "version", f.version, [("", "all"), *((v, v) for v in versions)])
        + _select(
            "segment", "segment", f.segment, [("", "all traffic"), *((s, s) for s in segments)]
        )
        + _select(
            "range",
            "time range",
            f.range,
            [(r, "everything" if r == "all" else f"last {r}") for r in RANGES],
        )
        + '<button type="submit">apply</button></form>'
    )


def layout(
    path: str, f: Filters, dims: Sequence[tuple[str, str, str]], body: str, stamp: str
) -> str:
    query = f.without_cell().query_string()
    suffix = f"?{query}" if query else ""
    nav = "".join(
        f'<a href="{esc(p + suffix)}"{" class=current" if p == path else ""}>{esc(title)}</a>'
        for p, title in PAGES.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(PAGES.get(path, 'Dashboard'))} · LLM drift monitor</title>"
        '<link rel="icon" href="/static/dashboard/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/dashboard/dashboard.css">'
        '<script src="/static/dashboard/dashboard.js" defer></script></head>'
        f'<body data-stamp="{esc(stamp)}"><header><h1>LLM drift monitor</h1><nav>{nav}</nav>'
        f'<span id="live" class="live">live</span></header>'
        f'{_filter_form(path, f, dims)}<main id="main">{body}</main></body></html>'
    )


def _legend(series: Sequence[data.Series]) -> str:
    items = "".join(
        f'<li><svg viewBox="0 0 12 12" class="swatch"><rect width="12" height="12" fill="{colour(i)}"/></svg>'
        f"{esc(s.model)} {esc(s.version)}</li>"
        for i, s in enumerate(series)
    )
    return f'<ul class="legend">{items}<li class="mk-detector">┊ detector fired</li><li class="mk-alert">┊ alert opened</li></ul>'


def overview_page(charts: dict[str, list[data.Series]], markers: Sequence[data.Marker]) -> str:
    """One chart per overview metric, with bands and the markers of each model version shown."""
    panels = []
    all_series = next((s for s in charts.values() if s), [])
    for metric, title, unit in data.OVERVIEW_METRICS:
        series = charts.get(metric, [])
        shown = {(s.model, s.version) for s in series}
        mine = [m for m in markers if (m.model, m.version) in shown]
        panels.append(
            f'<section class="panel" data-metric="{esc(metric)}">{line_chart(series, mine, title, unit)}</section>'
        )
    return f'<h2>Overview</h2>{_legend(all_series)}<div class="grid">{"".join(panels)}</div>'


def drift_page(cells: Sequence[data.DriftCell], f: Filters, hist: data.Histogram | None) -> str:
    def link(c: data.DriftCell) -> str:
        q = f.query_string(
            feature=c.feature,
            cell_model=c.model,
            cell_version=c.version,
            window=f"{c.window_start:.3f}",
        )
        return f"/drift?{q}#histogram"

    selected = hist.cell if hist is not None else None
    legend = "".join(
        f'<li><svg viewBox="0 0 12 12" class="swatch"><rect width="12" height="12" fill="{c}"/></svg>{esc(s)}</li>'
        for s, c in SEVERITY_COLOURS.items()
    )
    body = (
        f'<h2>Drift</h2><p class="hint">Features × windows, coloured by PSI severity; click a cell for its '
        f'reference vs current histogram.</p><ul class="legend">{legend}</ul>'
        f'<section class="panel wide" id="heatmap">{heatmap(cells, link, selected)}</section>'
    )
    chosen = hist.cell if hist is not None else _chosen_cell(cells, f)
    if chosen is not None:
        c = chosen
        psi = "-" if c.psi is None else f"{c.psi:.3f}"
        detail = f'<p class="detail">{esc(c.detail)}</p>' if c.detail else ""
        chart = (
            histogram_chart(hist)
            if hist is not None
            else '<p class="empty">no reference histogram for this row</p>'
        )
        body += (
            f'<section class="panel wide" id="histogram"><h3>{esc(c.model)} {esc(c.version)} · {esc(c.feature)} · '
            f"{_time(c.window_start)} → {_time(c.window_end)}: PSI {psi} ({esc(c.severity)}), "
            f"{c.n_current} of {c.n_events} events scored{' (partial)' if c.partial else ''}</h3>"
            f"{detail}{chart}</section>"
        )
    elif f.feature:
        body += '<section class="panel wide" id="histogram"><p class="empty">no histogram for that cell</p></section>'
    return body


def _chosen_cell(cells: Sequence[data.DriftCell], f: Filters) -> data.DriftCell | None:
    """The cell the filters name (a row without a reference histogram: prompt embeddings)."""
    start = f.window_start()
    if not f.feature or start is None:
        return None
    return next(
        (
            c
            for c in cells
            if c.feature == f.feature
            and (not f.cell_model or c.model == f.cell_model)
            and (not f.cell_version or c.version == f.cell_version)
            and abs(c.window_start - start) < 1e-3
        ),
        None,
    )


def alerts_page(alerts: Sequence[data.Alert]) -> str:
    """Newest first: status, rule, model version, recommended action, evidence and runbook."""
    if not alerts:
        return '<h2>Alerts</h2><p class="empty">no alerts in this range</p>'
    items = []
    for a in alerts:
        runbook = (
            f'<a href="{esc(a.runbook_url)}" rel="noopener noreferrer">runbook</a>'
            if a.runbook_url.startswith(("https://", "http://"))
            else esc(a.runbook_url or "no runbook")
        )
        status = a.status_text
        kind = a.status if status == a.status else "superseded"
        items.append(
            f'<li class="alert status-{esc(kind)} sev-{esc(a.severity)}"><div class="when">{_time(a.starts_at)}'
            f"{' → ' + _time(a.ends_at) if a.ends_at else ''}</div><div><strong>{esc(status)}</strong> "
            f'<span class="badge">{esc(a.severity)}</span> {esc(a.rule)} · {esc(a.model)} {esc(a.version)} · '
            f"<code>{esc(a.id)}</code></div><p>{esc(a.summary)}</p>"
            f'<p class="action">Recommended action: <strong>{esc(a.recommended_action or "-")}</strong> · {runbook}</p>'
            f"<details><summary>evidence</summary><pre>{esc(a.evidence)}</pre><p>{esc(a.description)}</p></details></li>"
        )
    return f'<h2>Alerts</h2><ol class="timeline">{"".join(items)}</ol>'


def _number(value: Any, spec: str = ".4g") -> str:
    return "-" if value is None else format(float(value), spec)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _effect_cells(diff: Any, low: Any, high: Any) -> str:
    """The difference cell and the interval cell, printed alike (monitor.experiments.formatting)."""
    shown, lo, hi = effect_parts(_float(diff), _float(low), _float(high))
    return f"<td>{shown}</td><td>[{lo}, {hi}]</td>"


def shadow_section(
    rows: Sequence[Mapping[str, Any]],
    judged: Mapping[PairKey, PairSummary] | None = None,
    judge_error: str | None = None,
) -> str:
    """Shadow comparisons: each metric's paired difference with its always-valid interval and the
    verdict; under them, the LLM judge's verdicts of the same versions (``judged``, from
    MONITOR_REDIS_URL's Redis) or why they are not shown (``judge_error``).

    >>> row = {"model": "chat", "production_version": "v1", "shadow_version": "v2", "metric": "",
    ...        "n": 40, "diff": None, "ci_low": None, "ci_high": None, "margin": None,
    ...        "status": "", "verdict": "not_worse", "reason": "every metric within its margin"}
    >>> judged = {("chat", "v1", "v2"): PairSummary(40, 0.75, 0.7, 0.0, 0.0)}
    >>> html = shadow_section([row], judged)
    >>> html[html.index('<ul class="judge"'):]
    '<ul class="judge" id="judge"><li>chat v1 → v2: LLM judge: shadow preferred in 75% of 40 pairs (length-controlled 70%, order flips 0%)</li></ul>'
    """
    if not rows:
        return '<h2>Shadow comparisons</h2><p class="empty" id="no-shadow">no shadow comparisons yet</p>'
    body = "".join(
        f"<tr><td>{esc(r['model'])}</td><td>{esc(r['production_version'])} → {esc(r['shadow_version'])}</td>"
        f"<td>{esc(r['metric'])}</td><td>{_number(r['n'], '.0f')}</td>{_effect_cells(r['diff'], r['ci_low'], r['ci_high'])}"
        f"<td>{_number(r['margin'])}</td>"
        f'<td>{esc(r["status"])}</td><td><span class="badge">{esc(r["verdict"])}</span> {esc(r["reason"])}</td></tr>'
        for r in rows
    )
    return (
        '<h2>Shadow comparisons</h2><table class="metrics" id="shadow"><thead><tr><th>model</th><th>versions</th>'
        "<th>metric</th><th>pairs</th><th>difference</th><th>always-valid interval</th><th>margin</th>"
        f"<th>status</th><th>verdict</th></tr></thead><tbody>{body}</tbody></table>"
        + _judge_verdicts(rows, judged or {}, judge_error)
    )


def _judge_verdicts(
    rows: Sequence[Mapping[str, Any]], judged: Mapping[PairKey, PairSummary], error: str | None
) -> str:
    """One line per comparison shown that the judge has verdicts of, or why none are shown."""
    if error is not None:
        return f'<p class="empty" id="judge-unavailable">the LLM judge\'s verdicts are not shown: {esc(error)}</p>'
    keys = dict.fromkeys((r["model"], r["production_version"], r["shadow_version"]) for r in rows)
    items = "".join(
        f"<li>{esc(model)} {esc(production)} → {esc(shadow)}: "
        f"{esc(judge_sentence(s.pairs, s.win_rate, s.lc_win_rate, s.flip_rate))}</li>"
        for model, production, shadow in keys
        if (s := judged.get((model, production, shadow))) is not None and s.pairs
    )
    return f'<ul class="judge" id="judge">{items}</ul>' if items else ""


def _metric_row(m: data.ExperimentMetric) -> str:
    """Both arms' values with the decimals of the difference's interval, then the difference, its
    interval and p."""
    arm = precision_for(m.diff, m.ci_low, m.ci_high)
    return (
        f'<tr class="{"harmed" if m.harmed else ""}"><td>{esc(m.metric)}</td><td>{esc(m.role)}</td>'
        f"<td>{arm.text(m.value_control)}</td><td>{arm.text(m.value_treatment)}</td>"
        f"{_effect_cells(m.diff, m.ci_low, m.ci_high)}<td>{esc(p_value_text(m.p_value))}</td></tr>"
    )


def experiments_page(experiments: Sequence[data.Experiment], charts: int = 4) -> str:
    """Each experiment's decision and SRM state, its metrics' latest always-valid intervals, and the
    difference of its first metrics over time."""
    if not experiments:
        return (
            '<h2>Experiments</h2><p class="empty" id="no-experiments">no experiments: no events of the '
            "chosen model and version carry an <code>experiment</code> and <code>variant</code> yet "
            "(docs/experiments.md).</p>"
        )
    parts = ["<h2>Experiments</h2>"]
    for e in experiments:
        srm = (
            f"sample ratio mismatch ({format_p(e.srm_p_value)})"
            if e.srm
            else f"allocation ok (SRM {format_p(e.srm_p_value)})"
        )
        rows = "".join(_metric_row(m) for m in e.metrics)
        shown = [m for m in e.metrics if m.history][:charts]
        chart_html = "".join(
            f'<section class="panel" data-metric="{esc(m.metric)}">'
            + line_chart(
                [data.Series(m.metric, e.name, f"{e.treatment} - {e.control}", m.history)],
                [],
                f"{m.metric}: {e.treatment} - {e.control}, always-valid interval",
            )
            + "</section>"
            for m in shown
        )
        parts.append(
            f'<section class="experiment panel wide" data-experiment="{esc(e.name)}"><h3>{esc(e.name)}: '
            f'{esc(e.treatment)} against {esc(e.control)} · <span class="badge decision-{esc(e.decision)}">'
            f'{esc(e.decision)}</span></h3><p class="scope">model {esc(", ".join(e.models) or "-")} · version '
            f'{esc(", ".join(e.model_versions) or "-")}</p><p>{esc(e.reason)} · <span class="{"srm-bad" if e.srm else "srm-ok"}">'
            f'{esc(srm)}</span></p><table class="metrics"><thead><tr><th>metric</th><th>role</th><th>{esc(e.control)}'
            f"</th><th>{esc(e.treatment)}</th><th>difference</th><th>always-valid 95 % interval</th><th>p</th></tr>"
            f'</thead><tbody>{rows}</tbody></table><div class="grid">{chart_html}</div></section>'
        )
    return "".join(parts)
