"""Alert rule specifications: frozen values loaded from YAML, checked up front.

A rule says which signal to watch (``drift``, ``detector``, ``metric``, ``data_quality``,
``latency``, ``traffic``), which metric of it, and when it breaches: ``value`` (or ``value - reference`` when
``relative_to`` is ``baseline`` or ``previous_version``) ``above`` / ``below`` ``threshold``.
``min_samples``, ``for_windows`` and ``cooldown_seconds`` are applied by
:class:`monitor.alerts.state.AlertTracker`.

>>> rules = load_rules('''
... rules:
...   - name: takeover_high
...     signal: metric
...     severity: warning
...     metric: human_takeover_rate
...     condition: above
...     threshold: 0.15
... ''')
>>> rules[0].name, rules[0].breached(0.2), rules[0].breached(0.1)
('takeover_high', True, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, get_args

from monitor.catalogue import rule_metrics
from monitor.durations import parse_duration
from monitor.errors import ConfigError
from monitor.yaml_text import load_yaml

__all__ = [
    "CONDITIONS",
    "RELATIVE_TO",
    "SEVERITIES",
    "SIGNALS",
    "AlertRule",
    "configured_rules",
    "default_rules",
    "judged_elsewhere",
    "load_rules",
    "resolve_runbook",
    "signal_metrics",
    "with_runbook_base",
]

Signal = Literal["drift", "detector", "metric", "data_quality", "latency", "traffic"]
Severity = Literal["info", "warning", "critical"]
Condition = Literal["above", "below"]
RelativeTo = Literal["absolute", "baseline", "previous_version"]

SIGNALS: tuple[str, ...] = get_args(Signal)
SEVERITIES: tuple[str, ...] = get_args(Severity)
CONDITIONS: tuple[str, ...] = get_args(Condition)
RELATIVE_TO: tuple[str, ...] = get_args(RelativeTo)
DEFAULT_RULES_PATH = Path(__file__).parent / "default_rules.yaml"


@dataclass(frozen=True)
class AlertRule:
    """One alert rule. ``detector`` rules may leave ``metric``/``condition``/``threshold`` unset:
    any detection breaches.

    >>> AlertRule("x", "metric", "warning", "task_completion_rate", "below", 0.7).breached(0.5)
    True
    >>> AlertRule("x", "detector", "loud", None, None, None)
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: rule 'x': severity: 'loud' is not one of info, warning, critical
    """

    name: str
    signal: Signal
    severity: Severity
    metric: str | None
    condition: Condition | None
    threshold: float | None
    relative_to: RelativeTo = "absolute"
    min_samples: int = 100
    for_windows: int = 1
    cooldown_seconds: float = 3600
    feature: str | None = None
    description: str = ""
    runbook_url: str = ""

    @property
    def judges_outcomes(self) -> bool:
        """A rule on outcome metrics (joined feedback): what ``MONITOR_FEEDBACK_DELAY`` delays and
        what "outcomes not known yet" is about.

        >>> AlertRule("x", "metric", "warning", "satisfaction_rate", "below", 0.5).judges_outcomes
        True
        """
        return self.signal == "metric"

    def __post_init__(self) -> None:
        problems = _rule_problems(self)
        if problems:
            raise ConfigError("\n".join(f"rule {self.name!r}: {p}" for p in problems))

    def breached(self, value: float, reference: float | None = None) -> bool:
        """Whether ``value`` (minus ``reference`` for relative rules) crosses the threshold.

        A relative rule without a reference, or a rule without a condition, never breaches here:
        detector rules breach on an event, not on a value.

        >>> r = AlertRule("sat", "metric", "warning", "satisfaction_rate", "below", -0.05,
        ...               relative_to="baseline")
        >>> r.breached(0.80, reference=0.90), r.breached(0.88, reference=0.90), r.breached(0.1)
        (True, False, False)
        """
        if self.condition is None or self.threshold is None or math.isnan(value):
            return False
        if self.relative_to != "absolute":
            if reference is None or math.isnan(reference):
                return False
            value = value - reference
        return value > self.threshold if self.condition == "above" else value < self.threshold


def _choice(
    value: object, name: str, allowed: tuple[str, ...], optional: bool = False
) -> str | None:
    if value is None and optional:
        return None
    if value not in allowed:
        return f"{name}: {value!r} is not one of {', '.join(allowed)}"
    return None


def signal_metrics(signal: str) -> tuple[str, ...]:
    """The metric names a rule of ``signal`` may watch: the catalogue's, or detector names.

    >>> signal_metrics("drift")
    ('drift_severity',)
    """
    if signal == "detector":
        from monitor.detectors.concept import DETECTOR_NAMES  # river is only needed here

        return DETECTOR_NAMES
    return tuple(rule_metrics(signal))


def _rule_problems(rule: AlertRule) -> list[str]:
    checks = [
        None
        if isinstance(rule.name, str) and rule.name.strip()
        else f"name: {rule.name!r} is empty",
        _choice(rule.signal, "signal", SIGNALS),
        _choice(rule.severity, "severity", SEVERITIES),
        _choice(rule.condition, "condition", CONDITIONS, optional=True),
        _choice(rule.relative_to, "relative_to", RELATIVE_TO),
    ]
    problems = [c for c in checks if c]
    if (
        rule.signal in SIGNALS
        and rule.metric is not None
        and rule.metric not in signal_metrics(rule.signal)
    ):
        problems.append(
            f"metric: {rule.metric!r} is not one of {', '.join(signal_metrics(rule.signal))} "
            f"(signal {rule.signal})"
        )
    if rule.threshold is not None and (
        isinstance(rule.threshold, bool)
        or not isinstance(rule.threshold, (int, float))
        or not math.isfinite(rule.threshold)
    ):
        problems.append(f"threshold: {rule.threshold!r} is not a finite number")
    if (
        isinstance(rule.min_samples, bool)
        or not isinstance(rule.min_samples, int)
        or rule.min_samples < 0
    ):
        problems.append(f"min_samples: {rule.min_samples!r} is not an integer >= 0")
    if (
        isinstance(rule.for_windows, bool)
        or not isinstance(rule.for_windows, int)
        or rule.for_windows < 1
    ):
        problems.append(f"for_windows: {rule.for_windows!r} is not an integer >= 1")
    if (
        isinstance(rule.cooldown_seconds, bool)
        or not isinstance(rule.cooldown_seconds, (int, float))
        or not rule.cooldown_seconds >= 0
    ):
        problems.append(
            f"cooldown_seconds: {rule.cooldown_seconds!r} is not a number of seconds >= 0"
        )
    if rule.signal != "detector" and (
        rule.metric is None or rule.condition is None or rule.threshold is None
    ):
        problems.append(
            f"signal {rule.signal!r} needs metric, condition and threshold "
            f"(got {rule.metric!r}, {rule.condition!r}, {rule.threshold!r})"
        )
    if (rule.condition is None) != (rule.threshold is None):
        problems.append("condition and threshold are set together or not at all")
    return problems


_FIELDS = tuple(f.name for f in fields(AlertRule))
_REQUIRED = ("name", "signal", "severity")


def _rule_from_mapping(index: int, raw: object) -> tuple[AlertRule | None, list[str]]:
    if not isinstance(raw, Mapping):
        return None, [f"rule #{index}: {raw!r} is not a mapping of {', '.join(_FIELDS)}"]
    label = f"rule {raw.get('name')!r}" if raw.get("name") else f"rule #{index}"
    problems = [
        f"{label}: unknown key {key!r}; allowed keys: {', '.join(_FIELDS)}"
        for key in raw
        if key not in _FIELDS
    ]
    problems += [f"{label}: {key} is required" for key in _REQUIRED if key not in raw]
    if problems:
        return None, problems
    values = {key: raw[key] for key in _FIELDS if key in raw}
    for key in ("metric", "condition", "threshold"):
        values.setdefault(key, None)
    if isinstance(values.get("cooldown_seconds"), str):
        try:
            values["cooldown_seconds"] = parse_duration(values["cooldown_seconds"])
        except ConfigError as exc:
            problems.append(f"{label}: cooldown_seconds: {exc}")
            values["cooldown_seconds"] = 0.0  # keep checking the other keys
    if isinstance(values.get("threshold"), int) and not isinstance(values["threshold"], bool):
        try:
            values["threshold"] = float(values["threshold"])
        except OverflowError:
            problems.append(f"{label}: threshold: {str(values['threshold'])[:40]}... is too large")
            values["threshold"] = 0.0  # keep checking the other keys
    try:
        rule = AlertRule(**values)
    except ConfigError as exc:
        return None, problems + str(exc).splitlines()
    return (None if problems else rule), problems


def load_rules(path_or_text: str | Path) -> tuple[AlertRule, ...]:
    """Rules from a YAML file or YAML text: a list of rules, or a mapping with a ``rules`` list.

    Every problem is collected and raised together in one :class:`ConfigError`.

    >>> load_rules("rules: [{name: a, signal: drift, severity: warning, metric: psi, colour: red}]")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: 1 problem in alert rules:
      rule 'a': unknown key 'colour'; allowed keys: name, signal, severity, metric, condition, \
