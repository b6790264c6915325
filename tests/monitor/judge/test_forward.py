"""What the worker forwards to the judge topic and how the runner reads it back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.events import FeedbackEvent, InferenceEvent
from monitor.errors import InvalidEvent
from monitor.judge.forward import AnswerRecord, HumanRecord, judge_records, read_records
from monitor.judge.sampling import sampled


def answer_event(rid: str, **kw) -> InferenceEvent:
    return InferenceEvent(rid, 1.0, "bot", "v1", input_text="Q?", output_text="A.", **kw)


def test_only_answers_with_both_texts_and_only_human_feedback_are_forwarded() -> None:
    records = judge_records(
        [answer_event("a"), InferenceEvent("b", 1.0, "bot", "v1", output_text="no question")],
        [answer_event("a", deployment="shadow")],
        [FeedbackEvent("a", 2.0, judge_score=3.0), FeedbackEvent("a", 2.0, human_takeover=True)],
        1.0,
        True,
    )
    kinds = [(r["kind"], r.get("deployment")) for r in records]
    assert kinds == [("inference", "production"), ("inference", "shadow"), ("feedback", None)]
    assert records[2]["human_takeover"] is True


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True))
def test_unsampled_answers_are_forwarded_only_when_asked(ids: list[str]) -> None:
    events = [answer_event(i) for i in ids]
    shadows = [answer_event(i, deployment="shadow") for i in ids]
    some = judge_records(events, shadows, [], 0.3, False)
    every = judge_records(events, shadows, [], 0.3, True)
    assert {r["request_id"] for r in some} == {i for i in ids if sampled(i, 0.3)}
    assert len(every) == 2 * len(ids)
    # production and shadow answers of one request are sampled together
    by_id: dict[str, set[bool]] = {}
    for r in every:
        by_id.setdefault(r["request_id"], set()).add(r["sampled"])
    assert all(len(flags) == 1 for flags in by_id.values())
    assert all(isinstance(r, AnswerRecord) for r in read_records(every))


def test_read_records_names_what_is_wrong() -> None:
    with pytest.raises(InvalidEvent, match="'label' is not inference or feedback"):
        read_records([{"kind": "label"}])
    with pytest.raises(InvalidEvent, match="judge record lacks ts"):
        read_records(
            [
                {
                    "kind": "feedback",
                    "request_id": "r",
                    "rating": 1,
                    "thumbs": None,
                    "human_takeover": None,
                    "bad_case": None,
                }
            ]
        )
    human = read_records(
        [
            {
                "kind": "feedback",
                "request_id": "r",
                "ts": 1.0,
                "rating": 1,
                "thumbs": None,
                "human_takeover": None,
                "bad_case": None,
            }
        ]
    )
    assert human == [HumanRecord("r", 1.0, 1, None, None, None)]
