"""The decision table: one test per row, precedence between rows, and the evidence."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.alerts.actions import MetricEvidence, Signals, recommend, trend_query
from monitor.queries import sql_literal

DAY = 86400.0
DRIFT = (("prompt_length", 0.41, "significant"), ("language", 0.18, "moderate"))
SAT = MetricEvidence(
    "satisfaction_rate",
    0.71,
    0.68,
    0.74,
    710,
    1000,
    reference=0.82,
    reference_name="baseline",
    difference=-0.11,
    diff_low=-0.15,
    diff_high=-0.07,
)


def signals(**kw: object) -> Signals:
    base: dict[str, object] = {
        "model": "chat",
        "model_version": "v2",
        "window_start": 10 * DAY,
        "window_end": 10 * DAY + 300,
    }
    return Signals(**{**base, **kw})  # type: ignore[arg-type]


def action(**kw: object) -> str | None:
    rec = recommend(signals(**kw))
    return rec.action if rec else None


def test_nothing_wrong_recommends_nothing() -> None:
    assert recommend(signals()) is None


def test_input_drift_without_outcome_change_investigates_upstream() -> None:
    rec = recommend(signals(drifted_features=DRIFT))
    assert rec is not None and rec.action == "investigate_upstream"
    assert "new user segment" in rec.description and "evaluation set" in rec.description
    assert "prompt_length (PSI 0.41, significant)" in rec.description


def test_input_drift_with_outcome_degradation_fine_tunes_and_mentions_rollback() -> None:
    rec = recommend(
        signals(
            drifted_features=DRIFT,
            outcome_degraded=True,
            degraded_metrics=(SAT,),
            previous_version="v1",
            new_version_since=0.0,
        )
    )
    assert rec is not None and rec.action == "fine_tune"
    assert "roll back to v1" in rec.description


def test_outcome_degradation_without_drift_is_concept_drift() -> None:
    assert action(outcome_degraded=True, degraded_metrics=(SAT,)) == "retrain_concept_drift"
    # a detector event alone counts as outcome degradation
    assert action(detector_events=("adwin:satisfaction",)) == "retrain_concept_drift"


def test_degradation_right_after_new_version_rolls_back_even_with_drift() -> None:
    recent = {"new_version_since": 10 * DAY - 3600, "previous_version": "v1"}
    assert action(outcome_degraded=True, **recent) == "rollback"
    assert action(outcome_degraded=True, drifted_features=DRIFT, **recent) == "rollback"
    rec = recommend(signals(outcome_degraded=True, **recent))
    assert rec is not None and "v1" in rec.summary


@pytest.mark.parametrize(
    ("since", "previous", "expected"),
    [
        (10 * DAY - DAY + 1, "v1", "rollback"),  # just inside the recent window
        (10 * DAY - DAY, "v1", "retrain_concept_drift"),  # exactly one day old: not recent
        (10 * DAY - 60, None, "retrain_concept_drift"),  # nothing to roll back to
        (None, "v1", "retrain_concept_drift"),
    ],
)
def test_rollback_needs_a_recent_version_and_a_previous_one(
    since: float | None, previous: str | None, expected: str
) -> None:
    assert (
        action(outcome_degraded=True, new_version_since=since, previous_version=previous)
        == expected
    )


def test_recent_version_seconds_is_configurable() -> None:
    s = signals(outcome_degraded=True, new_version_since=10 * DAY - 7200, previous_version="v1")
    assert recommend(s, recent_version_seconds=3600).action == "retrain_concept_drift"  # type: ignore[union-attr]
    assert recommend(s, recent_version_seconds=7201).action == "rollback"  # type: ignore[union-attr]


def test_data_quality_breach_takes_precedence_over_everything() -> None:
    rec = recommend(
        signals(
            data_quality_breach=True,
            data_quality_evidence=("dlq_rate 0.05 > 0.01",),
            drifted_features=DRIFT,
            outcome_degraded=True,
            latency_regression=True,
            new_version_since=10 * DAY - 60,
            previous_version="v1",
        )
    )
    assert rec is not None and rec.action == "fix_producer"
    assert "dlq_rate 0.05 > 0.01" in rec.description


def test_latency_regression_alone_checks_capacity_but_drift_wins() -> None:
    assert action(latency_regression=True) == "check_capacity"
    assert action(latency_regression=True, drifted_features=DRIFT) == "investigate_upstream"


def test_evidence_holds_features_metrics_versions_and_json_compatible_values() -> None:
    many = tuple((f"f{i}", 1.0 - i / 10, "significant") for i in range(8))
    rec = recommend(
        signals(
            drifted_features=many,
            outcome_degraded=True,
            degraded_metrics=(SAT,),
            previous_version="v1",
            new_version_since=DAY,
        )
    )
    assert rec is not None
    ev = rec.evidence
    assert [f["feature"] for f in ev["top_drifted_features"]] == ["f0", "f1", "f2", "f3", "f4"]
    assert ev["metrics"][0]["value"] == 0.71 and ev["metrics"][0]["diff_low"] == -0.15
    assert ev["version"] == {
        "current": "v2",
        "previous": "v1",
        "first_seen": DAY,
        "age_seconds": 9 * DAY,
    }
    assert "satisfaction_rate 0.710 (interval 0.680 to 0.740, n=1000) vs baseline 0.820" in (
        rec.description
    )
    assert (
        "FROM monitor.metric_windows FINAL" in ev["trend_query"]
        and "IN ('v2', 'v1')" in ev["trend_query"]
    )
    json.dumps(ev)


def evidence_line(*metrics: MetricEvidence) -> str:
    rec = recommend(signals(outcome_degraded=True, degraded_metrics=metrics))
    assert rec is not None
    return rec.description.split("Outcome evidence: ", 1)[1].split("\n")[0]


def test_a_latency_metric_prints_its_milliseconds_without_spurious_decimals() -> None:
    latency = MetricEvidence(
        "latency_ms", 850.0, 800.0, 900.0, 0, 1200, 758.0, "version:v1", 92.0, 40.0, 144.0
    )
    line = evidence_line(latency)
    assert line == (
        "latency_ms 850 (interval 800 to 900, n=1200) vs version:v1 758, "
        "difference +92 (interval +40 to +144)."
    )
    assert ".000" not in line


def test_a_rate_metric_prints_the_decimals_its_interval_needs() -> None:
    assert evidence_line(SAT) == (
        "satisfaction_rate 0.710 (interval 0.680 to 0.740, n=1000) vs baseline 0.820, "
        "difference -0.110 (interval -0.150 to -0.070)."
    )
    no_interval = MetricEvidence("error_rate", 0.09, 0.074, 0.109, 90, 1000, 0.06, difference=0.03)
    # the reference and a difference without an interval take the decimals of the value's interval
    assert evidence_line(no_interval, SAT).startswith(
        "error_rate 0.090 (interval 0.074 to 0.109, n=1000) vs reference 0.060, "
        "difference +0.030; satisfaction_rate 0.710"
    )


def test_a_metric_without_an_interval_prints_none_and_sizes_from_its_reference() -> None:
    # the evaluator passes a metric without an interval (a mean) as low == high == value
    mean = MetricEvidence("output_tokens", 0.0, 0.0, 0.0, 0, 40, 0.0614, "baseline", -0.0614)
    assert evidence_line(mean) == "output_tokens 0.000 (n=40) vs baseline 0.061, difference -0.061."


def test_a_quantile_prints_the_digits_its_sketch_supports() -> None:
    # a sketch's quantile is within 0.5 %: 3 significant digits, whatever the reference's distance
    tokens = MetricEvidence("output_tokens_p95", 119.70464, 119.70464, 119.70464, 0, 40, 118.8)
    assert evidence_line(tokens) == "output_tokens_p95 120 (n=40) vs reference 119."
    few = MetricEvidence("input_tokens_p50", 8.0446, 8.0446, 8.0446, 0, 40)
    assert evidence_line(few) == "input_tokens_p50 8.04 (n=40)."


def test_a_difference_interval_just_off_zero_keeps_a_digit_of_its_bound() -> None:
    m = MetricEvidence(
        "latency_ms", 900.0, 880.0, 920.0, 0, 500, 881.56, "baseline", 18.44, 0.08392, 36.8
    )
    assert evidence_line(m).endswith("difference +18.44 (interval +0.08 to +36.80).")


DIFFERENCE = re.compile(r"difference (\S+) \(interval (\S+) to (\S+)\)")


@given(
    st.floats(0.0, 1e300, exclude_min=True),
    st.floats(0.0, 1e300),
    st.booleans(),
    st.floats(0.0, 1.0),
)
@example(1e-9, 0.9, False, 0.5)  # once printed as 0.0e-01: scientific notation lost the digit
def test_a_difference_interval_that_excludes_zero_never_prints_a_bound_of_zero(
    nearest: float, width: float, negative: bool, at: float
) -> None:
    sign = -1.0 if negative else 1.0
    low, high = sorted((sign * nearest, sign * (nearest + width)))
    m = MetricEvidence(
        "m", 1.0, 0.5, 1.5, 1, 2, 1.0, "baseline", low + at * (high - low), low, high
    )
    found = DIFFERENCE.search(evidence_line(m))
    assert found is not None
    printed_low, printed_high = (Decimal(found[i]) for i in (2, 3))
    assert printed_low != 0 and printed_high != 0, found[0]
    assert (printed_low > 0) == (low > 0) and (printed_high > 0) == (high > 0), found[0]


def test_drift_only_trend_query_reads_drift_windows() -> None:
    rec = recommend(signals(drifted_features=DRIFT))
    assert rec is not None and "FROM monitor.drift_windows FINAL" in rec.evidence["trend_query"]


def test_trend_queries_run_on_the_real_schema(chdb_dir) -> None:
    from monitor.adapters.clickhouse_store import ClickHouseStore

    store = ClickHouseStore(f"chdb://{chdb_dir}?database=monitor").connect()
    store.migrate()
    for rec in (
        recommend(signals(drifted_features=DRIFT)),
        recommend(signals(outcome_degraded=True, degraded_metrics=(SAT,), previous_version="v1")),
    ):
        assert rec is not None
        store.query(rec.evidence["trend_query"])  # raises StoreError on an unknown table or column


def literals(sql: str) -> tuple[list[str], str]:
    """ClickHouse-style scan: the decoded string literals and the SQL with them blanked out."""
    found: list[str] = []
    outside: list[str] = []
    i = 0
    while i < len(sql):
        if sql[i] != "'":
            outside.append(sql[i])
            i += 1
            continue
        i += 1
        chars: list[str] = []
        while sql[i] != "'":
            if sql[i] == "\\":
                i += 1
            chars.append(sql[i])
            i += 1
        i += 1
        found.append("".join(chars))
        outside.append("?")
    return found, "".join(outside)


def test_trend_query_quotes_hostile_names() -> None:
    hostile = "x' OR 1=1 --\\"
    sql = trend_query("monitor.metric_windows FINAL", hostile, (hostile, "v1"), 0)
    found, structure = literals(sql)
    assert found == [hostile, hostile, "v1"]
    assert "WHERE model = ? AND model_version IN (?, ?)" in structure
    assert "OR 1=1" not in structure


def test_sql_literal_round_trips_quotes_and_backslashes() -> None:
    for value in ("plain", "it's", "back\\slash", "\\'", "''"):
        assert literals(sql_literal(value))[0] == [value]
