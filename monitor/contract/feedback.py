"""The feedback event record: what came back about one answer, each field declared with its contract spec.

>>> event = FeedbackEvent("r1", 1767225600.0, rating=2)
>>> event.rating, event.thumbs, dict(event.kpi)
(2, None, {})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.contract.fields import FieldSpec, declare

__all__ = ["FeedbackEvent"]


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """What came back about one answer, seconds to days later."""

    request_id: str = declare(
        FieldSpec(
            "id",
            "the inference's request_id",
            required=True,
            otel=("gen_ai.response.id",),
            example="req-8f2c",
        )
    )
    timestamp: float = declare(
        FieldSpec("timestamp", "event time, as for inference", required=True, example=1795625012.5)
    )
    label: str | float | int | bool | None = declare(
        FieldSpec("answer", "ground truth for the prediction", outcome=True, example="escalate"),
        default=None,
    )
    rating: int | None = declare(
        FieldSpec(
            "integer",
            "user rating; satisfied when >= 4",
            minimum=1,
            maximum=5,
            outcome=True,
            example=2,
        ),
        default=None,
    )
    thumbs: str | None = declare(
        FieldSpec(
            "choice",
            "satisfied when up (and no rating)",
            choices=("up", "down"),
            outcome=True,
            example="down",
        ),
        default=None,
    )
    task_completed: bool | None = declare(
        FieldSpec("boolean", "the task was completed", outcome=True, example=False), default=None
    )
    human_takeover: bool | None = declare(
        FieldSpec("boolean", "a human took over", outcome=True, example=True), default=None
    )
    bad_case: bool | None = declare(
        FieldSpec("boolean", "flagged as a bad case", outcome=True, example=True), default=None
    )
    turns: int | None = declare(
        FieldSpec("integer", "conversation length", minimum=0, outcome=True, example=6),
        default=None,
    )
    judge_score: float | None = declare(
        FieldSpec(
            "number", "LLM-judge score", minimum=0.0, maximum=10.0, outcome=True, example=3.5
        ),
        default=None,
    )
    kpi: Mapping[str, float] = declare(
        FieldSpec(
            "kpi",
            "business KPIs of the answer (name -> number); per-variant means kpi.<name> in experiments",
            outcome=True,
            example={"revenue": 12.5, "csat": 4.0},
        ),
        default_factory=dict,
    )
    model: str | None = declare(
        FieldSpec("id", "for feedback whose inference never arrives", example="support-assistant"),
        default=None,
    )
    model_version: str | None = declare(FieldSpec("id", "as model", example="v2"), default=None)
    feedback_id: str | None = declare(
        FieldSpec(
            "id",
            "the producer's id of this feedback: another event with the same request_id and "
            "feedback_id is a resend and counts once",
            example="survey-7f3a",
        ),
        default=None,
    )
