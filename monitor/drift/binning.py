"""Bins fixed from a reference sample, and vectorized counting of a batch into them.

Numeric features get quantile edges of the reference; categorical features keep the reference's
top-K categories. Both always end with a ``MISSING`` bin, so every value of a batch lands in
exactly one bin and the counts of a batch sum to its length. Edges never move after the
reference is taken: counts of successive batches can simply be added.

>>> bins = numeric_bins_from_reference("age", np.array([1.0, 2.0, 3.0, 4.0]), n_bins=2)
>>> bins.edges, bins.labels()
((2.5,), ['(-inf, 2.5)', '[2.5, inf)', '__missing__'])
>>> bins.counts(np.array([0.0, 2.5, 9.0, np.nan])).tolist()
[1, 2, 1]
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MISSING",
    "OTHER",
    "CategoricalBins",
    "NumericBins",
    "as_object_array",
    "categorical_bins_from_reference",
    "category_strings",
    "missing_mask",
    "numeric_bins_from_reference",
]

_TEXT_OR_NONE = {str, type(None)}  # a column of these is counted without numpy

MISSING = "__missing__"
OTHER = "__other__"
# Booleans are spelled as in JSON, so CSV "true" and JSON true fall in the same category.
_BOOL_SPELLING = {"True": "true", "False": "false"}


def as_object_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """A 1-D object array of ``values`` (never 2-D, even when the items are sequences).

    >>> as_object_array(["a", None]).tolist()
    ['a', None]
    """
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    items = list(values)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


_NONE = np.array(None, dtype=object)


def missing_mask(values: np.ndarray) -> np.ndarray:
    """True where an object array holds ``None`` or a float NaN.

    >>> missing_mask(as_object_array(["a", None, float("nan"), 0])).tolist()
    [False, True, True, False]
    """
    missing: np.ndarray = np.equal(values, _NONE) | np.not_equal(values, values)
    return missing


def category_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct category strings of non-missing object ``values`` and each value's index into them.

    Values are compared by their text; ``True``/``False`` become ``"true"``/``"false"``.

    >>> uniques, inverse = category_strings(as_object_array(["b", True, "b", 1]))
    >>> uniques.tolist(), inverse.tolist()
    (['1', 'b', 'true'], [1, 2, 1, 0])
    """
    if len(values) == 0:
        return np.array([], dtype=str), np.array([], dtype=np.intp)
    try:
        text = values.astype(str)
    except ValueError:  # items that are themselves sequences
        text = np.array([str(v) for v in values.tolist()])
    uniques, inverse = np.unique(text, return_inverse=True)
    if any(u in _BOOL_SPELLING for u in uniques.tolist()):
        spelled = np.array([_BOOL_SPELLING.get(u, u) for u in uniques.tolist()])
        uniques, remap = np.unique(spelled, return_inverse=True)
        inverse = remap[inverse]
    return uniques, inverse.reshape(-1)


@dataclass(frozen=True)
class NumericBins:
    """Value bins cut at fixed interior ``edges``, plus one missing bin at the last index.

    Bins are ``(-inf, e0)``, ``[e0, e1)`` ... ``[e_last, inf)`` then ``MISSING`` (NaN).

    >>> NumericBins("x", (0.0, 1.0)).counts(np.array([-1.0, 0.0, 0.5, 1.0, np.nan])).tolist()
    [1, 2, 1, 1]
    """

    feature: str
    edges: tuple[float, ...]

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.edges)
        if not all(math.isfinite(e) for e in edges):
            raise ValueError(f"{self.feature}: edges must be finite, got {edges}")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError(f"{self.feature}: edges must be strictly increasing, got {edges}")
        object.__setattr__(self, "edges", edges)

    @property
    def n_bins(self) -> int:
        """Number of bins, the missing bin included."""
        return len(self.edges) + 2

    def labels(self) -> list[str]:
        """Readable bin labels, in bin order.

        >>> NumericBins("x", ()).labels()
        ['(-inf, inf)', '__missing__']
        """
        bounds = ["-inf", *(f"{e:g}" for e in self.edges), "inf"]
        values = [
            f"{'(' if i == 0 else '['}{lo}, {hi})"
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
        ]
        return [*values, MISSING]

    def counts(self, values: np.ndarray | Sequence[float]) -> np.ndarray:
        """Count of ``values`` per bin (NaN counts as missing), as int64 of length ``n_bins``."""
        array = np.asarray(values, dtype=float).reshape(-1)
        index = np.searchsorted(np.asarray(self.edges, dtype=float), array, side="right")
        index[np.isnan(array)] = self.n_bins - 1
        return np.bincount(index, minlength=self.n_bins).astype(np.int64)


