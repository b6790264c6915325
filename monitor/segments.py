"""Segment labels with a bounded number of values per key in one batch.

A segment key listed in ``MONITOR_SEGMENT_KEYS`` gets rows of its own per value (``lang=en``). Its
values come from the producers, so a key that turns out to hold a user id, or a producer writing a
new value per event, would add rows to the store in proportion to the traffic. Per batch and key,
at most ``cap`` values keep their own label, the most frequent (ties: the smallest value); the
others count under ``KEY=(other)``. A key with at most ``cap`` values in a batch is exact; the
whole-traffic segment ``""`` always is.

>>> segments = [{"lang": "en"}, {"lang": "en"}, {"lang": "de"}, {"lang": "fr"}, {}]
>>> kept = kept_values(segments, ["lang"], cap=2)
>>> [segment_labels(s, ["lang"], kept) for s in segments[2:]]
[['', 'lang=de'], ['', 'lang=(other)'], ['']]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_MAX_SEGMENT_VALUES",
    "OTHER_VALUE",
    "kept_values",
    "segment_label",
    "segment_labels",
]

OTHER_VALUE = "(other)"
DEFAULT_MAX_SEGMENT_VALUES = 100

Kept = Mapping[str, frozenset[str] | None]  # per key: the values with a label, None for all


def kept_values(segments: Iterable[Mapping[str, str]], keys: Sequence[str], cap: int) -> Kept:
    """Per key of ``keys``, the values of ``segments`` that keep their own label (None: all)."""
    counts: dict[str, Counter[str]] = {key: Counter() for key in keys}
    for segment in segments:
        for key, values in counts.items():
            value = segment.get(key)
            if value is not None:
                values[value] += 1
    return {
        key: None
        if len(values) <= cap
        else frozenset(sorted(values, key=lambda v: (-values[v], v))[:cap])
        for key, values in counts.items()
    }


def segment_label(key: str, value: str, kept: Kept) -> str:
    """``key=value``, or ``key=(other)`` for a value past the key's cap.

    >>> segment_label("lang", "fr", {"lang": frozenset({"en"})}), segment_label("lang", "fr", {"lang": None})
    ('lang=(other)', 'lang=fr')
    """
    values = kept.get(key)
    return f"{key}={value if values is None or value in values else OTHER_VALUE}"


def segment_labels(segment: Mapping[str, str], keys: Sequence[str], kept: Kept) -> list[str]:
    """The segments one event counts in: the whole traffic ``""``, then one label per key it holds."""
    return ["", *(segment_label(k, segment[k], kept) for k in keys if k in segment)]