threshold, relative_to, min_samples, for_windows, cooldown_seconds, feature, description, runbook_url
    """
    text = _read(path_or_text)
    document = load_yaml(text, "alert rules")
    raw_rules = document.get("rules") if isinstance(document, Mapping) else document
    if not isinstance(raw_rules, list):
        raise ConfigError(
            f"alert rules: expected a list of rules or a mapping with 'rules', got {document!r}"
        )
    rules: list[AlertRule] = []
    problems: list[str] = []
    for index, raw in enumerate(raw_rules):
        rule, rule_problems = _rule_from_mapping(index, raw)
        problems += rule_problems
        if rule is not None:
            rules.append(rule)
    names = [r.name for r in rules]
    problems += [
        f"rule {n!r}: name is used more than once"
        for n in sorted({n for n in names if names.count(n) > 1})
    ]
    if problems:
        raise ConfigError(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in alert rules:\n  "
            + "\n  ".join(problems)
        )
    return tuple(rules)


def _read(path_or_text: str | Path) -> str:
    if isinstance(path_or_text, Path):
        if not path_or_text.exists():
            raise ConfigError(f"alert rules file {path_or_text} does not exist")
        return path_or_text.read_text()
    if "\n" not in path_or_text and path_or_text.endswith((".yaml", ".yml")):
        return _read(Path(path_or_text))
    return path_or_text


def configured_rules(path: str | None) -> tuple[AlertRule, ...]:
    """The rules the workers load: the file ``MONITOR_ALERT_RULES`` names, or the shipped ones
    when it is unset; a problem names the setting and the file.

    >>> len(configured_rules(None)) == len(default_rules())
    True
    >>> configured_rules("/nonexistent/rules.yaml")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: MONITOR_ALERT_RULES=/nonexistent/rules.yaml: alert rules file \
