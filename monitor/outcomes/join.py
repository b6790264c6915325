"""What the join store keeps of each side, and the joined outcome built from a pair.

Payloads are small JSON documents: the fields the outcome metrics and detectors need, never
raw text.

>>> from monitor.contract.events import InferenceEvent, FeedbackEvent
>>> inf = InferenceEvent("r1", 100.0, "m", "v1", prediction="yes", latency_ms=80.0)
>>> fb = FeedbackEvent("r1", 130.0, label="no", rating=5)
>>> o = joined_outcome("r1", inference_payload(inf), feedback_payload(fb))
>>> o.model_version, o.prediction, o.label, o.feedback_time - o.inference_time
('v1', 'yes', 'no', 30.0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import orjson

from monitor.catalogue import correct, satisfied
from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import contract_fields
from monitor.outcomes.fold import JoinedOutcome

__all__ = [
    "DETECTOR_STREAMS",
    "detector_streams",
    "feedback_payload",
    "inference_payload",
    "joined_outcome",
    "payload_offset",
    "stream_times",
]

DETECTOR_STREAMS = ("error", "satisfaction", "judge_score", "latency_ms")
# The feedback fields the outcome metrics read, from the contract (not ids, times or the model).
_FEEDBACK_FIELDS = tuple(name for name, spec in contract_fields(FeedbackEvent) if spec.outcome)


def inference_payload(
    event: InferenceEvent, event_id: str = "", counted: bool = True, covariate: float | None = None
) -> bytes:
    """``counted`` is False for an inference its window did not count (too late): its outcomes stay out too.
    ``covariate`` is the experiment's CUPED covariate value, kept for its outcomes."""
    body = {
        "id": event_id,
        "t": event.timestamp,
        "m": event.model,
        "v": event.model_version,
        "p": event.prediction,
        "l": event.latency_ms,
        "s": dict(event.segment),
    }
    if not counted:
        body["late"] = True
    if event.experiment is not None and event.variant is not None:
        body["e"], body["a"] = event.experiment, event.variant
        if covariate is not None:
            body["x"] = covariate
    return orjson.dumps(body)


def feedback_payload(event: FeedbackEvent, event_id: str = "") -> bytes:
    fields = {
        name: getattr(event, name)
        for name in _FEEDBACK_FIELDS
        if getattr(event, name) not in (None, {})
    }
    return orjson.dumps({"id": event_id, "t": event.timestamp, **fields})


def payload_offset(payload: bytes) -> int:
    """The source offset recorded in a payload's event id (``topic:partition:offset:index``)."""
    event_id = orjson.loads(payload).get("id", "")
    return int(event_id.split(":")[-2]) if event_id.count(":") >= 3 else -1


def joined_outcome(request_id: str, inference: bytes, feedback: bytes) -> JoinedOutcome:
    inf, fb = orjson.loads(inference), orjson.loads(feedback)
    return JoinedOutcome(
        request_id=request_id,
        model=inf["m"],
        model_version=inf["v"],
        inference_time=float(inf["t"]),
        feedback_time=float(fb["t"]),
        prediction=inf.get("p"),
        label=fb.get("label"),
        rating=fb.get("rating"),
        thumbs=fb.get("thumbs"),
        task_completed=fb.get("task_completed"),
        human_takeover=fb.get("human_takeover"),
        bad_case=fb.get("bad_case"),
        turns=fb.get("turns"),
        judge_score=fb.get("judge_score"),
        latency_ms=inf.get("l"),
        segment=inf.get("s") or {},
        experiment=inf.get("e"),
        variant=inf.get("a"),
        kpi=fb.get("kpi") or {},
        covariate=inf.get("x"),
        counted=not inf.get("late", False),
    )


def _satisfied(o: JoinedOutcome) -> float | None:
    value = satisfied(o.rating, o.thumbs)
    return None if value is None else float(value)


def _error(o: JoinedOutcome) -> float | None:
    right = correct(o.prediction, o.label)
    return None if right is None else float(not right)


def stream_times(outcomes: Sequence[JoinedOutcome]) -> dict[str, list[float]]:
    """Feedback time of each value of :func:`detector_streams` (same order, one model version)."""
    times: dict[str, list[float]] = defaultdict(list)
    for o in outcomes:
        if _error(o) is not None:
            times["error"].append(o.feedback_time)
        if _satisfied(o) is not None:
            times["satisfaction"].append(o.feedback_time)
        if o.judge_score is not None:
            times["judge_score"].append(o.feedback_time)
    return dict(times)


def detector_streams(
    outcomes: Sequence[JoinedOutcome],
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Per model version, the values each detector stream receives, in outcome order.

    ``error`` is 1 when a labelled prediction is not :func:`~monitor.catalogue.correct`; outcomes
    without the value are left out.

    >>> o = JoinedOutcome("a", "m", "v", 0.0, 1.0, prediction=1, label=0, rating=2)
    >>> {k: v.tolist() for k, v in detector_streams([o])[("m", "v")].items()}
    {'error': [1.0], 'satisfaction': [0.0]}
    """
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        streams = values[(o.model, o.model_version)]
        error = _error(o)
        if error is not None:
            streams["error"].append(error)
        happy = _satisfied(o)
        if happy is not None:
            streams["satisfaction"].append(happy)
        if o.judge_score is not None:
            streams["judge_score"].append(float(o.judge_score))
    return {
        key: {s: np.asarray(v, dtype=np.float64) for s, v in streams.items()}
        for key, streams in values.items()
    }
