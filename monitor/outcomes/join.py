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
from monitor.detectors.values import DETECTOR_STREAMS, StreamValues, value_position
from monitor.kept_json import kept_json
from monitor.outcomes.fold import JoinedOutcome

__all__ = [
    "DETECTOR_STREAMS",
    "detector_values",
    "event_positions",
    "feedback_key",
    "feedback_payload",
    "inference_payload",
    "join_positions",
    "joined_outcome",
    "latency_columns",
    "payload_identity",
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


def _payload_id(payload: bytes) -> str:
    """A payload's event id (``topic:partition:offset:index``), "" without one; read off the front
    of the JSON our payloads start with, else parsed."""
    if payload.startswith(b'{"id":"'):
        end = payload.find(b'"', 7)
        if end > 0 and b"\\" not in payload[7:end]:
            return payload[7:end].decode()
    found = orjson.loads(payload).get("id", "")
    return found if isinstance(found, str) else ""


def _id_offset(event_id: str) -> int:
    return int(event_id.split(":")[-2]) if event_id.count(":") >= 3 else -1


def event_positions(offsets: Sequence[int]) -> list[int]:
    """Each event's value position: its source offset and its rank among the events of that offset
    (a batched message's, in the message's order).

    >>> from monitor.detectors.values import value_position
    >>> event_positions([4, 4, 5]) == [value_position(4, 0), value_position(4, 1), value_position(5, 0)]
    True
    """
    positions = []
    previous, rank = None, 0
    for offset in offsets:  # a source's events come in offset order: a rank per run of one offset
        rank = rank + 1 if offset == previous else 0
        previous = offset
        positions.append(value_position(offset, rank))
    return positions


def join_positions(completing: Sequence[bytes], matched: Sequence[bytes]) -> list[int]:
    """Each joined outcome's value position: the source offset of the event that completed the
    join (``completing``, from this batch), ranked among that offset's outcomes by the two events'
    ids. One inference completes every pending feedback of its request, as many as there were: the
    ranks let its values be cut into parts, and do not depend on the order the join store answered
    in, so a batch joined again numbers the same outcomes the same.

    >>> from monitor.detectors.values import value_position
    >>> inf = inference_payload(InferenceEvent("r", 1.5, "m", "v1"), "inf:0:5:0")
    >>> late, early = feedback_payload(FeedbackEvent("r", 3.0), "fb:1:8:0"), feedback_payload(FeedbackEvent("r", 2.0), "fb:1:7:0")
    >>> join_positions([inf, inf], [late, early]) == [value_position(5, 1), value_position(5, 0)]
    True
    """
    keys = [
        (_id_offset(done), done, other)
        for done, other in ((_payload_id(c), _payload_id(m)) for c, m in zip(completing, matched))
    ]
    positions = [0] * len(keys)
    previous, rank = None, 0
    for i in sorted(range(len(keys)), key=keys.__getitem__):
        offset = keys[i][0]
        rank = rank + 1 if offset == previous else 0
        previous = offset
        positions[i] = value_position(offset, rank)
    return positions


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
    positions: Sequence[int],
    latencies: Mapping[tuple[str, str], tuple[list[int], list[float], list[float]]] | None = None,
) -> dict[tuple[str, str], dict[str, StreamValues]]:
    """Per model version, each detector stream's values with the source position and event time of
    each.

    ``positions[i]`` is the value position of ``outcomes[i]`` (:func:`join_positions`; the value's
    time is the feedback time); ``latencies`` are, per model version, the positions, latencies and
    times of inference events (:func:`latency_columns`).

    >>> o = JoinedOutcome("a", "m", "v", 0.0, 1.0, prediction=1, label=0, rating=2)
    >>> got = detector_values([o], [7], {("m", "v"): ([6], [80.0], [0.0])})[("m", "v")]
    >>> sorted(got), got["error"]
    (['error', 'latency_ms', 'satisfaction'], StreamValues(positions=(7,), values=(1.0,), times=(1.0,), sources=()))
    """
    columns: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    for o, position in zip(outcomes, positions):
        streams = columns[(o.model, o.model_version)]
        for stream, value in (
            ("error", _error(o)),
            ("satisfaction", _satisfied(o)),
            ("judge_score", None if o.judge_score is None else float(o.judge_score)),
        ):
            if value is not None:
                streams[stream].append((position, value, o.feedback_time))
    transposed = {
        key: {s: StreamValues(*zip(*entries)) for s, entries in streams.items()}
        for key, streams in columns.items()
        if streams
    }
    for key, (latency_positions, values, times) in (latencies or {}).items():
        if values:
            transposed.setdefault(key, {})["latency_ms"] = StreamValues(
                tuple(latency_positions), tuple(values), tuple(times)
            )
    return transposed


def latency_columns(
    events: Sequence[InferenceEvent], positions: Sequence[int]
) -> dict[tuple[str, str], tuple[list[int], list[float], list[float]]]:
    """Per model version, the value positions (:func:`event_positions`), latencies (as floats) and
    times of the events with a latency, in one pass.

    >>> from monitor.contract.events import InferenceEvent
    >>> events = [InferenceEvent("a", 1.0, "m", "v", latency_ms=80), InferenceEvent("b", 2.0, "m", "v")]
    >>> latency_columns(events, [4, 5])
    {('m', 'v'): ([4], [80.0], [1.0])}
    """
    columns: dict[tuple[str, str], tuple[list[int], list[float], list[float]]] = {}
    for event, position in zip(events, positions):
        latency = event.latency_ms
        if latency is None:
            continue
        key = (event.model, event.model_version)
        column = columns.get(key)
        if column is None:
            column = columns[key] = ([], [], [])
        column[0].append(position)
        column[1].append(float(latency))
        column[2].append(event.timestamp)
    return columns