/nonexistent/rules.yaml does not exist
    """
    if not path:
        return default_rules()
    try:
        return load_rules(Path(path))  # always a file: a name without .yaml is not YAML text
    except ConfigError as exc:
        raise ConfigError(f"MONITOR_ALERT_RULES={path}: {exc}") from None


# Rule metrics no worker computes (rejected messages have no trustworthy window): the Prometheus
# alert that judges each instead (deploy/prometheus/rules/monitor.rules.yml).
PROMETHEUS_JUDGED = {"dlq_rate": "MonitorDLQRateHigh"}


def judged_elsewhere(rules: Sequence[AlertRule]) -> list[str]:
    """A note for each rule the workers accept but never fire, naming what judges it instead.

    >>> judged_elsewhere(default_rules())
    ["rule 'dlq_rate_high': the workers never fire it (dlq_rate is judged by Prometheus: \
MonitorDLQRateHigh in deploy/prometheus/rules/monitor.rules.yml)"]
    """
    return [
        f"rule {rule.name!r}: the workers never fire it ({rule.metric} is judged by Prometheus: "
        f"{PROMETHEUS_JUDGED[rule.metric]} in deploy/prometheus/rules/monitor.rules.yml)"
        for rule in rules
        if rule.metric in PROMETHEUS_JUDGED
    ]


def default_rules() -> tuple[AlertRule, ...]:
    """The rules shipped in ``default_rules.yaml``.

    >>> {r.signal for r in default_rules()} >= {"drift", "detector", "metric", "data_quality", "latency"}
    True
    """
    return load_rules(DEFAULT_RULES_PATH)


def with_runbook_base(rules: tuple[AlertRule, ...], base_url: str) -> tuple[AlertRule, ...]:
    """The rules with each relative ``runbook_url`` made absolute against ``base_url``.

    Receivers (Alertmanager, chat, pagers) need an absolute link; absolute URLs stay as written.
    An empty ``base_url`` (no place the docs are served is known) keeps relative runbooks as they
    are: the Alertmanager sink then names them in the description instead of linking them.

    >>> rule = AlertRule("lat", "latency", "warning", "latency_p95_seconds", "above", 0.5,
    ...                  runbook_url="docs/alerts.md#latency")
    >>> with_runbook_base((rule,), "https://git.example/monitor/blob/main")[0].runbook_url
    'https://git.example/monitor/blob/main/docs/alerts.md#latency'
    >>> with_runbook_base((rule,), "")[0].runbook_url
    'docs/alerts.md#latency'
    """
    if not base_url:
        return rules
    resolve_runbook("", base_url)  # the base is checked even without a rule to resolve
    return tuple(
        replace(rule, runbook_url=resolve_runbook(rule.runbook_url, base_url)) for rule in rules
    )


def resolve_runbook(runbook_url: str, base_url: str) -> str:
    """``runbook_url`` made absolute against ``base_url`` (MONITOR_RUNBOOK_BASE_URL) when it is
    relative and a base is set; absolute URLs and an empty base leave it as written.

    >>> resolve_runbook("docs/alerts.md#experiments", "https://git.example/monitor/blob/main")
    'https://git.example/monitor/blob/main/docs/alerts.md#experiments'
    >>> resolve_runbook("docs/alerts.md#experiments", "")
    'docs/alerts.md#experiments'
    """
    from urllib.parse import urljoin, urlsplit

    if not base_url:
        return runbook_url
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ConfigError(
            f"MONITOR_RUNBOOK_BASE_URL={base_url!r}: expected an absolute http(s) URL or nothing"
        )
    if not runbook_url or urlsplit(runbook_url).scheme:
        return runbook_url
    return urljoin(base_url if base_url.endswith("/") else base_url + "/", runbook_url)
