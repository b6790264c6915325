"""The inference event record: one model answer, each field declared with its contract spec.

>>> event = InferenceEvent("r1", 1767225600.0, "support-assistant", "v2")
>>> event.deployment, dict(event.features)
('production', {})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.contract.fields import MAX_TEXT_LENGTH, FieldSpec, declare

__all__ = ["DEPLOYMENTS", "FeatureValue", "InferenceEvent"]

DEPLOYMENTS = ("production", "shadow", "canary")
FeatureValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    """One model answer. Each field's :class:`~monitor.contract.fields.FieldSpec` is the contract."""

    request_id: str = declare(
        FieldSpec(
            "id",
            "the join key with feedback, and the Kafka key",
            required=True,
            otel=("gen_ai.response.id",),
            example="req-8f2c",
        )
    )
    timestamp: float = declare(
        FieldSpec(
            "timestamp",
            "event time: RFC 3339, or epoch seconds / milliseconds (values >= 1e11 are ms)",
            required=True,
            example="2026-11-25T14:03:11.250Z",
        )
    )
    model: str = declare(
        FieldSpec(
            "id",
            "the model; everything is computed per model version",
            required=True,
            otel=("gen_ai.request.model",),
            example="support-assistant",
        )
    )
    model_version: str = declare(
        FieldSpec(
            "id", "the model version", required=True, otel=("gen_ai.response.model",), example="v2"
        )
    )
    deployment: str = declare(
        FieldSpec(
            "choice",
            "how the version is deployed; shadow answers are compared with production's, never counted "
            "in its rates",
            choices=DEPLOYMENTS,
            example="canary",
        ),
        default="production",
    )
    features: Mapping[str, FeatureValue] = declare(
        FieldSpec(
            "features",
            "inputs whose distribution is watched for drift; null is a missing value",
            example={"prompt_chars": 412, "language": "de", "vip": False},
        ),
        default_factory=dict,
    )
    input_text: str | None = declare(
        FieldSpec(
            "text",
            "never stored: becomes derived text features",
            max_length=MAX_TEXT_LENGTH,
            example="Why was I charged twice for order 4411?",
        ),
        default=None,
    )
    output_text: str | None = declare(
        FieldSpec(
            "text", "never stored", max_length=MAX_TEXT_LENGTH, example="I am sorry about that ..."
        ),
        default=None,
    )
    prediction: str | float | int | bool | None = declare(
        FieldSpec("answer", "compared with the feedback label for accuracy", example="refund"),
        default=None,
    )
    score: float | None = declare(
        FieldSpec("number", "the model's own score", example=0.82), default=None
    )
    latency_ms: float | None = declare(
        FieldSpec("number", "latency reported by the producer", minimum=0.0, example=640.5),
        default=None,
    )
    input_tokens: int | None = declare(
        FieldSpec(
            "integer",
            "prompt tokens",
            minimum=0,
            path=("usage", "input_tokens"),
            otel=("gen_ai.usage.input_tokens",),
            example=103,
        ),
        default=None,
    )
    output_tokens: int | None = declare(
        FieldSpec(
            "integer",
            "completion tokens",
            minimum=0,
            path=("usage", "output_tokens"),
            otel=("gen_ai.usage.output_tokens",),
            example=212,
        ),
        default=None,
    )
    conversation_id: str | None = declare(
        FieldSpec(
            "id",
            "the conversation the turn belongs to",
            otel=("gen_ai.conversation.id",),
            example="conv-19",
        ),
        default=None,
    )
    turn: int | None = declare(
        FieldSpec("integer", "turn number in the conversation", minimum=0, example=3), default=None
    )
    segment: Mapping[str, str] = declare(
        FieldSpec(
            "segment",
            "keys listed in MONITOR_SEGMENT_KEYS get their own outcome rates",
            example={"tenant": "acme", "region": "eu"},
        ),
        default_factory=dict,
    )
    experiment: str | None = declare(
        FieldSpec(
            "id",
            "the A/B experiment the request was assigned in (with variant)",
            example="prompt-v3",
        ),
        default=None,
    )
    variant: str | None = declare(
        FieldSpec("id", "the experiment arm the request was assigned to", example="treatment"),
        default=None,
    )
    error: str | None = declare(
        FieldSpec(
            "id",
            "the request failed (an error type): counted, never stored; shadow error rate",
            otel=("error.type",),
            example="timeout",
        ),
        default=None,
    )
