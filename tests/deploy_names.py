"""What deploy/ names, checked against what the worker exports and sends.

:func:`exported` builds the worker's side from a real ``MonitorMetrics`` registry and the metric
catalogue (series the catalogue governs count only when the catalogue passed in declares them);
:func:`deploy_problems` reads the Prometheus rules, the Alertmanager config and the Grafana
dashboard and lists every metric, label, label value and alert name the worker does not export
or send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from monitor.adapters.alert_sinks import SERVICE
from monitor.adapters.prometheus_metrics import MonitorMetrics
from monitor.alerts.rules import SEVERITIES, AlertRule, default_rules
from monitor.catalogue import (
    DRIFT_SCORES,
    LATENCY_SERIES,
    OUTCOME_LABEL,
    OUTCOME_METRICS,
    OUTCOME_OBSERVATIONS_SERIES,
    OUTCOME_POSITIVE_SERIES,
    SHADOW_METRICS,
    WINDOW_METRICS,
    DriftScore,
    OutcomeMetric,
    WindowMetric,
)
from monitor.contract.events import KINDS
from monitor.detectors.concept import DETECTOR_NAMES
from monitor.outcomes.join import DETECTOR_STREAMS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS_LABELS = frozenset({"instance", "job"})  # added by Prometheus to every scraped series
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


@dataclass(frozen=True)
class Exported:
    series: dict[str, frozenset[str]]  # sample name -> label names
    label_values: dict[str, frozenset[str]]  # labels whose values are known -> those values
    alertnames: frozenset[str]
    alert_labels: dict[str, frozenset[str] | None]  # label -> its values (None: any)
    window_metrics: frozenset[str]
    shadow_metrics: frozenset[str]


def _catalogue_series(outcomes: Iterable[OutcomeMetric], drift: Iterable[DriftScore]) -> set[str]:
    names = {series for m in outcomes for series in m.prometheus_series}
    names |= {s.prometheus_series for s in drift if s.prometheus_series}
    if f"{LATENCY_SERIES}_bucket" in names:
        names |= {f"{LATENCY_SERIES}{s}" for s in _SUFFIXES["histogram"]}
    if OUTCOME_OBSERVATIONS_SERIES in names:
        names |= {
            OUTCOME_OBSERVATIONS_SERIES.replace("_total", "_created"),
            OUTCOME_POSITIVE_SERIES.replace("_total", "_created"),
        }
    return names


def exported(
    outcomes: Sequence[OutcomeMetric] = OUTCOME_METRICS,
    drift: Sequence[DriftScore] = DRIFT_SCORES,
    windows: Sequence[WindowMetric] = WINDOW_METRICS,
    rules: Sequence[AlertRule] | None = None,
) -> Exported:
    """The worker's side: a real registry's series, minus those the given catalogue does not declare."""
    metrics = MonitorMetrics(CollectorRegistry())
    series: dict[str, frozenset[str]] = {}
    groups = [  # MonitorMetrics and the series groups it holds (shadow, judge)
        metrics,
        *(v for v in vars(metrics).values() if type(v).__module__.startswith("monitor.adapters.")),
    ]
    for metric in (m for group in groups for m in vars(group).values()):
        if hasattr(metric, "_labelnames") and hasattr(metric, "_type"):
            for suffix in _SUFFIXES[metric._type]:
                labels = set(metric._labelnames) | ({"le"} if suffix == "_bucket" else set())
                series[metric._name + suffix] = frozenset(labels)
    undeclared = _catalogue_series(OUTCOME_METRICS, DRIFT_SCORES) - _catalogue_series(
        outcomes, drift
    )
    series = {name: labels for name, labels in series.items() if name not in undeclared}
    worker_rules = default_rules() if rules is None else rules
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "monitor.rules.yml").read_text())
    alerting = [r for g in prometheus["groups"] for r in g["rules"] if "alert" in r]
    alert_labels: dict[str, frozenset[str] | None] = {
        "alertname": None,
        "severity": frozenset(SEVERITIES),
        "model": None,
        "model_version": None,
        "service": frozenset({SERVICE}),
    }
    for (
        rule
    ) in alerting:  # a Prometheus alert carries its rule's labels and its expression's by-labels
        for label in _grouping_labels(rule["expr"]) | PROMETHEUS_LABELS:
            alert_labels.setdefault(label, None)
        for label, value in rule.get("labels", {}).items():
            known = alert_labels.get(label, frozenset())
            alert_labels[label] = None if known is None else known | {value}
    return Exported(
        series=series,
        label_values={
            OUTCOME_LABEL: frozenset(m.prometheus_label for m in outcomes if m.prometheus_label),
            "kind": frozenset(KINDS),
            "stream": frozenset(DETECTOR_STREAMS),
            "detector": frozenset(DETECTOR_NAMES),
            "severity": frozenset(SEVERITIES),
            "status": frozenset({"firing", "resolved"}),
            "resolution": frozenset({"", "cleared", "superseded"}),
        },
        alertnames=frozenset({r.name for r in worker_rules} | {r["alert"] for r in alerting}),
        alert_labels=alert_labels,
        window_metrics=frozenset({m.name for m in outcomes} | {m.name for m in windows}),
        shadow_metrics=frozenset(m.name for m in SHADOW_METRICS),
    )


_SELECTOR = re.compile(r"\b(monitor_[a-z0-9_]+)\s*(\{([^}]*)\})?")
_MATCHER = re.compile(r"(\w+)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"")
_GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")


def _grouping_labels(expr: str) -> set[str]:
    return {
        label.strip()
        for group in _GROUPING.findall(expr)
        for label in group.split(",")
        if label.strip()
    }


def _values(op: str, value: str) -> list[str] | None:
    """The label values a matcher names, or None when it is a pattern or a template variable."""
    if "$" in value or op in ("!=", "!~"):
        return None
    if op == "=~":
        return value.split("|") if re.fullmatch(r"[\w.:-]+(\|[\w.:-]+)*", value) else None
    return [value]


def promql_problems(where: str, expr: str, worker: Exported) -> list[str]:
    """Every series, label and label value of one PromQL expression the worker does not export."""
    problems = []
    labels_in_expr: set[str] = set(PROMETHEUS_LABELS)
    for name, _, matchers in _SELECTOR.findall(expr):
        if name not in worker.series:
            problems.append(f"{where}: {name} is not exported by the worker")
            continue
        labels_in_expr |= worker.series[name]
        for label, op, value in _MATCHER.findall(matchers):
            if label not in worker.series[name] | PROMETHEUS_LABELS:
                problems.append(f"{where}: {name} has no label {label!r}")
            allowed = worker.label_values.get(label)
            for v in (_values(op, value) or []) if allowed is not None else []:
                if v not in allowed:
                    problems.append(
                        f"{where}: {name}{{{label}={v!r}}} is never exported; "
                        f"{label} is one of {', '.join(sorted(allowed))}"
                    )
    for label in _grouping_labels(expr) - labels_in_expr:
        problems.append(f"{where}: groups by {label!r}, a label none of its series has")
    return problems


def _alertmanager_matchers(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, matcher) of every route and inhibit rule matcher."""
    found = []

    def walk(route: dict[str, Any], path: str) -> None:
        found.extend((path, m) for m in route.get("matchers", []))
        for i, child in enumerate(route.get("routes", [])):
            walk(child, f"{path}.routes[{i}]")

    walk(config["route"], "route")
    for i, rule in enumerate(config.get("inhibit_rules", [])):
        found += [
            (f"inhibit_rules[{i}]", m)
            for key in ("source_matchers", "target_matchers")
            for m in rule.get(key, [])
        ]
    return found


