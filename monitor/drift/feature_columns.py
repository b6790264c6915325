"""Feature maps turned into per-feature columns, and columns into floats, in as few passes as possible.

>>> feature_columns([{"a": 1}, {"a": 2, "b": "x"}], None)
({'a': [1, 2], 'b': [None, 'x']}, {}, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

__all__ = [
    "feature_columns",
    "full_columns",
    "is_number",
    "number_block",
    "numeric_column",
    "row_values",
]

_NUMBER_TYPES = frozenset({int, float, np.float64, np.float32, np.int64, np.int32, type(None)})


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def numeric_column(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Floats with NaN for missing values and type violations, and the violation mask."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(float), np.zeros(len(values), dtype=bool)
    if set(map(type, values)) <= _NUMBER_TYPES:
        return np.array(values, dtype=float), np.zeros(len(values), dtype=bool)
    bad = np.fromiter((v is not None and not is_number(v) for v in values), bool, len(values))
    clean = [None if b else v for v, b in zip(values, bad.tolist())]
    return np.array(clean, dtype=float), bad


def row_values(rows: Sequence[Any], names: list[str]) -> list[Any] | None:
    """The values of ``names`` row after row in one flat list (C-level, one pass over the rows), or
    None when a row lacks a name or is None. Column ``j`` of ``k`` names is ``flat[j::k]``.

    >>> row_values([{"a": 1, "b": 2}, {"b": 4, "a": 3}], ["a", "b"])
    [1, 2, 3, 4]
    >>> row_values([{"a": 1}], ["a", "b"]) is None
    True
    """
    if not rows or not names:
        return None
    get = itemgetter(*names)
    try:
        if len(names) == 1:  # itemgetter of one name returns the value, not a tuple
            return list(map(get, rows))
        return list(chain.from_iterable(map(get, rows)))
    except (KeyError, TypeError):  # a row lacks a name, or is None
        return None


def full_columns(rows: Sequence[Any], names: list[str]) -> dict[str, list[Any]] | None:
    """The columns of ``names`` when every row holds every name, else None.

    One flat pass then strided slices: transposing with ``zip(*rows)`` walked every row once per
    name, 3.4 µs a row of 13 features in a batch of 67,000 rows against 0.6 this way (alone; in the
    worker, where the rows are cold in the cache, both cost more).
    """
    flat = row_values(rows, names)
    if flat is None:
        return None
    k = len(names)
    return {name: flat[j::k] for j, name in enumerate(names)}


def number_block(rows: Sequence[Any], names: list[str]) -> np.ndarray | None:
    """A ``(rows, names)`` float array when every row holds every name as a number or null (NaN),
    else None: the batch's numeric features converted in one pass.

    >>> number_block([{"a": 1, "b": None}, {"a": 2.5, "b": 3}], ["a", "b"]).tolist()
    [[1.0, nan], [2.5, 3.0]]
    >>> number_block([{"a": "1"}], ["a"]) is None  # a type violation: counted on the column path
    True
    """
    flat = row_values(rows, names)
    if flat is None or not set(map(type, flat)) <= _NUMBER_TYPES:
        return None
    return np.array(flat, dtype=float).reshape(len(rows), len(names))


def feature_columns(
    rows: Iterable[Mapping[str, Any] | None],
    keep: Iterable[str] | None,
    n_hint: int = 0,
    held: Sequence[str] = (),
) -> tuple[dict[str, list[Any]], dict[str, int], int]:
    """Transpose feature maps into per-feature columns (``None`` where absent), in one pass.

    With ``keep`` given, only those names get columns and the others are counted as unknown, except
    ``held``: names the caller found in every row, known but already in columns of their own.
    """
    if keep is not None and isinstance(
        rows, Sequence
    ):  # the per-batch path: one C-level pass over the rows
        names = list(keep)
        known = set(names).union(held)
        unknown_fast: dict[str, int] = {}
        columns_fast = full_columns(rows, names) if names else ({} if held else None)
        if columns_fast is not None and max(map(len, rows)) == len(known):
            return columns_fast, unknown_fast, len(rows)  # the usual batch: nothing unknown
        if columns_fast is None:  # a row without some name, or no row at all (None)
            columns_fast = {
                name: [row.get(name) if row else None for row in rows] for name in names
            }
        for row in rows:
            if row and not row.keys() <= known:
                for name in row.keys() - known:
                    unknown_fast[name] = unknown_fast.get(name, 0) + 1
        return columns_fast, unknown_fast, len(rows)
    columns: dict[str, list[Any]] = {name: [None] * n_hint for name in keep or ()}
    unknown: dict[str, int] = {}
    n = 0
    for i, row in enumerate(rows):
        n = i + 1
        for name, value in (row or {}).items():
            column = columns.get(name)
            if column is None:
                if keep is not None:
                    unknown[name] = unknown.get(name, 0) + 1
                    continue
                column = columns[name] = []
            if len(column) <= i:
                column.extend([None] * (i - len(column)))
                column.append(value)
            else:
                column[i] = value
    for column in columns.values():
        column.extend([None] * (n - len(column)))
    return columns, unknown, n
