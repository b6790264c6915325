"""The names a CLI filter may take: fixed ones from the code, models and versions from the store.

Each fixed list is read from the module that defines the names (one home per fact); when the
metric catalogue grows, these functions are the one place to repoint.
"""

from __future__ import annotations

from typing import Any, get_args

from monitor.alerts.state import Resolution
from monitor.contract.timestamps import utc_datetime
from monitor.drift.coverage import CountedWindow, ScoredWindow, UnscoredWindow, unscored_windows
from monitor.tools.cli_support import require_known

__all__ = [
    "ALERT_STATUSES",
    "check_store_filters",
    "comparison_metric_names",
    "detector_names",
    "detector_stream_names",
    "unscored_report",
    "window_metric_names",
]

# resolved is either resolution: cleared or superseded (by a more urgent alert)
ALERT_STATUSES = ("firing", "resolved", *get_args(Resolution))


def window_metric_names() -> tuple[str, ...]:
    """Every metric of ``metric_windows`` a person asks for, from the metric catalogue (not the
    worker's internal rows such as ``emb:phi``)."""
    from monitor.catalogue import METRIC_WINDOW_NAMES

    return METRIC_WINDOW_NAMES


def comparison_metric_names() -> tuple[str, ...]:
    from monitor.adapters.schema import PROPORTIONS

    return PROPORTIONS


def detector_stream_names() -> tuple[str, ...]:
    from monitor.outcomes.join import DETECTOR_STREAMS

    return DETECTOR_STREAMS


def detector_names() -> tuple[str, ...]:
    from monitor.detectors.concept import DETECTOR_NAMES

    return DETECTOR_NAMES


def _distinct(reader: Any, table: str, column: str, model: str | None = None) -> list[str]:
    where = " WHERE model = {model:String}" if model is not None else ""
    rows = reader.query(
        f"SELECT DISTINCT {column} FROM {reader.db}.{table}{where}",
        {"model": model} if model is not None else {},
    ).rows
    return [str(r[0]) for r in rows]


def _segments(reader: Any, model: str | None) -> list[str]:
    """The segments of the catalogue's metrics: an internal row's bucket (a baseline id) is none."""
    model_only = " AND model = {model:String}" if model is not None else ""
    rows = reader.query(
        f"SELECT DISTINCT segment FROM {reader.db}.metric_windows "
        f"WHERE has({{metrics:Array(String)}}, metric){model_only}",
        {"metrics": list(window_metric_names()), "model": model or ""},
    ).rows
    return [str(r[0]) for r in rows]


def check_store_filters(
    reader: Any,
    *,
    model: str | None = None,
    version: str | None = None,
    segment: str | None = None,
    feature: str | None = None,
) -> None:
    """Reject a model, version, segment or feature the store has never seen, listing those it has."""
    if model is not None:
        require_known("--model", model, _distinct(reader, "metric_windows", "model"), "model")
    if version is not None:
        known = _distinct(reader, "metric_windows", "model_version", model)
        require_known("--version", version, known, f"version{f' of {model}' if model else ''}")
    if segment is not None:
        segments = _segments(reader, model)
        key = segment.partition("=")[0]
        unknown_key = all(s.partition("=")[0] != key for s in segments)
        require_known(
            "--segment",
            segment,
            segments,
            "segment",
            f" (the workers keep rows for the segment keys in MONITOR_SEGMENT_KEYS only: start them "
            f"with MONITOR_SEGMENT_KEYS='[\"{key}\"]' to count {key!r} from then on)"
            if unknown_key and key
            else "",
        )
    if feature is not None:
        require_known(
            "--feature",
            feature,
            _distinct(reader, "drift_windows", "feature", model),
            "scored feature",
        )


def unscored_report(
    reader: Any,
    *,
    model: str | None,
    version: str | None,
    since: float | None,
    until: float | None,
    allowed_lateness: float,
    min_samples: int,
) -> list[UnscoredWindow]:
    """Windows that counted inference events but have no drift score, with the reason."""
    db = reader.db
    params: dict[str, Any] = {
        "model": model or "",
        "version": version or "",
        "since": utc_datetime(since or 0.0),
        "until": utc_datetime(until or 4_102_444_800.0),
    }
    where = (
        "({model:String} = '' OR model = {model:String}) AND ({version:String} = '' OR "
        "model_version = {version:String}) AND window_start >= {since:DateTime64(3)} "
        "AND window_start < {until:DateTime64(3)}"
    )
    written = {  # when each window's events were last written (wall clock, as baselines' dates)
        (float(s), m, v): float(t)
        for s, m, v, t in reader.query(
            f"SELECT toFloat64(window_start), model, model_version, toFloat64(max(inserted_at)) "
            f"FROM {db}.partials WHERE name = 'inference_events' AND {where} "
            "GROUP BY window_start, model, model_version",
            params,
        ).rows
    }
    counted = [
        CountedWindow(float(s), float(e), m, v, float(n), written.get((float(s), m, v)))
        for s, e, m, v, n in reader.query(
            f"SELECT toFloat64(window_start), toFloat64(window_end), model, model_version, count "
            f"FROM {db}.metric_windows FINAL WHERE metric = 'inference_events' AND segment = '' AND {where}",
            params,
        ).rows
    ]
    if not counted:
        return []
    scored = {
        (float(s), float(e), m, v): ScoredWindow(int(ok), int(short), int(n))
        for s, e, m, v, ok, short, n in reader.query(
            f"SELECT toFloat64(window_start), toFloat64(window_end), model, model_version, "
            f"countIf(severity != 'insufficient'), countIf(severity = 'insufficient'), max(n_current) "
            f"FROM {db}.drift_windows FINAL WHERE {where} GROUP BY window_start, window_end, model, "
            f"model_version",
            params,
        ).rows
    }
    first_baselines = {
        (m, v): float(t)
        for m, v, t in reader.query(
            f"SELECT model, model_version, toFloat64(min(created_at)) FROM {db}.baselines FINAL "
            "GROUP BY model, model_version"
        ).rows
    }
    from monitor.adapters.clickhouse_store import read_watermark

    watermark = read_watermark(reader, f"{db}.partials")
    return unscored_windows(
        counted,
        scored,
        first_baselines,
        watermark=watermark,
        allowed_lateness=allowed_lateness,
        min_samples=min_samples,
    )
