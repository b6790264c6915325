"""Running judge statistics: pairwise results per production/shadow pair, kappa per judge model.

Bounded: each keeps its last ``max_items`` observations (a sliding sample of recent traffic).

>>> from monitor.judge.pairwise import pair_verdict
>>> s = PairStats()
>>> for shadow_longer in (True, False) * 10:
...     s.add(pair_verdict("A", "A"), length_delta=50 if shadow_longer else -50, weight=10.0)
>>> r = s.summary()
>>> r.pairs, r.flip_rate, r.win_rate
(20, 1.0, 0.5)
>>> k = AgreementStats()
>>> for judge, human in [("good", "good"), ("bad", "bad")] * 5:
...     k.add(judge, human)
>>> k.kappa().kappa
1.0
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from monitor.judge.agreement import Kappa, cohen_kappa
from monitor.judge.length_control import length_controlled_win_rate
from monitor.judge.pairwise import PairVerdict, flip_rate, preference_value

__all__ = [
    "AgreementStats",
    "PairKey",
    "PairStats",
    "PairSummary",
    "StatsJournal",
    "judge_sentence",
]

PairKey = tuple[str, str, str]  # model, production version, shadow version

MAX_ITEMS = 5000


@dataclass(frozen=True, slots=True)
class PairSummary:
    """Weighted win rate (ties count half), length-controlled win rate and flip rate of the shadow."""

    pairs: int
    win_rate: float
    lc_win_rate: float
    flip_rate: float
    length_slope: float


def judge_sentence(
    pairs: int, win_rate: float | None, lc_win_rate: float | None, flip_rate: float | None
) -> str:
    """What a shadow report says of the judge's verdicts of one comparison (``monitor shadow
    report``'s table, the dashboard); a rate the verdicts do not define (None, NaN) is ``n/a``.

    >>> print(judge_sentence(200, 0.6125, 0.55, 0.02))
    LLM judge: shadow preferred in 61% of 200 pairs (length-controlled 55%, order flips 2%)
    >>> judge_sentence(3, 0.5, float("nan"), None).split("(")[1]
    'length-controlled n/a, order flips n/a)'
    """

    def share(value: float | None) -> str:
        return "n/a" if value is None or not np.isfinite(value) else f"{value:.0%}"

    return (
        f"LLM judge: shadow preferred in {share(win_rate)} of {pairs} pairs "
        f"(length-controlled {share(lc_win_rate)}, order flips {share(flip_rate)})"
    )


class PairStats:
    """The recent verdicts of one (model, production version, shadow version)."""

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
        self._items: deque[tuple[PairVerdict, float, float]] = deque(maxlen=max_items)

    def add(self, verdict: PairVerdict, length_delta: float, weight: float) -> None:
        self._items.append((verdict, float(length_delta), float(weight)))

    def extend(self, items: Iterable[tuple[PairVerdict, float, float]]) -> PairStats:
        """Add ``(verdict, length delta, weight)`` observations (a journal's, read back); returns self."""
        for verdict, length_delta, weight in items:
            self.add(verdict, length_delta, weight)
        return self

    def summary(self) -> PairSummary:
        verdicts = [v for v, _, _ in self._items]
        weights = np.array([w for _, _, w in self._items], dtype=np.float64)
        deltas = np.array([d for _, d, _ in self._items], dtype=np.float64)
        prefs = np.array([preference_value(v) for v in verdicts], dtype=np.float64)
        lc = length_controlled_win_rate(prefs, deltas, weights)
        return PairSummary(
            len(verdicts),
            round(lc.raw, 6),
            round(lc.lc, 6),
            float(flip_rate(verdicts, [float(w) for w in weights])),
            lc.length_slope,
        )


class AgreementStats:
    """Recent (judge label, human label) pairs of one judge model."""

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
        self._pairs: deque[tuple[str, str]] = deque(maxlen=max_items)

    def add(self, judge: str, human: str) -> None:
        self._pairs.append((judge, human))

    def kappa(self) -> Kappa:
        return cohen_kappa([j for j, _ in self._pairs], [h for _, h in self._pairs])


class StatsJournal(Protocol):
    """Where the runner's observations outlive it (``monitor.adapters.judge_journal``, Redis):
    each verdict and label pair as it is counted, all of them read back at start."""

    def add_pair(
        self, key: PairKey, verdict: PairVerdict, length_delta: float, weight: float
    ) -> None:
        """One pairwise verdict of ``key``; raises :class:`~monitor.errors.StoreError`."""

    def add_agreement(self, judge_model: str, judge: str, human: str) -> None:
        """One (judge label, human label) pair; raises :class:`~monitor.errors.StoreError`."""

    def load(
        self,
    ) -> tuple[
        dict[PairKey, list[tuple[PairVerdict, float, float]]], dict[str, list[tuple[str, str]]]
    ]:
        """Every pair key's recent verdicts and every judge model's recent label pairs, oldest
        first; raises :class:`~monitor.errors.StoreError`."""

    def close(self) -> None: ...
