"""What ``monitor demo`` prints as it goes and at the end: rates with intervals, alerts once, a recap.

Every line holds text from the store (model names, versions, features, summaries, reasons) and is
returned escaped (:func:`~monitor.tools.terminal.terminal_text`), as tables and ``monitor alerts``
print it: an escape sequence a producer put in a model name does not reach the terminal.
"""

from __future__ import annotations

import json
import math
from typing import Any

from monitor.alerts.state import successor
from monitor.errors import StoreError
from monitor.experiments.formatting import format_effect, format_p, precision_for
from monitor.tools.terminal import terminal_text

__all__ = ["AlertFeed", "rate_text", "recap_lines", "version_rate_lines"]

RATES = (
    ("satisfaction", "satisfaction"),
    ("task_completion", "task completion"),
    ("human_takeover", "human takeover"),
)


def rate_text(
    label: str, value: float | None, low: float | None, high: float | None, n: float
) -> str:
    """``satisfaction 0.82 [0.78, 0.86] n=312``: the rate with its 95% Wilson interval.

    >>> rate_text("satisfaction", 0.82, 0.781, 0.857, 312)
    'satisfaction 0.82 [0.78, 0.86] n=312'
    >>> rate_text("human takeover", None, None, None, 0)
    'human takeover -'
    """
    if value is None:
        return f"{label} -"
    interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    return f"{label} {value:.2f}{interval} n={n:.0f}"


def _escaped(lines: list[str]) -> list[str]:
    return [terminal_text(line) for line in lines]


def _title(model: str, version: str, summary: str) -> str:
    """The summary already names the model version: do not say it twice."""
    prefix = f"{model} {version}"
    return summary if summary.startswith(prefix) else f"{prefix}: {summary}"


def version_rate_lines(reader: Any) -> list[str]:
    """Latest window per version: outcome rates with 95% intervals and the most drifted feature."""
    db = reader.db
    try:
        rates = reader.query(
            f"SELECT model_version, metric, argMax(value, window_start), argMax(low, window_start), "
            f"argMax(high, window_start), argMax(count, window_start) FROM {db}.metric_windows FINAL "
            "WHERE segment = '' AND count >= 20 AND metric IN ('satisfaction', 'task_completion', 'human_takeover') "
            "GROUP BY model_version, metric"
        ).rows
        drift = reader.query(
            f"SELECT model_version, argMax(feature, psi), max(psi), argMax(severity, psi) FROM {db}.drift_windows "
            f"FINAL WHERE window_start = (SELECT max(window_start) FROM {db}.drift_windows) AND psi IS NOT NULL "
            "GROUP BY model_version"
        ).rows
    except StoreError:
        return []
    by_version: dict[str, dict[str, tuple]] = {}
    for version, metric, value, low, high, n in rates:
        by_version.setdefault(version, {})[metric] = (value, low, high, n)
    top = {v: (f, psi, sev) for v, f, psi, sev in drift}
    out = []
    for version in sorted(by_version):
        r = by_version[version]
        parts = [rate_text(label, *r.get(metric, (None, None, None, 0))) for metric, label in RATES]
        line = f"         {version}: " + "  ".join(parts)
        if version in top:
            feature, psi, severity = top[version]
            line += f"  | top drift {feature} PSI {psi:.2f} ({severity})"
        out.append(line)
    return _escaped(out)


