"""The decision table: what to do about the signals of one model version in one window.

Rows, first match wins:

====================================================  ========================  ==================
signals                                               action                    says
====================================================  ========================  ==================
traffic drop                                          ``check_serving_path``    check the producer
                                                                                and serving path
data quality breach                                   ``fix_producer``          fix the producer
outcome degraded, version new, previous known         ``rollback``              roll back
input drift and outcome degraded                      ``fine_tune``             fine-tune, maybe
                                                                                roll back
outcome degraded, no input drift                      ``retrain_concept_drift`` refresh labels,
                                                                                retrain
input drift, outcome fine                             ``investigate_upstream``  upstream data or
                                                                                a new segment
latency regression                                    ``check_capacity``        serving capacity
====================================================  ========================  ==================

"Outcome degraded" is ``outcome_degraded`` or any concept-drift ``detector_events``.

>>> s = Signals("chat", "v2", 0.0, 300.0, drifted_features=(("lang", 0.4, "significant"),))
>>> recommend(s).action
'investigate_upstream'
>>> recommend(Signals("chat", "v2", 0.0, 300.0)) is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.catalogue import QUANTILE_METRICS
from monitor.experiments.formatting import Precision, format_effect, precision_for
from monitor.outcomes.sketch import quantile_text
from monitor.queries import sql_literal

__all__ = [
    "ACTIONS",
    "MetricEvidence",
    "Recommendation",
    "Signals",
    "more_urgent",
    "recommend",
    "trend_query",
]

TOP_FEATURES = 5
SHOWN_DETECTIONS = 3  # in the description; the evidence holds every one
TREND_DAYS = 7
DRIFT_TABLE = "drift_windows"
OUTCOME_TABLE = "metric_windows"


@dataclass(frozen=True)
class MetricEvidence:
    """A window metric with its confidence interval and its comparison with a reference."""

    metric: str
    value: float
    low: float
    high: float
    numerator: int
    denominator: int
    reference: float | None = None
    reference_name: str | None = None
    difference: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None


@dataclass(frozen=True)
class Signals:
    """Everything known about one model version in one window. ``drifted_features`` holds
    ``(feature, psi, severity)`` sorted by PSI, largest first."""

    model: str
    model_version: str
    window_start: float
    window_end: float
    drifted_features: tuple[tuple[str, float, str], ...] = ()
    outcome_degraded: bool = False
    degraded_metrics: tuple[MetricEvidence, ...] = ()
    detector_events: tuple[str, ...] = ()
    data_quality_breach: bool = False
    data_quality_evidence: tuple[str, ...] = ()
    latency_regression: bool = False
    new_version_since: float | None = None
    previous_version: str | None = None
    database: str = "monitor"  # where the trend query reads
    traffic_drop: bool = False
    drift_details: tuple[str, ...] = ()  # what moved, in words (grown topic, embedding scores)
    # (most observations an outcome rule had in this window, fewest its rules need): below the
    # need, outcomes are not known yet (feedback still to come); None: not measured, taken as known
    outcome_samples: tuple[int, int] | None = None
    outcomes_later: bool = False  # the outcome rules judge this window later (feedback delay)

    @property
    def outcomes_known(self) -> bool:
        if self.outcomes_later:
            return False
        return self.outcome_samples is None or self.outcome_samples[0] >= self.outcome_samples[1]


@dataclass(frozen=True)
class Recommendation:
    """A stable ``action`` code, a one-line ``summary``, a longer ``description`` and evidence."""

    action: str
    summary: str
    description: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def trend_query(
    table: str, model: str, versions: tuple[str, ...], until: float, days: int = TREND_DAYS
) -> str:
    """Parameterless SQL for the trend of ``versions`` of ``model`` over ``days`` up to ``until``.

    >>> print(trend_query("metric_windows", "m'1", ("v2",), 86400.0))
    SELECT *
    FROM metric_windows
    WHERE model = 'm\\'1' AND model_version IN ('v2')
      AND window_start >= toDateTime(86400) - INTERVAL 7 DAY
    ORDER BY window_start, model_version
    """
    version_list = ", ".join(sql_literal(v) for v in versions)
    return (
        f"SELECT *\nFROM {table}\n"
        f"WHERE model = {sql_literal(model)} AND model_version IN ({version_list})\n"
        f"  AND window_start >= toDateTime({int(until)}) - INTERVAL {int(days)} DAY\n"
        "ORDER BY window_start, model_version"
    )


def _is_new_version(signals: Signals, recent_version_seconds: float) -> bool:
    return (
        signals.previous_version is not None
        and signals.new_version_since is not None
        and signals.window_start - signals.new_version_since < recent_version_seconds
    )


def _evidence(signals: Signals) -> dict[str, Any]:
    versions = (signals.model_version,) + (
        (signals.previous_version,) if signals.previous_version else ()
    )
    table = (
        OUTCOME_TABLE
        if (signals.outcome_degraded or signals.detector_events or signals.traffic_drop)
        else DRIFT_TABLE
    )
    return {
        "model": signals.model,
        "model_version": signals.model_version,
        "window": {"start": signals.window_start, "end": signals.window_end},
        "top_drifted_features": [
            {"feature": f, "psi": psi, "severity": sev}
            for f, psi, sev in signals.drifted_features[:TOP_FEATURES]
        ],
        "metrics": [asdict(m) for m in signals.degraded_metrics],
        "detector_events": list(signals.detector_events),
        "data_quality": list(signals.data_quality_evidence),
        "latency_regression": signals.latency_regression,
        "traffic_drop": signals.traffic_drop,
        "version": {
            "current": signals.model_version,
            "previous": signals.previous_version,
            "first_seen": signals.new_version_since,
            "age_seconds": None
            if signals.new_version_since is None
            else signals.window_start - signals.new_version_since,
        },
        "trend_query": trend_query(
            f"{signals.database}.{table} FINAL", signals.model, versions, signals.window_end
        ),
    }


def _features_text(signals: Signals) -> str:
    top = signals.drifted_features[:TOP_FEATURES]
    return ", ".join(f"{f} (PSI {psi:.2f}, {sev})" for f, psi, sev in top) or "none"


def _level(m: MetricEvidence) -> Precision:
    """The decimals of the value's interval, used for the value, the reference and a difference
    without an interval; a metric without an interval (``low == high == value``) sizes them from
    the distance between the value and its reference instead.

    >>> _level(MetricEvidence("latency_ms", 850.0, 850.0, 850.0, 0, 9, 758.0)).text(758.0)
    '758'
    >>> _level(MetricEvidence("output_tokens", 0.0, 0.0, 0.0, 0, 9, 0.0614)).text(0.0614)
    '0.061'
    """
    if m.high > m.low or m.reference is None:
        return precision_for(m.value, m.low, m.high)
    return precision_for(m.value, min(m.value, m.reference), max(m.value, m.reference))


def _metric_text(m: MetricEvidence) -> str:
    """One degraded metric: its value, interval and count, the reference, the difference and its
    interval, printed by :mod:`monitor.experiments.formatting`; a quantile's value and reference
    with the digits its sketch supports (:func:`~monitor.outcomes.sketch.quantile_text`).

    >>> print(_metric_text(MetricEvidence("latency_ms", 850.0, 800.0, 900.0, 0, 8, 758.0,
    ...     "baseline", 92.0, 40.0, 144.0)))
    latency_ms 850 (interval 800 to 900, n=8) vs baseline 758, difference +92 (interval +40 to +144)
    >>> print(_metric_text(MetricEvidence("error_rate", 0.09, 0.074, 0.109, 90, 1000, 0.06,
    ...     difference=0.03)))
    error_rate 0.090 (interval 0.074 to 0.109, n=1000) vs reference 0.060, difference +0.030
    >>> print(_metric_text(MetricEvidence("latency_ms", 850.0, 850.0, 850.0, 0, 8, 758.0)))
    latency_ms 850 (n=8) vs reference 758
    >>> print(_metric_text(MetricEvidence("output_tokens_p95", 8.0446, 8.0446, 8.0446, 0, 8)))
    output_tokens_p95 8.04 (n=8)
    """
    level = _level(m)
    number = quantile_text if m.metric in QUANTILE_METRICS else level.text
    if m.high > m.low:
        shown = format_effect(m.value, m.low, m.high, signed=False, detail=f"n={m.denominator}")
        text = f"{m.metric} {shown}"
    else:  # no interval: the evaluator passes the value as both ends
        text = f"{m.metric} {number(m.value)} (n={m.denominator})"
    if m.reference is not None:
        text += f" vs {m.reference_name or 'reference'} {number(m.reference)}"
    if m.difference is not None and m.diff_low is not None and m.diff_high is not None:
        text += ", difference " + format_effect(m.difference, m.diff_low, m.diff_high)
    elif m.difference is not None:
        text += f", difference {level.text(m.difference, signed=True)}"
    return text


def _detections_text(detections: tuple[str, ...]) -> list[str]:
    """The newest :data:`SHOWN_DETECTIONS` detections, and how many more the evidence holds.

    >>> _detections_text(("a", "b", "c", "d", "e"))
    ['detector: c', 'detector: d', 'detector: e', '2 earlier detections in evidence.detector_events']
    """
    shown = [f"detector: {d}" for d in detections[-SHOWN_DETECTIONS:]]
    more = len(detections) - SHOWN_DETECTIONS
    if more > 0:
        noun = "detection" if more == 1 else "detections"
        shown.append(f"{more} earlier {noun} in evidence.detector_events")
    return shown


def _metrics_text(signals: Signals) -> str:
    parts = [_metric_text(m) for m in signals.degraded_metrics]
    parts += _detections_text(signals.detector_events)
    if not parts and signals.outcomes_later:
        return "judged later, once MONITOR_FEEDBACK_DELAY has passed after the window's close"
    if not parts and not signals.outcomes_known and signals.outcome_samples is not None:
        seen, needed = signals.outcome_samples
        return f"not known yet: {seen} feedback observations in this window, the outcome rules need {needed}"
    return "; ".join(parts) or "none"


# action -> (what the summary says after the version's name, the advice), for the rows whose text
# names no other version
_ROW_TEXTS: dict[str, tuple[str, str]] = {
    "check_serving_path": (
        "traffic dropped far below its recent rate, check the producer and the serving path",
        (
            "The version receives far fewer inference events than in its recent windows (or none). "
            "Check that the producer still publishes (its logs, credentials, the topic), that the "
            "serving path routes requests to this version (load balancer, feature flags, deploys), "
            "and the consumer lag; metrics of this window rest on few events."
        ),
    ),
    "fix_producer": (
        "data quality breach, fix the producer",
        (
            "Events break data-quality limits; drift and outcome metrics are unreliable until the "
            "producer is fixed. Check the dead-letter topic and the producer's recent deploys."
        ),
    ),
    "retrain_concept_drift": (
        "outcomes degraded without input drift (concept drift)",
        (
            "Inputs look like the baseline but outcomes changed: the input-to-outcome relation "
            "moved. Refresh the labels and retrain; check whether feedback semantics changed."
        ),
    ),
    "investigate_upstream": (
        "input drift without outcome change, investigate upstream",
        (
            "Inputs moved but outcomes hold. Check upstream data sources and whether a new user "
            "segment appeared; add recent samples to the evaluation set."
        ),
    ),
    "check_capacity": (
        "latency regression, check serving capacity",
        (
            "Latency rose without drift or outcome change. Check serving capacity, autoscaling, "
            "batching and the provider's status."
        ),
    ),
}


def _degraded(signals: Signals) -> bool:
    return signals.outcome_degraded or bool(signals.detector_events)


# The decision table's rows in order, first match wins: (action, does the row match).
_TABLE: tuple[tuple[str, Callable[[Signals, float], bool]], ...] = (
    ("check_serving_path", lambda s, recent: s.traffic_drop),
    ("fix_producer", lambda s, recent: s.data_quality_breach),
    ("rollback", lambda s, recent: _degraded(s) and _is_new_version(s, recent)),
    ("fine_tune", lambda s, recent: bool(s.drifted_features) and _degraded(s)),
    ("retrain_concept_drift", lambda s, recent: _degraded(s)),
    ("investigate_upstream", lambda s, recent: bool(s.drifted_features)),
    ("check_capacity", lambda s, recent: s.latency_regression),
)
ACTIONS = tuple(action for action, _ in _TABLE)  # most urgent first


def more_urgent(action: str | None, than: str | None) -> bool:
    """Whether ``action`` comes before ``than`` in the decision table (an open incident escalates).

    >>> more_urgent("rollback", "investigate_upstream"), more_urgent("investigate_upstream", "fine_tune")
    (True, False)
    """
    rank = {a: i for i, a in enumerate(ACTIONS)}
    return action in rank and rank[action] < rank.get(than or "", len(ACTIONS))


# investigate_upstream while too little feedback has arrived to say whether outcomes hold
_UNKNOWN_OUTCOMES_TEXTS = (
    "input drift, outcomes not known yet, investigate upstream",
    (
        "Inputs moved; too little feedback has arrived for this window to say whether outcomes "
        "hold. Check upstream data sources and whether a new user segment appeared; add recent "
        "samples to the evaluation set. If outcomes degrade in a later window, the incident "
        "escalates with a new alert."
    ),
)


def _action(signals: Signals, recent_version_seconds: float) -> str | None:
    """The action of the first matching row of the table, or None."""
    return next((a for a, matches in _TABLE if matches(signals, recent_version_seconds)), None)


def _rollback_texts(signals: Signals) -> tuple[str, str]:
    """The rollback row's summary (after the version's name) and advice: they name the version."""
    return (
        f"outcomes degraded right after release, roll back to {signals.previous_version}",
        (
            f"Outcomes degraded within the first window(s) of version {signals.model_version}. "
            f"Roll back to {signals.previous_version} and compare the versions offline."
        ),
    )


def _fine_tune_texts(signals: Signals) -> tuple[str, str]:
    """The fine-tune row's summary and advice, which offer a rollback when there is a previous
    version."""
    rollback = f" or roll back to {signals.previous_version}" if signals.previous_version else ""
    return (
        "input drift with outcome degradation, fine-tune on recent data",
        (
            "Inputs moved and outcomes got worse: the model no longer fits its traffic. Fine-tune "
            f"on recent labelled data{rollback}; add the drifted slices to the evaluation set."
        ),
    )


def _row(signals: Signals, recent_version_seconds: float) -> tuple[str, str, str] | None:
    """(action, summary, advice) of the first matching row of the table, or None."""
    action = _action(signals, recent_version_seconds)
    if action is None:
        return None
    if action == "rollback":
        says, advice = _rollback_texts(signals)
    elif action == "fine_tune":
        says, advice = _fine_tune_texts(signals)
    elif action == "investigate_upstream" and not signals.outcomes_known:
        says, advice = _UNKNOWN_OUTCOMES_TEXTS
    else:
        says, advice = _ROW_TEXTS[action]
    return action, f"{signals.model} {signals.model_version}: {says}", advice


def recommend(signals: Signals, *, recent_version_seconds: float = 86400) -> Recommendation | None:
    """The recommendation for ``signals``, or ``None`` when nothing is wrong.

    >>> s = Signals("chat", "v2", 1000.0, 1300.0, outcome_degraded=True,
    ...             new_version_since=900.0, previous_version="v1")
    >>> recommend(s).action
    'rollback'
    >>> recommend(s, recent_version_seconds=50).action
    'retrain_concept_drift'
    """
    row = _row(signals, recent_version_seconds)
    if row is None:
        return None
    action, summary, advice = row
    description = (
        f"{advice}\nTop drifted features: {_features_text(signals)}.\n"
        f"Outcome evidence: {_metrics_text(signals)}."
    )
    if signals.data_quality_evidence:
        description += f"\nData quality: {'; '.join(signals.data_quality_evidence)}."
    if signals.drift_details:  # the grown topic names the kind of request that moved
        description += f"\nWhat moved: {'; '.join(signals.drift_details)}."
        topics = [d for d in signals.drift_details if d.startswith("prompt_topic: ")]
        if topics:
            summary += f" ({topics[0].removeprefix('prompt_topic: ')})"
    return Recommendation(action, summary, description, _evidence(signals))
