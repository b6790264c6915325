from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from monitor.drift.divergence import (
    EPSILON,
    SEVERITIES,
    DriftScore,
    SeverityThresholds,
    js_distance,
    kl_divergence,
    psi,
    score_feature,
    smoothed_proportions,
)


def by_hand(counts: list[int], epsilon: float = EPSILON) -> list[float]:
    """The documented smoothing, written out with plain Python."""
    total, k = sum(counts), len(counts)
    if total == 0:
        return [1.0 / k] * k
    return [(c / total + epsilon) / (1 + k * epsilon) for c in counts]


def psi_by_hand(current: list[int], reference: list[int]) -> float:
    p, q = by_hand(current), by_hand(reference)
    return sum((a - b) * math.log(a / b) for a, b in zip(p, q, strict=True))


def kl_by_hand(current: list[int], reference: list[int]) -> float:
    p, q = by_hand(current), by_hand(reference)
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def js_by_hand(current: list[int], reference: list[int]) -> float:
    p, q = by_hand(current), by_hand(reference)
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    half = sum(a * math.log2(a / c) for a, c in zip(p, m, strict=True))
    other = sum(b * math.log2(b / c) for b, c in zip(q, m, strict=True))
    return math.sqrt(max(0.0, 0.5 * half + 0.5 * other))


count_pairs = st.integers(min_value=1, max_value=12).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 10_000), min_size=k, max_size=k),
        st.lists(st.integers(0, 10_000), min_size=k, max_size=k),
    )
)

CASES = [
    ([90, 10], [50, 50]),
    ([0, 5, 5, 0], [3, 3, 3, 1]),
    ([1000, 0, 0], [0, 0, 1000]),
    ([7], [3]),
    ([0, 0, 0], [1, 2, 3]),
]


@pytest.mark.parametrize(("current", "reference"), CASES)
def test_scores_match_a_straightforward_computation(current, reference):
    c, r = np.array(current), np.array(reference)
    assert psi(c, r) == pytest.approx(psi_by_hand(current, reference), rel=1e-12, abs=1e-15)
    assert kl_divergence(c, r) == pytest.approx(kl_by_hand(current, reference), abs=1e-12)
    assert js_distance(c, r) == pytest.approx(js_by_hand(current, reference), abs=1e-12)


@pytest.mark.parametrize(("current", "reference"), CASES)
def test_scores_match_scipy(current, reference):
    p = smoothed_proportions(np.array(current))
    q = smoothed_proportions(np.array(reference))
    c, r = np.array(current), np.array(reference)
    assert kl_divergence(c, r) == pytest.approx(entropy(p, q), abs=1e-12)
    assert psi(c, r) == pytest.approx(entropy(p, q) + entropy(q, p), abs=1e-12)
    assert js_distance(c, r) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-7)


def test_known_unsmoothed_value_is_approached_as_epsilon_shrinks():
    # 0.9/0.1 against 0.5/0.5: (0.4) ln(1.8) + (-0.4) ln(0.2)
    exact = 0.4 * math.log(1.8) - 0.4 * math.log(0.2)
    assert psi(np.array([90, 10]), np.array([50, 50]), epsilon=1e-12) == pytest.approx(exact)
    assert psi(np.array([90, 10]), np.array([50, 50])) < exact


def test_disjoint_distributions_have_js_near_one_and_bounded_psi():
    current, reference = np.array([100, 0]), np.array([0, 100])
    assert js_distance(current, reference) == pytest.approx(1.0, abs=2e-3)
    assert js_distance(current, reference) <= 1.0
    # every smoothed share is at least epsilon / (1 + k epsilon), so the log ratio is bounded
    assert psi(current, reference) < 2 * math.log(1 / EPSILON) + 1


def test_epsilon_is_explicit_and_changes_empty_bin_scores():
    current, reference = np.array([10, 0]), np.array([5, 5])
    assert psi(current, reference, epsilon=1e-2) < psi(current, reference, epsilon=1e-6)


def test_scores_depend_on_proportions_not_on_totals():
    current, reference = np.array([3, 1, 0]), np.array([1, 1, 2])
    assert psi(current * 7, reference * 3) == pytest.approx(psi(current, reference))


