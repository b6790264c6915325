"""Read a judge's reply: JSON first, then ``name: number`` text; anything else is a JudgeParseError.

A malformed reply is a counted failure of that one judgement, never a crash of the runner.

>>> from monitor.judge.rubric import load_rubric
>>> r = load_rubric("criteria: [{name: a, description: x}, {name: b, description: y}]\\nscale: [1, 5]")
>>> parse_grade('Sure! {"a": 5, "b": 3, "explanation": "ok"}', r)
Grade(score=7.5, criteria={'a': 5.0, 'b': 3.0}, explanation='ok')
>>> parse_grade("a: 5/5\\nb = 1", r).score
5.0
>>> parse_preference('{"winner": "B"}'), parse_preference("Answer A is better."), parse_preference("Tie.")
('B', 'A', 'tie')
>>> parse_grade("I cannot grade this", r)
Traceback (most recent call last):
...
monitor.judge.parse.JudgeParseError: judge reply: no score for a, b in 'I cannot grade this'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from monitor.errors import MonitorError
from monitor.judge.rubric import Rubric

__all__ = ["Grade", "JudgeParseError", "Preference", "parse_grade", "parse_preference"]

Preference = Literal["A", "B", "tie"]
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_WINNER = re.compile(
    r"\b(?:answer|assistant|response)?\s*\[?\b([AB])\b\]?\s+is\s+better", re.IGNORECASE
)
_VERDICT = re.compile(r"^\W*(?:\[\[)?\s*(A|B|tie)\s*(?:\]\])?\W*$", re.IGNORECASE)


class JudgeParseError(MonitorError):
    """The judge's reply holds no usable grade or verdict (the message quotes the reply)."""


@dataclass(frozen=True, slots=True)
class Grade:
    """Per-criterion scores on the rubric's scale and their mean mapped to 0-10 (``score``)."""

    score: float
    criteria: dict[str, float]
    explanation: str


def _json_object(text: str) -> dict[str, Any] | None:
    match = _OBJECT.search(text)
    if match is None:
        return None
    try:
        value = json.loads(match.group(0))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 309 digits or more
        return None
    return number if math.isfinite(number) else None


def _text_scores(text: str, names: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in names:
        m = re.search(
            rf"{re.escape(name)}\W{{0,3}}\s*[:=]?\s*(-?\d+(?:\.\d+)?)", text, re.IGNORECASE
        )
        if m:
            found[name] = m.group(1)
    return found


def parse_grade(text: str, rubric: Rubric) -> Grade:
    """Scores for every criterion of ``rubric`` within its scale, and the 0-10 score."""
    names = rubric.criterion_names()
    obj = _json_object(text)
    raw = obj if obj is not None and any(n in obj for n in names) else _text_scores(text, names)
    missing = [n for n in names if _number(raw.get(n)) is None]
    if missing:
        raise JudgeParseError(f"judge reply: no score for {', '.join(missing)} in {text!r:.200}")
    low, high = rubric.scale
    scores = {n: float(raw[n]) for n in names}
    outside = {n: v for n, v in scores.items() if not low <= v <= high}
    if outside:
        raise JudgeParseError(f"judge reply: scores {outside} are outside {low:g}-{high:g}")
    mean = sum(scores.values()) / len(scores)
    explanation = str(obj.get("explanation") or "") if obj is not None else ""
    return Grade(round(10.0 * (mean - low) / (high - low), 6), scores, explanation[:1000])


def parse_preference(text: str) -> Preference:
    """``A``, ``B`` or ``tie`` from a ``{"winner": ...}`` object, a bare verdict or "A is better"."""
    obj = _json_object(text)
    if obj is not None and isinstance(obj.get("winner"), str):
        candidate = obj["winner"].strip()
    else:
        bare, better = _VERDICT.match(text.strip()), _WINNER.search(text)
        candidate = bare.group(1) if bare else better.group(1) if better else ""
    if candidate.upper() in ("A", "B"):
        return "A" if candidate.upper() == "A" else "B"
    if candidate.lower() == "tie":
        return "tie"
    raise JudgeParseError(f"judge reply: no verdict A, B or tie in {text!r:.200}")
