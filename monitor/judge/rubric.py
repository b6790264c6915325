"""The grading rubric: criteria, the score scale and few-shot examples, from YAML or the default.

>>> r = default_rubric()
>>> [c.name for c in r.criteria], r.scale
(['accuracy', 'completeness', 'relevance', 'helpfulness', 'clarity'], (0.0, 10.0))
>>> load_rubric("criteria: [{name: tone, description: Polite}]\\nscale: [1, 5]").scale
(1.0, 5.0)
>>> load_rubric("scale: [5, 1]")
Traceback (most recent call last):
...
monitor.errors.ConfigError: judge rubric scale: [5, 1] must be [low, high] finite numbers with low < high
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.yaml_text import load_yaml

__all__ = ["Criterion", "Example", "Rubric", "default_rubric", "load_rubric", "read_rubric"]

_KEYS = ("criteria", "scale", "examples", "instructions")


@dataclass(frozen=True, slots=True)
class Criterion:
    """One thing the judge scores, on the rubric's scale."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Example:
    """A few-shot example: a question, an answer and the scores a careful grader gives it."""

    input_text: str
    output_text: str
    scores: Mapping[str, float]
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class Rubric:
    """Criteria scored on ``scale`` (low, high); an answer's score is the mean of its criteria."""

    criteria: tuple[Criterion, ...]
    scale: tuple[float, float] = (0.0, 10.0)
    examples: tuple[Example, ...] = ()
    instructions: str = ""

    def criterion_names(self) -> tuple[str, ...]:
        """The criteria's names, in order."""
        return tuple(c.name for c in self.criteria)


DEFAULT_CRITERIA = (
    Criterion("accuracy", "Facts and reasoning are correct; nothing is made up."),
    Criterion("completeness", "Every part of the question is answered."),
    Criterion("relevance", "The answer addresses the question asked, without digressions."),
    Criterion("helpfulness", "The user can act on the answer."),
    Criterion("clarity", "The answer is well organised and easy to follow."),
)


def default_rubric() -> Rubric:
    """Accuracy, completeness, relevance, helpfulness and clarity, each 0-10, no examples."""
    return Rubric(DEFAULT_CRITERIA)


def _text(value: Any, where: str) -> str:
    if value is None:
        raise ConfigError(f"judge rubric {where} is missing: give it a non-empty text")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"judge rubric {where}: {value!r} must be a non-empty string")
    return value


def _criteria(raw: Any) -> tuple[Criterion, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"judge rubric criteria: {raw!r} must be a non-empty list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"name", "description"}:
            raise ConfigError(
                f"judge rubric criteria[{i}]: {item!r} must be a mapping with name and description"
            )
        out.append(
            Criterion(
                _text(item.get("name"), f"criteria[{i}].name"),
                _text(item.get("description"), f"criteria[{i}].description"),
            )
        )
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"judge rubric criteria: names {names} repeat")
    return tuple(out)


def _scale(raw: Any) -> tuple[float, float]:
    ok = (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        and raw[0] < raw[1]
    )
    try:
        low, high = (float(raw[0]), float(raw[1])) if ok else (math.nan, math.nan)
    except OverflowError:  # an int too large for a float
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(
            f"judge rubric scale: {str(raw)[:80]} must be [low, high] finite numbers with low < high"
        )
    return low, high


def _examples(raw: Any, names: tuple[str, ...], scale: tuple[float, float]) -> tuple[Example, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"judge rubric examples: {raw!r} must be a list")
    out = []
    for i, item in enumerate(raw):
        where = f"examples[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"judge rubric {where}: {item!r} must be a mapping")
        scores = item.get("scores")
        if not isinstance(scores, dict) or set(scores) != set(names):
            raise ConfigError(
                f"judge rubric {where}.scores: {scores!r} must score exactly {', '.join(names)}"
            )
        for name, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"judge rubric {where}.scores.{name}: {value!r} is not a number")
            if not scale[0] <= value <= scale[1]:
                raise ConfigError(
                    f"judge rubric {where}.scores.{name}: {value} is outside {scale[0]:g}-{scale[1]:g}"
                )
        out.append(
            Example(
                _text(item.get("input_text"), f"{where}.input_text"),
                _text(item.get("output_text"), f"{where}.output_text"),
                {k: float(v) for k, v in scores.items()},
                str(item.get("explanation") or ""),
            )
        )
    return tuple(out)


def load_rubric(text: str) -> Rubric:
    """The rubric in a YAML document; keys left out keep their defaults."""
    raw = load_yaml(text, "judge rubric") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"judge rubric: {raw!r:.60} must be a mapping of {', '.join(_KEYS)}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ConfigError(f"judge rubric: unknown keys {unknown}; allowed: {', '.join(_KEYS)}")
    criteria = _criteria(raw["criteria"]) if "criteria" in raw else DEFAULT_CRITERIA
    scale = _scale(raw["scale"]) if "scale" in raw else (0.0, 10.0)
    names = tuple(c.name for c in criteria)
    examples = _examples(raw.get("examples", []), names, scale)
    instructions = str(raw.get("instructions") or "")
    return Rubric(criteria, scale, examples, instructions)


def read_rubric(path: str | None) -> Rubric:
    """The rubric in the YAML file at ``path``, or the default when ``path`` is None."""
    if path is None:
        return default_rubric()
    try:
        return load_rubric(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"judge rubric file {path!r} cannot be read: {exc}") from exc