def alertmanager_problems(worker: Exported) -> list[str]:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    problems = []
    for where, matcher in _alertmanager_matchers(config):
        parsed = re.fullmatch(r"\s*(\w+)\s*(=~|!~|!=|=)\s*\"?([^\"]*)\"?\s*", matcher)
        if parsed is None:
            problems.append(f"alertmanager {where}: cannot read matcher {matcher!r}")
            continue
        label, op, value = parsed.groups()
        if label not in worker.alert_labels:
            problems.append(f"alertmanager {where}: no alert carries the label {label!r}")
            continue
        allowed = worker.alertnames if label == "alertname" else worker.alert_labels[label]
        for v in (_values(op, value) or []) if allowed is not None else []:
            if v not in allowed:
                problems.append(f"alertmanager {where}: no alert is sent with {label}={v!r}")
    grouping = [("route.group_by", config["route"].get("group_by", []))]
    grouping += [
        (f"inhibit_rules[{i}].equal", r.get("equal", []))
        for i, r in enumerate(config.get("inhibit_rules", []))
    ]
    for where, labels in grouping:
        problems += [
            f"alertmanager {where}: no alert carries the label {label!r}"
            for label in labels
            if label not in worker.alert_labels and label != "..."
        ]
    return problems


def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "monitor.json").read_text())


