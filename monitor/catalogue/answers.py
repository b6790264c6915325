"""What "correct" and "satisfied" mean, once, for baselines, joins, folds and detectors.

Answers (predictions and labels) are compared in one normal form, :func:`normalise_answer`.

>>> correct("True", 1), correct(" Refund ", "refund"), correct("2.0", 2), correct("yes", True)
(True, True, True, False)
>>> satisfied(rating=5, thumbs="down"), satisfied(rating=None, thumbs="up"), satisfied(None, None)
(True, True, None)
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SATISFIED_RATING", "Answer", "correct", "normalise_answer", "satisfied"]

SATISFIED_RATING = 4  # a rating of 4 or 5 on the 1-5 scale counts as satisfied

Answer = float | str


def normalise_answer(value: Any) -> Answer | None:
    """A prediction or label in the form answers are compared in.

    Booleans and the strings ``true``/``false`` (any case) are the numbers 1 and 0; numbers and
    numeric strings are floats; any other string is stripped and case-folded; ``None`` stays.

    >>> [normalise_answer(v) for v in (True, "FALSE", 1, "1e0", " Yes ", None)]
    [1.0, 0.0, 1.0, 1.0, 'yes', None]
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().casefold()
    if text in ("true", "false"):
        return float(text == "true")
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def correct(prediction: Any, label: Any) -> bool | None:
    """Whether a prediction matches its label after :func:`normalise_answer`; None if either is missing."""
    left, right = normalise_answer(prediction), normalise_answer(label)
    if left is None or right is None:
        return None
    return type(left) is type(right) and left == right


def satisfied(rating: int | None, thumbs: str | None) -> bool | None:
    """A rating of :data:`SATISFIED_RATING` or more; without a rating, thumbs up; else None."""
    if rating is not None:
        return rating >= SATISFIED_RATING
    if thumbs is not None:
        return thumbs == "up"
    return None
