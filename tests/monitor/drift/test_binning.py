from __future__ import annotations

import bisect
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.drift.binning import (
    MISSING,
    OTHER,
    CategoricalBins,
    NumericBins,
    categorical_bins_from_reference,
    numeric_bins_from_reference,
)

floats_or_nan = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.just(float("nan")),
    st.sampled_from([float("inf"), float("-inf"), 0.0, 1.0]),
)
categories = st.one_of(st.sampled_from(["a", "b", "c", "d", "zz"]), st.none(), st.integers(0, 3))


def bin_by_hand(edges: tuple[float, ...], value: float) -> int:
    if math.isnan(value):
        return len(edges) + 1
    return bisect.bisect_right(list(edges), value)


def test_edges_are_reference_quantiles():
    values = np.arange(100, dtype=float)
    bins = numeric_bins_from_reference("x", values, n_bins=4)
    assert bins.edges == tuple(np.quantile(values, [0.25, 0.5, 0.75]).tolist())
    assert bins.edges == (24.75, 49.5, 74.25)
    assert bins.n_bins == 5
    assert bins.counts(values).tolist() == [25, 25, 25, 25, 0]


def test_repeated_quantiles_collapse_into_one_edge():
    values = np.array([0.0] * 90 + list(range(1, 11)), dtype=float)
    bins = numeric_bins_from_reference("x", values, n_bins=10)
    assert bins.edges == tuple(sorted(set(bins.edges)))
    assert bins.edges[0] == 0.0
    assert len(bins.edges) < 9
    assert bins.counts(values)[:2].tolist() == [0, 90]


def test_constant_or_empty_reference_gives_few_bins():
    assert numeric_bins_from_reference("x", np.full(10, 3.0)).edges == (3.0,)
    assert numeric_bins_from_reference("x", np.array([np.nan, np.inf])).edges == ()
    assert numeric_bins_from_reference("x", np.arange(5.0), n_bins=1).edges == ()


def test_missing_and_infinite_reference_values_do_not_move_the_edges():
    clean = np.arange(10, dtype=float)
    noisy = np.concatenate([clean, [np.nan, np.inf, -np.inf]])
    assert numeric_bins_from_reference("x", noisy, 5) == numeric_bins_from_reference("x", clean, 5)


def test_values_on_an_edge_go_to_the_upper_bin_and_nan_to_missing():
    bins = NumericBins("x", (1.0, 2.0))
    values = np.array([-np.inf, 0.9, 1.0, 1.5, 2.0, np.inf, np.nan, np.nan])
    assert bins.counts(values).tolist() == [2, 2, 2, 2]
    assert bins.labels() == ["(-inf, 1)", "[1, 2)", "[2, inf)", MISSING]


def test_counts_of_an_empty_batch_are_zero():
    assert NumericBins("x", (1.0,)).counts(np.array([])).tolist() == [0, 0, 0]
    assert CategoricalBins("c", ("a",)).counts([]).tolist() == [0, 0, 0]


def test_counts_dtype_is_int64():
    assert NumericBins("x", (1.0,)).counts([0.5]).dtype == np.int64
    assert CategoricalBins("c", ("a",)).counts(["a"]).dtype == np.int64


@pytest.mark.parametrize("edges", [(2.0, 1.0), (1.0, 1.0), (0.0, float("nan")), (float("inf"),)])
def test_edges_must_be_finite_and_strictly_increasing(edges):
    with pytest.raises(ValueError, match="edges"):
        NumericBins("x", edges)


def test_n_bins_and_top_k_are_validated():
    with pytest.raises(ValueError, match="n_bins must be >= 1, got 0"):
        numeric_bins_from_reference("x", np.arange(3.0), n_bins=0)
    with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
        categorical_bins_from_reference("c", ["a"], top_k=0)


@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60),
    st.lists(floats_or_nan, max_size=80),
    st.integers(1, 12),
)
def test_numeric_counts_match_a_plain_loop_and_sum_to_n(reference, batch, n_bins):
    bins = numeric_bins_from_reference("x", np.array(reference), n_bins)
    assert len(bins.edges) <= n_bins - 1
    expected = [0] * bins.n_bins
    for value in batch:
        expected[bin_by_hand(bins.edges, value)] += 1
    counts = bins.counts(np.array(batch, dtype=float))
    assert counts.tolist() == expected
    assert counts.sum() == len(batch)
    assert len(bins.labels()) == bins.n_bins


