"""What a worker's batch forwards to the judge topic: the batch as :func:`process_batch` folds it."""

from __future__ import annotations

import orjson

from monitor.folding.pipeline import BatchConfig, RawMessage, process_batch
from monitor.judge.forward import AnswerRecord, HumanRecord, read_records
from streams.judge_forward import batch_judge_records

NOW = 10_000.0
CFG = BatchConfig(
    window_seconds=60, allowed_lateness=30, max_future_skew=300, now=NOW, min_event_time=0
)


def answer(request_id: str, t: float, version: str, **more: object) -> dict[str, object]:
    return {
        "request_id": request_id,
        "timestamp": t,
        "model": "faq-bot",
        "model_version": version,
        "input_text": "Where is my refund?",
        "output_text": f"answer of {version}",
        **more,
    }


def message(kind: str, offset: int, events: list[dict[str, object]]) -> RawMessage:
    return RawMessage(f"monitor.{kind}", 0, offset, orjson.dumps(events), kind)


def test_late_answers_and_feedback_are_forwarded_as_the_shadow_comparison_pairs_them() -> None:
    # The watermark is at NOW; r-late's production answer, its shadow and its thumbs down are an
    # hour behind it: late for the windows. The shadow answer was forwarded and its production
    # answer was not, so the runner never compared the pair the shadow report counted, nor judged
    # the request its user flagged.
    batch = [
        message("inference", 0, [answer("r-now", NOW, "v1")]),
        message(
            "inference",
            1,
            [
                answer("r-late", NOW - 3600, "v1"),
                answer("r-late", NOW - 3600 + 0.2, "v2", deployment="shadow"),
            ],
        ),
        message("feedback", 0, [{"request_id": "r-now", "timestamp": NOW, "rating": 5}]),
        message(
            "feedback", 1, [{"request_id": "r-late", "timestamp": NOW - 3590, "thumbs": "down"}]
        ),
    ]
    out = process_batch(batch, {}, CFG)
    assert out.late == {"inference": 1, "feedback": 1}  # the production answer and the thumbs

    records = read_records(batch_judge_records(out, rate=1.0, forward_unsampled=True))
    answers = {
        (r.request_id, r.deployment) for r in records if isinstance(r, AnswerRecord) and r.sampled
    }
    assert answers == {("r-now", "production"), ("r-late", "production"), ("r-late", "shadow")}
    human = {(r.request_id, r.rating, r.thumbs) for r in records if isinstance(r, HumanRecord)}
    assert human == {("r-now", 5, None), ("r-late", None, "down")}