class AlertFeed:
    """Alerts stored since the last call, each notification printed once."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.printed: set[tuple[str, str, Any]] = set()

    def lines(self) -> list[str]:
        try:
            rows = self.reader.query(
                f"SELECT fingerprint, status, starts_at, severity, model, model_version, summary, recommended_action, "
                f"evidence FROM {self.reader.db}.alerts FINAL ORDER BY created_at"
            ).rows
        except StoreError:
            return []
        out = []
        for (
            fingerprint,
            status,
            starts,
            severity,
            model,
            version,
            summary,
            action,
            evidence,
        ) in rows:
            if (fingerprint, status, starts) in self.printed:
                continue
            self.printed.add((fingerprint, status, starts))
            title = _title(model, version, summary)
            if status == "firing":
                out.append(f"  >>> ALERT FIRING [{severity}] {title}")
                out.append(f"      recommended action: {action}")
                features = json.loads(evidence).get("top_drifted_features", [])
                if features:
                    out.append(
                        "      drifted: "
                        + ", ".join(f"{f['feature']} PSI {f['psi']:.2f}" for f in features)
                    )
            elif new := successor(json.loads(evidence or "{}")):
                out.append(f"  <<< ALERT SUPERSEDED by {new} {title}")
            else:
                out.append(f"  <<< ALERT RESOLVED {title}")
        return _escaped(out)


def _fate(resolved: Any, evidence: str) -> str:
    """What became of one alert; a superseded alert's incident went on under its successor.

    >>> _fate(1, '{"superseded_by": {"rule": "takeover", "action": "rollback"}}')
    'fired, superseded by takeover (rollback)'
    >>> _fate(1, "{}"), _fate(0, "")
    ('fired and resolved', 'fired, still firing')
    """
    if not resolved:
        return "fired, still firing"
    new = successor(json.loads(evidence or "{}"))
    return f"fired, superseded by {new}" if new else "fired and resolved"


def recap_lines(reader: Any, top: int = 3) -> list[str]:
    """What drifted (top features per version) and which alerts fired and resolved, with actions."""
    db = reader.db
    try:
        drifted = reader.query(
            f"SELECT model_version, feature, max(psi) AS worst, argMax(severity, psi) FROM {db}.drift_windows FINAL "
            "WHERE psi IS NOT NULL AND severity IN ('moderate', 'significant') "
            "GROUP BY model_version, feature ORDER BY model_version, worst DESC"
        ).rows
        alerts = reader.query(
            f"SELECT rule, severity, model, model_version, summary, recommended_action, "
            f"max(status = 'resolved'), anyIf(evidence, status = 'resolved') FROM {db}.alerts FINAL "
            "GROUP BY fingerprint, starts_at, rule, severity, model, "
            "model_version, summary, recommended_action ORDER BY min(created_at)"
        ).rows
    except StoreError as exc:
        return _escaped([f"(recap unavailable: {exc})"])
    out = ["what drifted (highest PSI per feature, moderate or significant):"]
    by_version: dict[str, list[str]] = {}
    for version, feature, psi, severity in drifted:
        if len(by_version.setdefault(version, [])) < top:
            by_version[version].append(f"{feature} PSI {psi:.2f} ({severity})")
    out += [
        f"  {version}: " + ", ".join(features) for version, features in sorted(by_version.items())
    ]
    if not by_version:
        out.append("  nothing beyond the thresholds")
    out.append("alerts:")
    for rule, severity, model, version, summary, action, resolved, evidence in alerts:
        out.append(
            f"  [{severity}] {_title(model, version, summary)} ({rule}; {_fate(resolved, evidence)}); "
            f"action: {action or '-'}"
        )
    if not alerts:
        out.append("  none fired")
    return _escaped(out)


def experiment_lines(reader: Any, metrics: int = 4) -> list[str]:
    """Each A/B experiment's decision and its first metrics with always-valid intervals."""
    try:
        rows = reader.query(
            "SELECT experiment, metric, control, treatment, value_control, value_treatment, diff, ci_low, ci_high, "
            f"p_value, decision, reason FROM {reader.db}.experiment_results FINAL WHERE segment = '' "
            "ORDER BY experiment, metric != '', NOT primary, NOT guardrail, metric"
        ).rows
    except StoreError as exc:
        return _escaped([f"(experiments unavailable: {exc})"])
    out: list[str] = []
    shown = 0
    for (
        experiment,
        metric,
        control,
        treatment,
        vc,
        vt,
        diff,
        low,
        high,
        p,
        decision,
        reason,
    ) in rows:
        if metric == "":
            out.append(
                f"experiment {experiment}: {treatment} against {control}: {decision} ({reason})"
            )
            shown = 0
        elif shown < metrics and diff is not None and low is not None:
            arm = precision_for(diff, low, high)
            out.append(
                f"  {metric}: {arm.text(vc)} -> {arm.text(vt)}, diff "
                + format_effect(diff, low, high, detail=f"{format_p(p)}, always valid")
            )
            shown += 1
    return _escaped(out) or ["no experiment traffic"]


def shadow_lines(reader: Any) -> list[str]:
    """Each shadow candidate's verdict, agreement, similarity, latency delta and error rate."""
    try:
        rows = reader.query(
            "SELECT production_version, shadow_version, metric, value, diff, ci_low, ci_high, pairs, "
            f"shadow_error_rate, verdict, reason FROM {reader.db}.shadow_results FINAL "
            "WHERE metric IN ('', 'agreement', 'similarity', 'latency_ms') "
            "ORDER BY model, production_version, shadow_version, metric != '', metric"
        ).rows
    except StoreError as exc:
        return _escaped([f"(shadow results unavailable: {exc})"])
    out: list[str] = []
    for production, shadow, metric, value, diff, low, high, pairs, errors, verdict, reason in rows:
        if metric == "":
            out.append(
                f"{shadow} against {production}: {verdict} ({reason}); {pairs:.0f} pairs, "
                f"shadow error rate {errors:.3f}"
            )
        elif not all(
            isinstance(x, float | int) and math.isfinite(x) for x in (value, diff, low, high)
        ):
            continue
        elif metric == "latency_ms":
            out.append(
                f"  latency delta in ms {format_effect(diff, low, high, detail='always valid')}"
            )
        else:
            level = format_effect(value, value + low - diff, value + high - diff, signed=False)
            out.append(f"  {metric} {level}")
    return _escaped(out) or ["no shadow traffic"]
