"""The dashboard's panels, read from the store through the query catalogue (``monitor.queries``).

Every function takes a ``Reader`` (the store, or a worker's read-only ``/query``) and returns frozen
values the pages draw; no SQL is written here.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.state import status_text
from monitor.catalogue import outcome_metric
from monitor.dashboard.filters import Filters
from monitor.drift.baseline import Baseline
from monitor.errors import MonitorError
from monitor.queries import (
    alerts_query,
    baseline_body_query,
    detections_query,
    dimensions_query,
    drift_query,
    experiments_query,
    freshness_query,
    histogram_query,
    metrics_query,
    shadow_query,
)

__all__ = [
    "OVERVIEW_METRICS",
    "Alert",
    "DriftCell",
    "Experiment",
    "ExperimentMetric",
    "Histogram",
    "Marker",
    "Point",
    "Series",
    "alerts",
    "dimensions",
    "drift_cells",
    "experiments",
    "freshness",
    "histogram",
    "markers",
    "overview",
    "shadow_rows",
]

#: Overview charts: (window metric, title, unit); events/s is derived from ``inference_events``.
OVERVIEW_METRICS: tuple[tuple[str, str, str], ...] = (
    ("inference_events", "events/s", "events/s"),
    *(
        (m, outcome_metric(m).description.rstrip("."), "share")
        for m in ("satisfaction", "task_completion", "human_takeover", "bad_case")
    ),
    ("latency_p95_ms", outcome_metric("latency_p95_ms").description.rstrip("."), "ms"),
)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp()
    return float(value)


@dataclass(frozen=True, slots=True)
class Point:
    t: float
    value: float
    low: float | None
    high: float | None
    count: float


@dataclass(frozen=True, slots=True)
class Series:
    """One metric of one model version over time."""

    metric: str
    model: str
    version: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Marker:
    """A detector firing or an alert opening, drawn on the overview charts."""

    t: float
    kind: str  # "detector" or "alert"
    label: str
    model: str
    version: str


@dataclass(frozen=True, slots=True)
class DriftCell:
    model: str
    version: str
    feature: str
    window_start: float
    window_end: float
    psi: float | None
    severity: str
    n_current: int
    n_events: int
    partial: bool
    baseline_id: str
    detail: str = ""  # what moved, in words (prompt topics and embeddings: the topic that grew)


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    status: str
    severity: str
    rule: str
    model: str
    version: str
    starts_at: float
    ends_at: float | None
    summary: str
    description: str
    recommended_action: str
    evidence: str
    runbook_url: str

    @property
    def status_text(self) -> str:
        """``firing``, ``resolved``, or ``superseded by <rule> (<action>)``: an escalated incident's
        old alert did not clear."""
        try:
            evidence = json.loads(self.evidence)
        except ValueError:
            evidence = None
        return status_text(self.status, evidence if isinstance(evidence, dict) else {})


@dataclass(frozen=True, slots=True)
class Histogram:
    """Reference and current shares per bin of one feature in one drift window."""

    cell: DriftCell
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


def _run(reader: Any, built: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = reader.query(*built).dicts()
    return rows


def dimensions(reader: Any) -> list[tuple[str, str, str]]:
    """(model, version, segment) choices of the filters."""
    return [
        (r["model"], r["model_version"], r["segment"])
        for r in _run(reader, dimensions_query(reader.db))
    ]


def freshness(reader: Any) -> str:
    """Changes whenever new windows, drift rows or alerts land."""
    result = reader.query(*freshness_query(reader.db))
    return "|".join(str(v) for v in result.rows[0]) if result.rows else ""


def _scope(f: Filters) -> dict[str, Any]:
    return {"model": f.model or None, "version": f.version or None, "since": f.since()}


def overview(reader: Any, f: Filters) -> dict[str, list[Series]]:
    """Series per overview metric (events/s as inference events over the window's length)."""
    series: dict[str, dict[tuple[str, str], list[Point]]] = {
        m: defaultdict(list) for m, _, _ in OVERVIEW_METRICS
    }
    for metric, _, _ in OVERVIEW_METRICS:
        rows = _run(
            reader, metrics_query(reader.db, metric=metric, segment=f.segment or "", **_scope(f))
        )
        for r in rows:
            start, end = _epoch(r["window_start"]), _epoch(r["window_end"])
            value, low, high = float(r["value"]), r["low"], r["high"]
            if metric == "inference_events":
                value, low, high = value / max(end - start, 1e-9), None, None
            point = Point(
                start,
                value,
                None if low is None else float(low),
                None if high is None else float(high),
                float(r["count"]),
            )
            series[metric][(r["model"], r["model_version"])].append(point)
    return {
        m: [
            Series(m, model, version, tuple(points))
            for (model, version), points in sorted(by.items())
        ]
        for m, by in series.items()
    }


def markers(reader: Any, f: Filters) -> list[Marker]:
    """Detector firings and alert openings in scope."""
    out = [
        Marker(
            _epoch(r["event_time"]),
            "detector",
            f"{r['detector']} on {r['stream']} ({r['change']})",
            r["model"],
            r["model_version"],
        )
        for r in _run(reader, detections_query(reader.db, **_scope(f)))
    ]
    out += [
        Marker(a.starts_at, "alert", f"{a.severity}: {a.rule}", a.model, a.version)
        for a in alerts(reader, f)
        if a.status == "firing"
    ]
    return sorted(out, key=lambda m: m.t)


def drift_cells(reader: Any, f: Filters) -> list[DriftCell]:
    rows = _run(reader, drift_query(reader.db, **_scope(f)))
    return [
        DriftCell(
            r["model"],
            r["model_version"],
            r["feature"],
            _epoch(r["window_start"]),
            _epoch(r["window_end"]),
            None if r["psi"] is None else float(r["psi"]),
            str(r["severity"]),
            int(r["n_current"]),
            int(r["n_events"]),
            bool(r["partial"]),
            str(r.get("baseline_id", "")),
            str(r.get("detail") or ""),
        )
        for r in rows
    ]


def alerts(reader: Any, f: Filters) -> list[Alert]:
    """Alert notifications in scope, newest first; a resolved notification follows its firing one."""
    rows = _run(
        reader,
        alerts_query(reader.db, model=f.model or None, version=f.version or None, since=f.since()),
    )
    out = [
        Alert(
            str(r["id"]),
            str(r["status"]),
            str(r["severity"]),
            str(r["rule"]),
            str(r["model"]),
            str(r["model_version"]),
            _epoch(r["starts_at"]),
            None if r["ends_at"] is None else _epoch(r["ends_at"]),
            str(r["summary"]),
            str(r["description"]),
            str(r["recommended_action"]),
            str(r["evidence"]),
            str(r["runbook_url"]),
        )
        for r in rows
    ]
    return out[::-1]


def histogram(reader: Any, f: Filters) -> Histogram | None:
    """Reference vs current shares of the drift cell the filters name, or None when there is none."""
    start = f.window_start()
    if not f.feature or start is None:
        return None
    cells = [
        c
        for c in drift_cells(reader, Filters(model=f.cell_model, version=f.cell_version))
        if c.feature == f.feature and abs(c.window_start - start) < 1e-3
    ]
    if not cells or not cells[0].baseline_id:
        return None
    cell = cells[0]
    bodies = _run(reader, baseline_body_query(reader.db, baseline_id=cell.baseline_id))
    try:
        profile = Baseline.from_json(bodies[0]["body"]).features[cell.feature] if bodies else None
    except (MonitorError, KeyError):
        return None
    if profile is None:
        return None
    counts = [0.0] * profile.bins.n_bins
    rows = _run(
        reader,
        histogram_query(
            reader.db,
            model=cell.model,
            version=cell.version,
            feature=cell.feature,
            start=cell.window_start,
            end=cell.window_end,
        ),
    )
    for r in rows:
        baseline_id, _, index = str(r["bucket"]).rpartition(":")
        if baseline_id == cell.baseline_id and index.isdigit() and int(index) < len(counts):
            counts[int(index)] += float(r["count"])
    reference = profile.reference_histogram().astype(float)
    ref_total, cur_total = float(reference.sum()) or 1.0, sum(counts) or 1.0
    return Histogram(
        cell,
        tuple(profile.bins.labels()),
        tuple(float(x) / ref_total for x in reference),
        tuple(c / cur_total for c in counts),
    )


@dataclass(frozen=True, slots=True)
class ExperimentMetric:
    """One metric of an experiment: its latest report and the difference's interval over time."""

    metric: str
    value_control: float
    value_treatment: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    role: str  # "primary", "guardrail" or ""
    harmed: bool
    history: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    control: str
    treatment: str
    decision: str
    reason: str
    srm: bool
    srm_p_value: float
    metrics: tuple[ExperimentMetric, ...]
    models: tuple[str, ...] = ()
    model_versions: tuple[str, ...] = ()


def _number(value: Any) -> float:
    """A stored figure, NaN where it is undefined: read through a worker's store (``monitor ui``
    against a store a worker owns), NaN arrives as null, JSON having none."""
    return math.nan if value is None else float(value)


def experiments(reader: Any, f: Filters) -> list[Experiment]:
    """Every experiment whose requests ran on the filters' model and version: its latest decision and
    metrics, with each metric's history (overall segment)."""
    model, version, since = f.model or None, f.version or None, f.since()
    latest = _run(reader, experiments_query(reader.db, model=model, version=version, since=since))
    history: dict[tuple[str, str], list[Point]] = defaultdict(list)
    for r in _run(
        reader,
        experiments_query(reader.db, model=model, version=version, since=since, history=True),
    ):
        diff = _number(r["diff"])
        if r["metric"] == "" or not math.isfinite(diff):  # a summary row, or nothing to plot
            continue
        history[(r["experiment"], r["metric"])].append(
            Point(
                _epoch(r["updated_at"]),
                diff,
                _number(r["ci_low"]),
                _number(r["ci_high"]),
                float(r["n_control"]) + float(r["n_treatment"]),
            )
        )
    out = []
    for s in (r for r in latest if r["metric"] == ""):
        metrics = tuple(
            ExperimentMetric(
                str(r["metric"]),
                _number(r["value_control"]),
                _number(r["value_treatment"]),
                _number(r["diff"]),
                _number(r["ci_low"]),
                _number(r["ci_high"]),
                _number(r["p_value"]),
                "primary" if r["primary"] else "guardrail" if r["guardrail"] else "",
                bool(r["harmed"]),
                tuple(history[(r["experiment"], r["metric"])]),
            )
            for r in latest
            if r["experiment"] == s["experiment"] and r["metric"] != ""
        )
        out.append(
            Experiment(
                str(s["experiment"]),
                str(s["control"]),
                str(s["treatment"]),
                str(s["decision"]),
                str(s["reason"]),
                bool(s["srm"]),
                _number(s["srm_p_value"]),
                tuple(sorted(metrics, key=lambda m: (m.role == "", m.role != "primary", m.metric))),
                tuple(map(str, s["models"])),
                tuple(map(str, s["model_versions"])),
            )
        )
    return out


def shadow_rows(reader: Any, f: Filters) -> list[dict[str, Any]]:
    """Latest shadow comparisons (production vs shadow version) in scope, as the catalogue returns them."""
    return _run(reader, shadow_query(reader.db, model=f.model or None, since=f.since()))
