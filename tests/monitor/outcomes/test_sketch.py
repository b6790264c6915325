from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.outcomes.sketch import (
    RELATIVE_ACCURACY,
    SIGNIFICANT_DIGITS,
    ZERO_KEY,
    bucket_key,
    bucket_value,
    quantile_from_sketch,
    quantile_text,
    sketch_counts,
)

QS = (0.5, 0.95, 0.99)


def merged_quantile(parts: list[np.ndarray], q: float) -> float:
    """Sketch each part on its own, as batches and workers do, then merge by concatenating bucket counts."""
    sketches = [sketch_counts(p) for p in parts]
    keys = np.concatenate([k for k, _ in sketches])
    counts = np.concatenate([c for _, c in sketches])
    value = quantile_from_sketch(keys, counts, q)
    assert value is not None
    return value


def lognormal(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mean=np.log(800), sigma=0.8, size=20_000)


def bimodal(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.normal(120, 10, 14_000), rng.lognormal(np.log(4_000), 0.3, 6_000)]
    ).clip(1)


@pytest.mark.parametrize("sample", [lognormal, bimodal])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_quantiles_are_within_one_percent_of_numpy(sample, seed: int) -> None:
    values = sample(seed)
    parts = np.array_split(
        values, [1_000, 1_001, 7_000, 13_500]
    )  # uneven batches, one of a single value
    for q in QS:
        estimate = merged_quantile(parts, q)
        exact = float(np.quantile(values, q, method="lower"))  # DDSketch's rank: floor(q * (n - 1))
        assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact
        assert (
            abs(estimate - float(np.quantile(values, q))) <= 0.01 * exact
        )  # and within 1 % of the default


def test_a_single_value_comes_back_as_itself_within_the_bound() -> None:
    keys, counts = sketch_counts(np.array([812.0]))
    for q in (0.0, 0.5, 0.99, 1.0):
        assert quantile_from_sketch(keys, counts, q) == pytest.approx(812.0, rel=RELATIVE_ACCURACY)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(1e-3, 1e7, allow_nan=False), min_size=1, max_size=300),
    st.floats(0, 1),
    st.integers(1, 5),
)
def test_any_sample_any_split_any_quantile_within_the_bound(values, q, n_parts) -> None:
    array = np.array(values)
    estimate = merged_quantile(np.array_split(array, n_parts), q)
    exact = float(np.quantile(array, q, method="lower"))
    assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact * (1 + 1e-12)


def test_keys_and_values_match_the_ddsketch_package() -> None:
    mapping = pytest.importorskip("ddsketch.mapping").LogarithmicMapping(RELATIVE_ACCURACY)
    values = np.geomspace(0.01, 1e6, 997)
    assert bucket_key(values).tolist() == [mapping.key(v) for v in values]
    keys = bucket_key(values)
    np.testing.assert_allclose(
        bucket_value(keys), [mapping.value(int(k)) for k in keys], rtol=1e-12
    )


def test_zero_nan_and_empty() -> None:
    keys, counts = sketch_counts(np.array([0.0, 0.0, 5.0, np.nan]))
    assert keys.tolist()[0] == ZERO_KEY and counts.tolist() == [2, 1]
    assert quantile_from_sketch(keys, counts, 0.5) == 0.0
    assert quantile_from_sketch(np.array([], dtype=np.int64), np.array([]), 0.5) is None
    with pytest.raises(ValueError, match="q: 1.5"):
        quantile_from_sketch(keys, counts, 1.5)


@given(st.floats(1e-9, 1e15, exclude_min=True))
def test_a_printed_quantile_keeps_the_digits_the_accuracy_supports(value: float) -> None:
    """Rounding moves the text by at most the sketch's own accuracy, with no digit more."""
    text = quantile_text(value)
    assert abs(Decimal(text) - Decimal(value)) <= Decimal(RELATIVE_ACCURACY) * Decimal(value)
    assert len(Decimal(text).normalize().as_tuple().digits) <= SIGNIFICANT_DIGITS


def test_a_printed_quantile_reads_from_the_accuracy_constant() -> None:
    # 0.5 %: three digits, as two could be off by 5 %; 120 ms reads 119.70464... from its bucket
    assert SIGNIFICANT_DIGITS == 3 and 5 * 10.0 ** -(SIGNIFICANT_DIGITS - 1) > RELATIVE_ACCURACY
    assert quantile_text(merged_quantile([np.array([120.0])], 0.5)) == "120"
    assert quantile_text(merged_quantile([np.array([812.0])], 0.5)) == "808"