@dataclass(frozen=True)
class CategoricalBins:
    """One bin per reference category, then ``OTHER`` (anything else), then ``MISSING``.

    >>> bins = CategoricalBins("lang", ("en", "de"))
    >>> bins.labels()
    ['en', 'de', '__other__', '__missing__']
    >>> bins.counts(["en", "fr", None, "en", "de"]).tolist()
    [2, 1, 1, 1]
    """

    feature: str
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        categories = tuple(str(c) for c in self.categories)
        if len(set(categories)) != len(categories):
            raise ValueError(f"{self.feature}: categories must be distinct, got {categories}")
        reserved = {MISSING, OTHER}.intersection(categories)
        if reserved:
            raise ValueError(f"{self.feature}: {sorted(reserved)} are reserved bin names")
        object.__setattr__(self, "categories", categories)

    @property
    def n_bins(self) -> int:
        """Number of bins, ``OTHER`` and ``MISSING`` included."""
        return len(self.categories) + 2

    def labels(self) -> list[str]:
        """Bin labels, in bin order."""
        return [*self.categories, OTHER, MISSING]

    def counts(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Count of ``values`` per bin (``None``/NaN count as missing), as int64 of ``n_bins``."""
        if not isinstance(values, np.ndarray) and set(map(type, values)) <= _TEXT_OR_NONE:
            return self._count_texts(values)  # the usual column: counted in C, no sort
        array = as_object_array(values)
        missing = missing_mask(array)
        uniques, inverse = category_strings(array[~missing])
        position = {c: i for i, c in enumerate(self.categories)}
        other = len(self.categories)
        codes = np.array([position.get(u, other) for u in uniques.tolist()], dtype=np.intp)
        present = np.bincount(codes[inverse], minlength=self.n_bins) if len(inverse) else 0
        out = np.zeros(self.n_bins, dtype=np.int64) + present
        out[-1] = int(missing.sum())
        return out

    def _count_texts(self, values: Sequence[str | None]) -> np.ndarray:
        out = np.zeros(self.n_bins, dtype=np.int64)
        other = len(self.categories)
        position = dict(zip(self.categories, range(other)))
        for value, n in Counter(values).items():
            out[-1 if value is None else position.get(value, other)] += n
        return out


def numeric_bins_from_reference(feature: str, values: np.ndarray, n_bins: int = 10) -> NumericBins:
    """Bins at the reference's ``1/n_bins`` quantiles; repeated quantiles collapse into one edge.

    NaN and infinite reference values are left out of the quantiles. With no finite value the
    bins are a single open interval plus the missing bin.

    >>> numeric_bins_from_reference("x", np.array([0, 0, 0, 0, 0, 0, 1, 2.0]), n_bins=4).edges
    (0.0, 0.25)
    """
    if n_bins < 1:
        raise ValueError(f"{feature}: n_bins must be >= 1, got {n_bins}")
    array = np.asarray(values, dtype=float).reshape(-1)
    finite = array[np.isfinite(array)]
    if finite.size == 0 or n_bins == 1:
        return NumericBins(feature, ())
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return NumericBins(feature, tuple(np.unique(quantiles).tolist()))


def categorical_bins_from_reference(
    feature: str, values: Sequence[Any] | np.ndarray, top_k: int = 20
) -> CategoricalBins:
    """Bins for the ``top_k`` most frequent reference categories (ties: alphabetical order).

    >>> categorical_bins_from_reference("c", ["b", "a", "b", None, "c", "a", "b"], top_k=2)
    CategoricalBins(feature='c', categories=('b', 'a'))
    """
    if top_k < 1:
        raise ValueError(f"{feature}: top_k must be >= 1, got {top_k}")
    array = as_object_array(values)
    uniques, inverse = category_strings(array[~missing_mask(array)])
    frequency = np.bincount(inverse, minlength=len(uniques))
    # np.unique sorts alphabetically, and a stable sort on -frequency keeps that for ties
    order = np.argsort(-frequency, kind="stable")[:top_k]
    return CategoricalBins(feature, tuple(uniques[order].tolist()))