@given(st.lists(floats_or_nan, max_size=80), st.lists(st.integers(0, 80), max_size=5))
def test_numeric_counts_batch_by_batch_equal_all_at_once(values, cuts):
    bins = NumericBins("x", (-10.0, 0.0, 0.5, 100.0))
    array = np.array(values, dtype=float)
    parts = np.split(array, sorted(set(cuts)))
    online = sum((bins.counts(part) for part in parts), np.zeros(bins.n_bins, dtype=np.int64))
    assert online.tolist() == bins.counts(array).tolist()


def test_top_k_categories_by_frequency_then_alphabetically():
    values = ["b"] * 3 + ["c"] * 2 + ["a"] * 2 + ["d"] + [None] * 5
    bins = categorical_bins_from_reference("c", values, top_k=3)
    assert bins.categories == ("b", "a", "c")
    assert bins.labels() == ["b", "a", "c", OTHER, MISSING]
    assert bins.counts(values).tolist() == [3, 2, 2, 1, 5]


def test_unseen_categories_go_to_other_and_null_or_nan_to_missing():
    bins = CategoricalBins("lang", ("en", "de"))
    batch = ["en", "ja", "ko", None, float("nan"), "de", "en"]
    assert bins.counts(batch).tolist() == [2, 1, 2, 2]
    assert bins.counts(np.array(batch, dtype=object)).tolist() == [2, 1, 2, 2]


def test_non_string_categories_are_compared_by_text_and_bools_as_json():
    bins = categorical_bins_from_reference("flag", [True, False, True, 3])
    assert bins.categories == ("true", "3", "false")
    assert bins.counts([True, "true", "3", 3, "False", False, 3.0]).tolist() == [2, 2, 2, 1, 0]


def test_category_names_are_validated():
    with pytest.raises(ValueError, match="distinct"):
        CategoricalBins("c", ("a", "a"))
    with pytest.raises(ValueError, match="reserved"):
        CategoricalBins("c", ("a", OTHER))


@given(st.lists(categories, max_size=60), st.lists(categories, max_size=60), st.integers(1, 4))
def test_categorical_counts_match_a_plain_loop_and_sum_to_n(reference, batch, top_k):
    bins = categorical_bins_from_reference("c", reference, top_k)
    assert len(bins.categories) <= top_k
    expected = [0] * bins.n_bins
    for value in batch:
        if value is None:
            expected[-1] += 1
        elif str(value) in bins.categories:
            expected[bins.categories.index(str(value))] += 1
        else:
            expected[-2] += 1
    counts = bins.counts(batch)
    assert counts.tolist() == expected
    assert counts.sum() == len(batch)


@given(st.lists(categories, max_size=60), st.lists(st.integers(0, 60), max_size=5))
def test_categorical_counts_batch_by_batch_equal_all_at_once(values, cuts):
    bins = CategoricalBins("c", ("a", "1", "zz"))
    bounds = [0, *sorted(set(cuts)), len(values)]
    online = np.zeros(bins.n_bins, dtype=np.int64)
    for start, stop in itertools.pairwise(bounds):
        online += bins.counts(values[start:stop])
    assert online.tolist() == bins.counts(values).tolist()


def test_sequence_values_stay_one_dimensional():
    bins = CategoricalBins("c", ("a",))
    assert bins.counts([("a", "b"), "a"]).tolist() == [1, 1, 0]


@given(st.lists(st.one_of(st.sampled_from(["a", "b", "zz", "", "1"]), st.none()), max_size=60))
def test_a_column_of_texts_counts_as_the_general_path_does(values):
    """Strings and nulls are tallied without sorting; any other column takes the general path."""
    bins = CategoricalBins("c", ("a", "1", "zz"))
    general = bins.counts(np.array(values + [0], dtype=object))  # an int: the general path
    as_texts = bins.counts(values)
    assert as_texts.tolist() == bins.counts(np.array(values, dtype=object)).tolist()
    assert as_texts.sum() == len(values) and general.sum() == len(values) + 1