def grafana_problems(worker: Exported) -> list[str]:
    board = dashboard()
    problems = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            where = f"grafana panel {panel['id']} ({panel['title']})"
            if "expr" in target:
                problems += promql_problems(where, target["expr"], worker)
            for listed, single in re.findall(
                r"\bmetric\s+(?:IN\s*\(([^)]*)\)|=\s*('[^']*'))", target.get("rawSql", "")
            ):
                for value in re.findall(r"'([^']*)'", listed + single):
                    problems += _metric_problems(where, target["rawSql"], value, worker)
    for variable in board["templating"]["list"]:
        problems += promql_problems(
            f"grafana variable {variable['name']}", variable.get("definition", ""), worker
        )
    return problems


def _metric_problems(where: str, sql: str, value: str, worker: Exported) -> list[str]:
    """A metric named in a panel's SQL, against the catalogue of the table it reads ('' is a summary row)."""
    if "shadow_results" in sql:
        known, kind = worker.shadow_metrics | {""}, "shadow metric"
    elif "experiment_results" in sql:
        known, kind = (
            frozenset({""}),
            "experiment summary row",
        )  # per-metric rows are picked by primary/guardrail
    else:
        known, kind = worker.window_metrics, "window metric"
    return [] if value in known else [f"{where}: metric {value!r} is not a {kind} of the catalogue"]


def prometheus_problems(worker: Exported) -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "monitor.rules.yml").read_text())
    problems = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            problems += promql_problems(
                f"prometheus {rule.get('alert') or rule.get('record')}", rule["expr"], worker
            )
    return problems


def deploy_problems(worker: Exported) -> list[str]:
    """Everything deploy/ names that the worker does not export or send."""
    return prometheus_problems(worker) + alertmanager_problems(worker) + grafana_problems(worker)


def _default_value(variable: dict[str, Any]) -> str:
    """A variable's default as Grafana renders it: the custom all value for All, else the values as a regex."""
    current = variable.get("current", {}).get("value", [])
    values = current if isinstance(current, list) else [current]
    if "$__all" in values:
        return str(variable.get("allValue") or ".*")
    return "|".join(re.escape(str(v)) for v in values)


def _interval(grafana_time: str) -> str:
    amount, unit = re.fullmatch(r"now-(\d+)([smhdw])", grafana_time).groups()  # type: ignore[union-attr]
    units = {"s": "SECOND", "m": "MINUTE", "h": "HOUR", "d": "DAY", "w": "WEEK"}
    return f"INTERVAL {amount} {units[unit]}"


# ClickHouse panels empty without experiment or shadow traffic (or prompts to embed): their SQL is run,
# and required to return rows, after the real runs of tests/e2e/test_experiments.py,
# tests/e2e/test_shadow.py and tests/e2e/test_embeddings.py instead of tests/e2e/test_alerts.py. tests/deploy/test_deploy_configs.py holds these lists to the tables the panels read.
EXPERIMENT_PANELS = frozenset({26, 27})
SHADOW_PANELS = frozenset({29})
EMBEDDING_PANELS = frozenset({31})  # filled by tests/e2e/test_embeddings.py (prompts with text)


def clickhouse_panels(
    board: dict[str, Any] | None = None,
    only: frozenset[int] | None = None,
    skip: frozenset[int] = frozenset(),
) -> list[tuple[str, str]]:
    """(panel, SQL) of every ClickHouse panel (those with ids in ``only``, not in ``skip``), with the
    dashboard's default time range and variables."""
    board = board or dashboard()
    defaults = {v["name"]: _default_value(v) for v in board["templating"]["list"]}
    since = _interval(board["time"]["from"])
    out = []
    for panel in board["panels"]:
        if panel["id"] in skip or (only is not None and panel["id"] not in only):
            continue
        for target in panel.get("targets", []):
            if "rawSql" not in target:
                continue
            sql = re.sub(
                r"\$__timeFilter\((\w+)\)",
                rf"\1 >= now() - {since} AND \1 <= now()",
                target["rawSql"],
            )
            sql = re.sub(
                r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], sql
            )
            out.append((f"panel {panel['id']} ({panel['title']})", sql))
    return out
