"""Chat messages for a judge: grade one answer on a rubric, or pick the better of two.

The judge is asked for JSON only; :mod:`monitor.judge.parse` reads it (and a plain-text answer).

>>> from monitor.judge.rubric import default_rubric
>>> messages = grading_messages(default_rubric(), "Why was I charged twice?", "A refund is on its way.")
>>> [m["role"] for m in messages], '"accuracy": <0-10>' in messages[0]["content"]
(['system', 'user'], True)
>>> comparison_messages(default_rubric(), "Q", "first", "second")[1]["content"].count("[Answer")
2
"""

from __future__ import annotations

import json

from monitor.judge.rubric import Rubric

__all__ = ["comparison_messages", "grading_messages"]

Message = dict[str, str]


def _criteria_lines(rubric: Rubric) -> str:
    return "\n".join(f"- {c.name}: {c.description}" for c in rubric.criteria)


def _score_shape(rubric: Rubric) -> str:
    low, high = rubric.scale
    fields = ", ".join(f'"{n}": <{low:g}-{high:g}>' for n in rubric.criterion_names())
    return "{" + fields + ', "explanation": "<one or two sentences>"}'


def _example_text(rubric: Rubric) -> str:
    parts = []
    for i, ex in enumerate(rubric.examples, 1):
        answer = {**ex.scores, "explanation": ex.explanation}
        parts.append(
            f"Example {i}\n[Question]\n{ex.input_text}\n[Answer]\n{ex.output_text}\n"
            f"[Grade]\n{json.dumps(answer)}"
        )
    return "\n\n".join(parts)


def grading_messages(rubric: Rubric, input_text: str, output_text: str) -> list[Message]:
    """System and user messages asking for one score per criterion, as a JSON object."""
    low, high = rubric.scale
    system = (
        "You are a strict, impartial grader of an assistant's answer. Score each criterion from "
        f"{low:g} (worst) to {high:g} (best):\n{_criteria_lines(rubric)}\n"
        f"{rubric.instructions}\nReply with JSON only, exactly: {_score_shape(rubric)}"
    )
    examples = _example_text(rubric)
    user = (f"{examples}\n\n" if examples else "") + (
        f"[Question]\n{input_text}\n[Answer]\n{output_text}\n[Grade]"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def comparison_messages(rubric: Rubric, input_text: str, first: str, second: str) -> list[Message]:
    """System and user messages asking which of two answers is better (A, B or tie), as JSON.

    The caller asks twice with the answers swapped; position and length are not evidence.
    """
    system = (
        "You are an impartial judge comparing two answers to the same question on:\n"
        f"{_criteria_lines(rubric)}\n{rubric.instructions}\n"
        "The order of the answers and their length are not evidence of quality. Reply with JSON "
        'only, exactly: {"winner": "A" | "B" | "tie", "explanation": "<one or two sentences>"}'
    )
    user = f"[Question]\n{input_text}\n[Answer A]\n{first}\n[Answer B]\n{second}\n[Verdict]"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
