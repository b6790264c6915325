"""Inline SVG charts drawn on the server: time series with bands and markers, a heatmap, a histogram.

Every string from the store goes through :func:`esc`; colours are presentation attributes (no
``style=`` attributes, so the page's Content-Security-Policy needs no ``unsafe-inline``).

>>> from monitor.dashboard.data import Point, Series
>>> svg = line_chart([Series("m", "a", "v1", (Point(0, 1, 0.5, 1.5, 9), Point(60, 2, 1.5, 2.5, 9)))], [], "<x>")
>>> "<path" in svg and "&lt;x&gt;" in svg and "<x>" not in svg
True
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from monitor.catalogue import QUANTILE_METRICS
from monitor.dashboard.data import DriftCell, Histogram, Marker, Point, Series
from monitor.experiments.formatting import effect_parts
from monitor.outcomes.sketch import quantile_text

__all__ = ["SEVERITY_COLOURS", "colour", "esc", "heatmap", "histogram_chart", "line_chart"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
SEVERITY_COLOURS = {
    "none": "#b7e1b0",
    "moderate": "#f5c26b",
    "significant": "#d9534f",
    "insufficient": "#e4e4e4",
}
MARKER_COLOURS = {"detector": "#8e44ad", "alert": "#c0392b"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M:%S")


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def line_chart(
    series: Sequence[Series],
    markers: Sequence[Marker],
    title: str,
    unit: str = "",
    width: int = 560,
    height: int = 190,
) -> str:
    """One metric over time: a line per model version, its confidence band, vertical markers."""
    points = [p for s in series for p in s.points]
    left, right, top, bottom = 52, width - 10, 24, height - 24
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
        f'<text x="{left}" y="15" class="title">{esc(title)}</text>'
    )
    if not points:
        return (
            head
            + f'<text x="{width / 2}" y="{height / 2}" class="empty" text-anchor="middle">no data</text></svg>'
        )
    times = [p.t for p in points] + [m.t for m in markers]
    t0, t1 = min(times), max(times)
    v0, v1 = _value_range(points, unit)
    x, y = _scale(t0, t1, left, right), _scale(v0, v1, bottom, top)
    out = [
        head,
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
    ]
    out += _value_ticks(v0, v1, y, left)
    out += _time_ticks(t0, t1, x, height)
    for i, s in enumerate(series):
        out += _series_marks(s, colour(i), x, y)
    out += [_marker_line(m, x, top, bottom) for m in markers]
    return "".join(out) + "</svg>"


def _value_range(points: Sequence[Point], unit: str) -> tuple[float, float]:
    """The lowest and highest of the values and interval ends; a share's range also holds 0."""
    values = [v for p in points for v in (p.value, p.low, p.high) if v is not None]
    v0, v1 = min(values), max(values)
    if unit == "share":
        v0, v1 = min(v0, 0.0), max(v1, min(1.0, v1 * 1.1 or 1.0))
    return v0, v1


def _value_ticks(v0: float, v1: float, y: Callable[[float], float], left: int) -> list[str]:
    return [
        f'<text x="{left - 4}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v:.3g}</text>'
        for v in (v0, (v0 + v1) / 2, v1)
    ]


def _time_ticks(t0: float, t1: float, x: Callable[[float], float], height: int) -> list[str]:
    return [
        f'<text x="{x(t):.1f}" y="{height - 6}" class="tick" text-anchor="{anchor}">{_clock(t)}</text>'
        for t, anchor in ((t0, "start"), (t1, "end"))
    ]


def _series_marks(
    s: Series, fill: str, x: Callable[[float], float], y: Callable[[float], float]
) -> list[str]:
    """A version's confidence band (where two points or more have one), its line, its points."""
    out: list[str] = []
    band = [p for p in s.points if p.low is not None and p.high is not None]
    if len(band) > 1:
        upper = " ".join(f"{x(p.t):.1f},{y(p.high):.1f}" for p in band)  # type: ignore[arg-type]
        lower = " ".join(f"{x(p.t):.1f},{y(p.low):.1f}" for p in reversed(band))  # type: ignore[arg-type]
        out.append(
            f'<polygon class="band" points="{upper} {lower}" fill="{fill}" fill-opacity="0.18"/>'
        )
    path = " ".join(
        f"{'M' if j == 0 else 'L'}{x(p.t):.1f},{y(p.value):.1f}" for j, p in enumerate(s.points)
    )
    if len(s.points) == 1:
        path += " l0.1,0"
    out.append(
        f'<path class="line" d="{path}" stroke="{fill}" fill="none" stroke-width="2">'
        f"<title>{esc(s.model)} {esc(s.version)}</title></path>"
    )
    for p in s.points:
        out.append(
            f'<circle cx="{x(p.t):.1f}" cy="{y(p.value):.1f}" r="2.5" fill="{fill}">'
            f"<title>{esc(_point_tip(s, p))} n={p.count:.0f}</title></circle>"
        )
    return out


