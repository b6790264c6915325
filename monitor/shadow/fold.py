"""Shadow traffic and production/shadow pairs as partials, written exactly once with the batch's offsets.

- ``shadow:events`` and ``shadow:errors``: per (window, model, shadow version), every shadow
  inference and those carrying ``error`` (the shadow's own traffic; never production's);
- ``shadow:pairs`` and ``shadow:<metric>:y`` / ``shadow:<metric>:y2`` (count n with Σv, and n with
  Σv²): per (window of the production answer, model, production version) with the shadow version
  as ``bucket``, one value per pair and metric from :func:`~monitor.shadow.pairs.pair_values`.

Summing the partials of all windows gives each comparison's mergeable sums (:func:`pair_sums`).

>>> from monitor.shadow.pairs import side_of
>>> p = side_of("refund", None, 300.0, None, model_version="v2")
>>> s = side_of("Refund", None, 350.0, None, model_version="v3")
>>> [(x.name, x.bucket, x.total) for x in fold_pairs([("m", 61.0, p, s)], 60)][:3]
[('shadow:pairs', 'v3', 1.0), ('shadow:error_rate:y', 'v3', 0.0), ('shadow:error_rate:y2', 'v3', 0.0)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.catalogue import SHADOW_PREFIX
from monitor.contract.events import InferenceEvent
from monitor.experiments.stats import Moments
from monitor.folding.partials import Partial
from monitor.shadow.pairs import DEFAULT_SIMILARITY, Side, TextSimilarity, pair_values

__all__ = [
    "ERRORS",
    "EVENTS",
    "PAIRS",
    "ShadowSums",
    "fold_pairs",
    "fold_shadow_traffic",
    "pair_sums",
]

EVENTS, ERRORS, PAIRS = f"{SHADOW_PREFIX}events", f"{SHADOW_PREFIX}errors", f"{SHADOW_PREFIX}pairs"


def _start(t: float, window: int) -> float:
    return float(math.floor(t / window) * window)


def fold_shadow_traffic(events: Sequence[InferenceEvent], window: int) -> list[Partial]:
    """``shadow:events`` and ``shadow:errors`` of the shadow inferences, under their own version."""
    sums: dict[tuple[float, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, -math.inf])
    for e in events:
        row = sums[(_start(e.timestamp, window), e.model, e.model_version)]
        row[0] += 1
        row[1] += e.error is not None
        row[2] = max(row[2], e.timestamp)
    out = []
    for (start, model, version), (n, errors, latest) in sums.items():
        out.append(Partial(start, window, model, version, EVENTS, "", n, n, latest))
        if errors:
            out.append(Partial(start, window, model, version, ERRORS, "", errors, errors, latest))
    return out


def fold_pairs(
    pairs: Iterable[tuple[str, float, Side, Side]],
    window: int,
    similarity: TextSimilarity = DEFAULT_SIMILARITY,
) -> list[Partial]:
    """Partials of ``(model, production time, production side, shadow side)`` pairs."""
    sums: dict[tuple[float, str, str, str, str], list[float]] = defaultdict(
        lambda: [0.0, 0.0, 0.0, -math.inf]
    )
    for model, t, production, shadow in pairs:
        key = (_start(t, window), model, production.model_version, shadow.model_version)
        for name, value in (("", 1.0), *pair_values(production, shadow, similarity).items()):
            row = sums[(*key, name)]
            row[0] += 1
            row[1] += value
            row[2] += value * value
            row[3] = max(row[3], t)
    out = []
    for (start, model, version, shadow_version, name), (n, total, squares, latest) in sums.items():
        if not name:
            out.append(Partial(start, window, model, version, PAIRS, shadow_version, n, n, latest))
            continue
        out.append(
            Partial(
                start,
                window,
                model,
                version,
                f"{SHADOW_PREFIX}{name}:y",
                shadow_version,
                n,
                total,
                latest,
            )
        )
        out.append(
            Partial(
                start,
                window,
                model,
                version,
                f"{SHADOW_PREFIX}{name}:y2",
                shadow_version,
                n,
                squares,
                latest,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class ShadowSums:
    """Everything known of one (model, production version, shadow version) comparison."""

    model: str
    production_version: str
    shadow_version: str
    pairs: float
    moments: dict[str, Moments]  # metric -> moments of its per-pair values
    shadow_events: float
    shadow_errors: float


def pair_sums(rows: Iterable[tuple[str, str, str, str, float, float]]) -> list[ShadowSums]:
    """Merge stored sums ``(model, version, name, bucket, Σcount, Σtotal)`` into one entry per comparison.

    >>> rows = [("m", "v2", "shadow:pairs", "v3", 4, 4), ("m", "v2", "shadow:agreement:y", "v3", 4, 3),
    ...         ("m", "v2", "shadow:agreement:y2", "v3", 4, 3), ("m", "v3", "shadow:events", "", 5, 5)]
    >>> s = pair_sums(rows)[0]
    >>> s.pairs, s.moments["agreement"].mean_y, s.shadow_events
    (4.0, 0.75, 5.0)
    """
    traffic: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    pairs: dict[tuple[str, str, str], float] = defaultdict(float)
    parts: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for model, version, name, bkt, count, total in rows:
        if name in (EVENTS, ERRORS):
            traffic[(model, version)][name == ERRORS] += float(count)
        elif name == PAIRS:
            pairs[(model, version, bkt)] += float(count)
        elif name.startswith(SHADOW_PREFIX):
            metric, stat = name[len(SHADOW_PREFIX) :].rsplit(":", 1)
            row = parts[(model, version, bkt, metric)]
            if stat == "y":
                row[0] += float(count)
                row[1] += float(total)
            elif stat == "y2":
                row[2] += float(total)
    moments: dict[tuple[str, str, str], dict[str, Moments]] = defaultdict(dict)
    for (model, version, bkt, metric), (n, sy, sy2) in parts.items():
        moments[(model, version, bkt)][metric] = Moments(n, sy, sy2)
    return [
        ShadowSums(
            model,
            version,
            shadow,
            n,
            moments.get((model, version, shadow), {}),
            *traffic.get((model, shadow), [0.0, 0.0]),
        )
        for (model, version, shadow), n in sorted(pairs.items())
    ]