def test_all_zero_current_is_scored_as_uniform_and_finite():
    assert psi(np.array([0, 0]), np.array([1, 1])) == 0.0
    assert math.isfinite(psi(np.array([0, 0, 0]), np.array([9, 0, 1])))


@given(count_pairs)
def test_every_score_is_finite_and_non_negative(pair):
    current, reference = (np.array(v) for v in pair)
    for value in (psi(current, reference), kl_divergence(current, reference)):
        assert math.isfinite(value)
        assert value >= 0.0
    assert 0.0 <= js_distance(current, reference) <= 1.0


@given(count_pairs)
def test_psi_of_a_histogram_with_itself_is_zero(pair):
    counts = np.array(pair[0])
    assert psi(counts, counts) == 0.0
    assert kl_divergence(counts, counts) == 0.0
    assert js_distance(counts, counts) == 0.0


@given(count_pairs)
def test_psi_and_js_are_symmetric_and_psi_is_the_sum_of_both_kls(pair):
    current, reference = (np.array(v) for v in pair)
    assert js_distance(current, reference) == pytest.approx(js_distance(reference, current))
    assert psi(current, reference) == pytest.approx(psi(reference, current))
    both = kl_divergence(current, reference) + kl_divergence(reference, current)
    assert psi(current, reference) == pytest.approx(both, rel=1e-9, abs=1e-12)


@given(count_pairs)
def test_smoothed_proportions_sum_to_one(pair):
    assert smoothed_proportions(np.array(pair[0])).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("current", "reference", "message"),
    [
        ([1, 2], [1, 2, 3], "2 bins"),
        ([1, -1], [1, 1], "counts must be finite"),
        ([1, float("nan")], [1, 1], "counts must be finite"),
        ([], [], "non-empty"),
        ([[1, 2]], [[1, 2]], "1-D"),
    ],
)
def test_bad_count_vectors_are_rejected(current, reference, message):
    with pytest.raises(ValueError, match=message):
        psi(np.array(current), np.array(reference))


@pytest.mark.parametrize("epsilon", [0.0, -1e-4, float("inf")])
def test_epsilon_must_be_positive_and_finite(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        js_distance(np.array([1, 2]), np.array([2, 1]), epsilon=epsilon)


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (0.0, "none"),
        (0.0999, "none"),
        (0.1, "moderate"),
        (0.2499, "moderate"),
        (0.25, "significant"),
        (7.0, "significant"),
    ],
)
def test_default_thresholds_classify_psi(value, severity):
    assert SeverityThresholds().classify(value) == severity
    assert severity in SEVERITIES


def test_custom_thresholds_classify_psi():
    thresholds = SeverityThresholds(moderate=0.2, significant=0.5)
    assert [thresholds.classify(v) for v in (0.15, 0.3, 0.5)] == ["none", "moderate", "significant"]


@pytest.mark.parametrize(("moderate", "significant"), [(0.3, 0.2), (0.0, 0.2), (0.1, 0.1), (-1, 1)])
def test_thresholds_are_validated_and_named(moderate, significant):
    with pytest.raises(ValueError, match=f"moderate={moderate}, significant={significant}"):
        SeverityThresholds(moderate=moderate, significant=significant)


def test_classify_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        SeverityThresholds().classify(float("nan"))


def test_score_feature_gathers_every_score():
    current, reference = np.array([80, 15, 5]), np.array([50, 30, 20])
    score = score_feature("lang", current, reference)
    assert isinstance(score, DriftScore)
    assert score.feature == "lang"
    assert score.psi == psi(current, reference)
    assert score.kl == kl_divergence(current, reference)
    assert score.js == js_distance(current, reference)
    assert (score.n_current, score.n_reference) == (100, 100)
    assert score.severity == SeverityThresholds().classify(score.psi) == "significant"


def test_score_feature_uses_the_given_thresholds():
    current, reference = np.array([80, 15, 5]), np.array([50, 30, 20])
    lenient = SeverityThresholds(moderate=5.0, significant=10.0)
    assert score_feature("lang", current, reference, lenient).severity == "none"
