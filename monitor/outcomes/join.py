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

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import orjson

from monitor.catalogue import correct, satisfied
from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.contract.fields import contract_fields
from monitor.detectors.values import DETECTOR_STREAMS, StreamValues
from monitor.kept_json import kept_json
from monitor.outcomes.fold import JoinedOutcome

__all__ = [
    "DETECTOR_STREAMS",
    "detector_values",
    "feedback_key",
    "feedback_payload",
    "inference_payload",
    "joined_outcome",
    "latency_columns",
    "payload_identity",
    "payload_offset",
]

# The feedback fields the outcome metrics read, from the contract (not ids, times or the model).
_FEEDBACK_FIELDS = tuple(name for name, spec in contract_fields(FeedbackEvent) if spec.outcome)


class _InferencePayload(msgspec.Struct, omit_defaults=True, gc=False):
    """What the join store keeps of an inference, in this key order (the Redis scripts read the
    leading ``{"id":"``); ``late``, ``e``, ``a`` and ``x`` only when set."""

    id: str
    t: float
    m: str
    v: str
    p: Any
    l: float | None
    s: dict[str, str]
    late: bool = False
    e: str | None = None
    a: str | None = None
    x: float | None = None


def inference_payload(
    event: InferenceEvent, event_id: str = "", counted: bool = True, covariate: float | None = None
) -> bytes:
    """``counted`` is False for an inference its window did not count (too late): its outcomes stay out too.
    ``covariate`` is the experiment's CUPED covariate value, kept for its outcomes.

    >>> inference_payload(InferenceEvent("r", 1.5, "m", "v1", latency_ms=80.0), "inf:0:5:0")
    b'{"id":"inf:0:5:0","t":1.5,"m":"m","v":"v1","p":null,"l":80.0,"s":{}}'
    """
    segment = event.segment if type(event.segment) is dict else dict(event.segment)
    assigned = event.experiment is not None and event.variant is not None
    return kept_json(
        _InferencePayload(
            event_id,
            event.timestamp,
            event.model,
            event.model_version,
            event.prediction,
            event.latency_ms,
            segment,
            not counted,
            event.experiment if assigned else None,
            event.variant if assigned else None,
            covariate if assigned else None,
        )
    )


def feedback_key(event: FeedbackEvent, event_id: str) -> str:
    """The join store's key of a feedback event under its request: the producer's ``feedback_id``
    (``id=`` before it: a Kafka topic name, which starts an event id, never holds ``=``), else the
    event's own id. A resend of an identified feedback finds its key taken and joins nothing.

    >>> feedback_key(FeedbackEvent("r1", 2.0, feedback_id="survey-7"), "fb:0:9:0")
    'id=survey-7'
    >>> feedback_key(FeedbackEvent("r1", 2.0), "fb:0:9:0")
    'fb:0:9:0'
    """
    return f"id={event.feedback_id}" if event.feedback_id is not None else event_id


def feedback_payload(event: FeedbackEvent, event_id: str = "") -> bytes:
    fields = {
        name: getattr(event, name)
        for name in _FEEDBACK_FIELDS
        if getattr(event, name) not in (None, {})
    }
    return kept_json({"id": event_id, "t": event.timestamp, **fields})


def payload_offset(payload: bytes) -> int:
    """The source offset recorded in a payload's event id (``topic:partition:offset:index``)."""
    event_id = orjson.loads(payload).get("id", "")
    return int(event_id.split(":")[-2]) if event_id.count(":") >= 3 else -1


def payload_identity(payload: bytes) -> tuple[str, str, str, float]:
    """The event id, model, model version and event time an inference payload was built from.

    >>> payload_identity(inference_payload(InferenceEvent("r", 1.5, "m", "v1"), "inf:0:5:0"))
    ('inf:0:5:0', 'm', 'v1', 1.5)
    """
    kept = orjson.loads(payload)
    return kept.get("id", ""), kept.get("m", ""), kept.get("v", ""), kept.get("t", math.nan)


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


def detector_values(
    outcomes: Sequence[JoinedOutcome],
    offsets: Sequence[int],
    latencies: Mapping[tuple[str, str], tuple[list[int], list[float], list[float]]] | None = None,
) -> dict[tuple[str, str], dict[str, StreamValues]]:
    """Per model version, each detector stream's values with the source offset and event time of each.

    ``offsets[i]`` is the source offset of the event that completed ``outcomes[i]`` (the value's
    time is the feedback time); ``latencies`` are, per model version, the offsets, latencies and
    times of inference events (:func:`latency_columns`).

    >>> o = JoinedOutcome("a", "m", "v", 0.0, 1.0, prediction=1, label=0, rating=2)
    >>> got = detector_values([o], [7], {("m", "v"): ([6], [80.0], [0.0])})[("m", "v")]
    >>> sorted(got), got["error"]
    (['error', 'latency_ms', 'satisfaction'], StreamValues(offsets=(7,), values=(1.0,), times=(1.0,), sources=()))
    """
    columns: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    for o, offset in zip(outcomes, offsets):
        streams = columns[(o.model, o.model_version)]
        for stream, value in (
            ("error", _error(o)),
            ("satisfaction", _satisfied(o)),
            ("judge_score", None if o.judge_score is None else float(o.judge_score)),
        ):
            if value is not None:
                streams[stream].append((offset, value, o.feedback_time))
    transposed = {
        key: {s: StreamValues(*zip(*entries)) for s, entries in streams.items()}
        for key, streams in columns.items()
        if streams
    }
    for key, (latency_offsets, values, times) in (latencies or {}).items():
        if values:
            transposed.setdefault(key, {})["latency_ms"] = StreamValues(
                tuple(latency_offsets), tuple(values), tuple(times)
            )
    return transposed


def latency_columns(
    events: Sequence[InferenceEvent], offsets: Sequence[int]
) -> dict[tuple[str, str], tuple[list[int], list[float], list[float]]]:
    """Per model version, the offsets, latencies (as floats) and times of the events with a latency,
    in one pass.

    >>> from monitor.contract.events import InferenceEvent
    >>> events = [InferenceEvent("a", 1.0, "m", "v", latency_ms=80), InferenceEvent("b", 2.0, "m", "v")]
    >>> latency_columns(events, [4, 5])
    {('m', 'v'): ([4], [80.0], [1.0])}
    """
    columns: dict[tuple[str, str], tuple[list[int], list[float], list[float]]] = {}
    for event, offset in zip(events, offsets):
        latency = event.latency_ms
        if latency is None:
            continue
        key = (event.model, event.model_version)
        column = columns.get(key)
        if column is None:
            column = columns[key] = ([], [], [])
        column[0].append(offset)
        column[1].append(float(latency))
        column[2].append(event.timestamp)
    return columns