def _point_tip(s: Series, p: Point) -> str:
    """The version, the window's time and its value, with its interval where it has one; a
    quantile with the digits its sketch supports.

    >>> _point_tip(Series("latency_p95_ms", "m", "v1", ()), Point(0, 119.70464, None, None, 1))
    'm v1 01-01 00:00:00: 120'
    """
    if p.low is not None and p.high is not None:
        value, low, high = effect_parts(p.value, p.low, p.high, signed=False)
        shown = f"{value} [{low}, {high}]"
    elif s.metric in QUANTILE_METRICS:
        shown = quantile_text(p.value)
    else:
        shown = f"{p.value:.4g}"
    return f"{s.model} {s.version} {_clock(p.t)}: {shown}"


def _marker_line(m: Marker, x: Callable[[float], float], top: int, bottom: int) -> str:
    return (
        f'<line class="marker marker-{esc(m.kind)}" x1="{x(m.t):.1f}" y1="{top}" x2="{x(m.t):.1f}" '
        f'y2="{bottom}" stroke="{MARKER_COLOURS.get(m.kind, "#333")}" stroke-dasharray="4 3">'
        f"<title>{esc(m.kind)} {esc(_clock(m.t))}: {esc(m.label)} ({esc(m.model)} {esc(m.version)})"
        "</title></line>"
    )


def heatmap(
    cells: Sequence[DriftCell], link: Callable[[DriftCell], str], selected: DriftCell | None = None
) -> str:
    """Rows (model, version, feature) by drift windows, each cell coloured by severity and linking to ``link(cell)``."""
    rows = sorted({(c.model, c.version, c.feature) for c in cells})
    columns = sorted({c.window_start for c in cells})
    if not rows:
        return '<svg class="heatmap" viewBox="0 0 400 40"><text x="10" y="24" class="empty">no drift windows</text></svg>'
    label_w, cell_w, cell_h, top = 260, max(8, min(40, 720 // max(len(columns), 1))), 20, 22
    width, height = label_w + cell_w * len(columns) + 10, top + cell_h * len(rows) + 24
    col_index, row_index = {t: i for i, t in enumerate(columns)}, {r: i for i, r in enumerate(rows)}
    head = (
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="drift severity by feature and window">'
    )
    out = [head]
    for r, (model, version, feature) in enumerate(rows):
        out.append(
            f'<text x="{label_w - 6}" y="{top + r * cell_h + 14}" class="tick" text-anchor="end">'
            f"{esc(model)} {esc(version)} · {esc(feature)}</text>"
        )
    out.append(f'<text x="{label_w}" y="{top - 6}" class="tick">{_clock(columns[0])}</text>')
    if len(columns) > 1:
        out.append(
            f'<text x="{label_w + len(columns) * cell_w}" y="{top - 6}" class="tick" text-anchor="end">'
            f"{_clock(columns[-1])}</text>"
        )
    for c in cells:
        cx, cy = (
            label_w + col_index[c.window_start] * cell_w,
            top + row_index[(c.model, c.version, c.feature)] * cell_h,
        )
        psi = "-" if c.psi is None else f"{c.psi:.3f}"
        chosen = " selected" if selected is not None and c == selected else ""
        partial = (
            f" partial ({c.n_current} of {c.n_events} events)" if c.partial else f" n={c.n_current}"
        )
        out.append(
            f'<a href="{esc(link(c))}"><rect class="cell sev-{esc(c.severity)}{chosen}" x="{cx}" y="{cy}" '
            f'width="{cell_w - 1}" height="{cell_h - 1}" fill="{SEVERITY_COLOURS.get(c.severity, "#999")}">'
            f"<title>{esc(c.feature)} {esc(c.model)} {esc(c.version)} {_clock(c.window_start)}: PSI {psi} "
            f"{esc(c.severity)}{esc(partial)}</title></rect></a>"
        )
    return "".join(out) + "</svg>"


def histogram_chart(h: Histogram, width: int = 640, height: int = 220) -> str:
    """Reference and current shares side by side per bin."""
    n = len(h.labels)
    left, bottom, top = 40, height - 40, 24
    slot = (width - left - 10) / max(n, 1)
    y = _scale(0.0, max([*h.reference, *h.current, 0.01]), bottom, top)
    out = [
        f'<svg class="histogram" viewBox="0 0 {width} {height}" role="img" aria-label="reference vs current">',
        f'<text x="{left}" y="15" class="title">{esc(h.cell.feature)}: reference (grey) vs current (blue)</text>',
    ]
    for i, (label, ref, cur) in enumerate(zip(h.labels, h.reference, h.current)):
        x0 = left + i * slot
        for j, (share, fill, name) in enumerate(
            ((ref, "#9e9e9e", "reference"), (cur, "#1f77b4", "current"))
        ):
            out.append(
                f'<rect class="bar bar-{name}" x="{x0 + 2 + j * (slot - 4) / 2:.1f}" y="{y(share):.1f}" '
                f'width="{max((slot - 4) / 2, 1):.1f}" height="{max(bottom - y(share), 0.5):.1f}" fill="{fill}">'
                f"<title>{esc(label)} {name}: {share:.1%}</title></rect>"
            )
        if n <= 24:
            out.append(
                f'<text x="{x0 + slot / 2:.1f}" y="{bottom + 14}" class="tick" text-anchor="middle">'
                f"{esc(label[:14])}</text>"
            )
    return "".join(out) + "</svg>"
