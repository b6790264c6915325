"""Resent inferences (monitor.folding.resends): the check, chunk after chunk, against a plain
reading of the rule over the whole batch."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from monitor.contract.events import InferenceEvent
from monitor.folding.resends import ResendCheck
from monitor.outcomes.join import inference_payload

TIMES = st.sampled_from([1.0, 2.0])  # the event time: a request id reused at another time
arrivals = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "r3"]),
        st.sampled_from(["m", "n"]),
        st.sampled_from(["v1", "v2"]),
        st.integers(0, 5),  # the event's offset: the same offset is the same event read again
        TIMES,
    ),
    max_size=25,
)
held_before = st.dictionaries(
    st.sampled_from(["r1", "r2", "r3"]),
    st.tuples(st.sampled_from(["m", "n"]), st.sampled_from(["v1", "v2"]), st.integers(0, 5), TIMES),
    max_size=3,
)


def event_id(offset: int) -> str:
    return f"inf:0:{offset}:0"


def expected_flags(batch, held) -> list[bool]:
    """The rule read plainly: the first inference of a request id (held, else the batch's first)
    decides; a later one is a resend when it is another event of the same model, version and
    time."""
    first = {
        rid: (event_id(offset), model, version, t)
        for rid, (model, version, offset, t) in held.items()
    }
    flags = []
    for rid, model, version, offset, t in batch:
        if rid not in first:
            first[rid] = (event_id(offset), model, version, t)
            flags.append(False)
            continue
        first_id, *identity = first[rid]
        flags.append(first_id != event_id(offset) and identity == [model, version, t])
    return flags


@given(batch=arrivals, held=held_before, cuts=st.lists(st.integers(0, 25), max_size=4))
def test_the_check_flags_what_the_rule_says_however_the_batch_is_chunked(batch, held, cuts) -> None:
    payloads = {
        rid: inference_payload(InferenceEvent(rid, t, model, version), event_id(offset))
        for rid, (model, version, offset, t) in held.items()
    }
    reads: list[list[str]] = []

    def stored(request_ids):
        reads.append(list(request_ids))
        return {rid: payloads[rid] for rid in request_ids if rid in payloads}

    check = ResendCheck(stored)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(batch)), len(batch)]
    flags: list[bool] = []
    for lo, hi in itertools.pairwise(bounds):
        chunk = batch[lo:hi]
        events = [InferenceEvent(rid, t, model, version) for rid, model, version, _, t in chunk]
        got = check.flags(events, [event_id(offset) for *_, offset, _ in chunk])
        flags += [False] * len(chunk) if got is None else got
    assert flags == expected_flags(batch, held)
    assert [rid for read in reads for rid in read] == [rid for rid, *_ in batch]  # one read a chunk


def test_a_chunk_with_a_request_id_twice_is_flagged_and_remembered() -> None:
    check = ResendCheck(lambda request_ids: {})
    first, retry = InferenceEvent("r1", 1.0, "m", "v1"), InferenceEvent("r1", 1.0, "m", "v1")
    other = InferenceEvent("r2", 1.0, "m", "v1")
    assert check.flags([first, other, retry], ["a:0:1:0", "a:0:2:0", "a:0:3:0"]) == [
        False,
        False,
        True,
    ]
    # a later chunk: both request ids are now the batch's, so the fast path is not taken
    assert check.flags([retry, InferenceEvent("r3", 1.0, "m", "v1")], ["a:0:4:0", "a:0:5:0"]) == [
        True,
        False,
    ]
    assert check.flags([InferenceEvent("r4", 1.0, "m", "v1")], ["a:0:6:0"]) is None
