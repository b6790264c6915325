"""Pairwise verdicts of production vs shadow from both orders, and the position-flip rate.

The judge sees (production, shadow) as (A, B), then (shadow, production). A side wins only when
both orders name it; any disagreement is a tie. A *flip* is an inconsistent pair: the two orders
do not name the same answer (a judge that always says "A" flips on every pair).

>>> pair_verdict("B", "A")  # shadow was B, then A: shadow wins in both orders
PairVerdict(winner='shadow', flipped=False)
>>> pair_verdict("A", "A")  # always the first position
PairVerdict(winner='tie', flipped=True)
>>> pair_verdict("tie", "tie")
PairVerdict(winner='tie', flipped=False)
>>> flip_rate([pair_verdict("A", "A"), pair_verdict("B", "A")], [1.0, 3.0])
0.25
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.judge.parse import Preference

__all__ = ["PairVerdict", "Winner", "flip_rate", "pair_verdict", "preference_value"]

Winner = Literal["production", "shadow", "tie"]


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """The agreed winner of one pair (``tie`` unless both orders agree) and whether the orders disagreed."""

    winner: Winner
    flipped: bool


def _side(preference: Preference, shadow_position: str) -> Winner:
    if preference == "tie":
        return "tie"
    return "shadow" if preference == shadow_position else "production"


def pair_verdict(production_first: Preference, shadow_first: Preference) -> PairVerdict:
    """Combine the verdict with production as A and the verdict with shadow as A."""
    first, second = _side(production_first, "B"), _side(shadow_first, "A")
    if first == second:
        return PairVerdict(first, False)
    return PairVerdict("tie", True)


def preference_value(verdict: PairVerdict) -> float:
    """The shadow's preference: 1 a win, 0 a loss, 0.5 a tie (the win-rate convention)."""
    return {"shadow": 1.0, "production": 0.0, "tie": 0.5}[verdict.winner]


def flip_rate(verdicts: Sequence[PairVerdict], weights: Sequence[float] | None = None) -> float:
    """Weighted share of pairs whose two orders disagreed; NaN without pairs."""
    w = list(weights) if weights is not None else [1.0] * len(verdicts)
    total = sum(w)
    if not verdicts or total <= 0:
        return float("nan")
    return sum(wi for v, wi in zip(verdicts, w, strict=True) if v.flipped) / total
