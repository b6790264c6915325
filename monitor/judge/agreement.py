"""How far to trust the judge: Cohen's kappa between judge and human labels, with an interval.

Labels are compared on requests that have both (a judge score and a human rating, thumbs,
takeover or bad-case flag). :func:`judge_label` and :func:`human_label` turn each into "good" or
"bad"; kappa corrects the raw agreement for the agreement expected by chance. The interval is the
normal approximation with Cohen's (1960) standard error ``sqrt(po (1 - po) / (n (1 - pe)^2))``.

>>> k = cohen_kappa(["good", "good", "bad", "bad"] * 10, ["good", "good", "bad", "good"] * 10)
>>> round(k.kappa, 3), k.n, round(k.agreement, 3)
(0.5, 40, 0.75)
>>> human_label(rating=2, thumbs=None, human_takeover=None, bad_case=None)
'bad'
>>> human_label(rating=None, thumbs=None, human_takeover=False, bad_case=None) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from monitor.catalogue import satisfied
from monitor.outcomes.intervals import Z95

__all__ = ["Kappa", "cohen_kappa", "human_label", "judge_label"]


@dataclass(frozen=True, slots=True)
class Kappa:
    """Cohen's kappa, its 95 % interval (clipped to [-1, 1]), the raw agreement and the pair count."""

    kappa: float
    low: float
    high: float
    agreement: float
    n: int


def judge_label(score: float, pass_score: float) -> str:
    """``good`` when the judge's 0-10 score reaches ``pass_score``, else ``bad``.

    >>> judge_label(7.0, 7.0), judge_label(6.9, 7.0)
    ('good', 'bad')
    """
    return "good" if score >= pass_score else "bad"


def human_label(
    rating: int | None, thumbs: str | None, human_takeover: bool | None, bad_case: bool | None
) -> str | None:
    """``bad`` for a takeover or a bad case, else satisfied (rating >= 4, else thumbs up) as good/bad."""
    if human_takeover or bad_case:
        return "bad"
    verdict = satisfied(rating, thumbs)  # "no takeover" alone says nothing about quality
    return None if verdict is None else "good" if verdict else "bad"


def cohen_kappa(judge: Sequence[Hashable], human: Sequence[Hashable]) -> Kappa:
    """Kappa of two raters over the same items; NaN fields without items or when chance agreement is 1."""
    n = len(judge)
    if n != len(human):
        raise ValueError(f"{n} judge labels but {len(human)} human labels")
    nan = float("nan")
    if n == 0:
        return Kappa(nan, nan, nan, nan, 0)
    categories = set(judge) | set(human)
    po = sum(a == b for a, b in zip(judge, human, strict=True)) / n
    pe = sum((list(judge).count(c) / n) * (list(human).count(c) / n) for c in categories)
    if pe >= 1.0:
        return Kappa(nan, nan, nan, po, n)
    kappa = (po - pe) / (1.0 - pe)
    se = math.sqrt(po * (1.0 - po) / (n * (1.0 - pe) ** 2))
    return Kappa(kappa, max(-1.0, kappa - Z95 * se), min(1.0, kappa + Z95 * se), po, n)
