"""A version's detector values of one batch, sent in parts that each fit a Kafka record: the owner
feeds every value once, whether it takes in all the parts, or some and then the whole batch again
(a worker that crashed between two parts sends the batch again), and each part fits."""

from __future__ import annotations

import itertools

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract.fields import MAX_RECORD_BYTES
from monitor.detectors.concept import DetectorSpec
from monitor.detectors.owner import VersionDetectors
from monitor.detectors.values import (
    DetectorValues,
    StreamValues,
    decode_values,
    encode_values,
    merged,
    offset_end,
    split_to_fit,
    value_position,
)

SPECS = [DetectorSpec("error", "adwin"), DetectorSpec("satisfaction", "adwin")]


class RecordingDetectors(VersionDetectors):
    """The owner's detector set, noting every value it feeds (stream, time, value)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fed_values: list[tuple[str, float, float]] = []

    def _update(self, stream, timed):
        self.fed_values += [(stream, t, v) for t, v in timed]
        return super()._update(stream, timed)


def fresh() -> RecordingDetectors:
    return RecordingDetectors(VersionDetectors.fresh("m", "v1", SPECS).monitor)


def source_message(partition: int, events: list[tuple[int, float, float, bool]]) -> DetectorValues:
    """One source partition's values of a batch: (offset, time, value, in satisfaction too) each."""
    events = sorted(events)
    streams = {"error": StreamValues(*map(tuple, zip(*[(o, v, t) for o, t, v, _ in events])))}
    rated = [(o, v, t) for o, t, v, also in events if also]
    if rated:
        streams["satisfaction"] = StreamValues(*map(tuple, zip(*rated)))
    last = max(o for o, *_ in events) + 3  # the batch reached past its last value
    return DetectorValues("m", "v1", "fb", partition, 0, last, streams)


event = st.tuples(
    st.integers(0, 60),  # several values share an offset: a message of several events
    st.floats(0, 1000, allow_nan=False),
    st.sampled_from([0.0, 1.0]),
    st.booleans(),
)
batches = st.lists(st.lists(event, min_size=1, max_size=120), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(batches, st.integers(150, 2_000))
def test_parts_fit_and_the_owner_feeds_each_value_once_however_far_it_got(
    sources: list[list[tuple[int, float, float, bool]]], max_bytes: int
) -> None:
    [message] = merged([source_message(p, events) for p, events in enumerate(sources)])
    parts = split_to_fit(message, max_bytes)

    whole = fresh()
    whole.feed([message])
    expected = sorted(whole.fed_values)
    for part, encoded in parts:
        assert decode_values(encoded, now=1e4, min_event_time=0) == part  # times from 0
        positions = {s.log: set() for s in part.sources}
        for stream in part.streams.values():
            for position, k in zip(stream.positions, stream.source_of()):
                positions[part.sources[k].log].add(position)
        # a part over the size is one that cannot be cut: the values of one position of one source
        assert len(encoded) <= max_bytes or [len(p) for p in positions.values() if p] == [1]
    for taken in range(len(parts) + 1):  # the owner took in this many parts, then the batch again
        owner = fresh()
        owner.feed([part for part, _ in parts[:taken]])
        owner.feed([message])
        assert sorted(owner.fed_values) == expected
        split_again = fresh()
        split_again.feed([part for part, _ in parts[:taken]])
        split_again.feed([part for part, _ in parts])
        assert sorted(split_again.fed_values) == expected


def test_a_backlogs_values_are_cut_into_records_a_broker_takes_in_time_order() -> None:
    """Before: 150,000 feedback events of a backlog made one message of 1.95 MB, over the 1 MB a
    Kafka broker takes by default: refused, and its batch retried for ever."""
    rng = np.random.default_rng(3)
    n = 150_000
    sources = []
    for partition in range(2):
        offsets = np.sort(rng.integers(0, 150, n // 2))  # 1,000 events a message
        times = 1_795_000_000 + np.sort(rng.random(n // 2)) * 3600
        sources.append(
            DetectorValues(
                "m", "v1", "fb", partition, 0, 160,
                {"satisfaction": StreamValues(tuple(offsets.tolist()), tuple(rng.random(n // 2).round(2).tolist()), tuple(times.tolist()))},
            )
        )  # fmt: skip
    [message] = merged(sources)
    assert len(encode_values(message)) > MAX_RECORD_BYTES
    parts = split_to_fit(message)
    assert len(parts) > 1 and all(len(encoded) <= MAX_RECORD_BYTES for _, encoded in parts)
    fed = fresh()
    fed.feed([part for part, _ in parts])
    times = [t for _, t, _ in fed.fed_values]
    late = sum(a > b for a, b in itertools.pairwise(times))  # seams where a part ends
    assert len(times) == n and late <= 2 * len(parts)
    assert orjson.loads(parts[0][1])["o"] < orjson.loads(parts[-1][1])["o"]


def test_the_values_of_one_event_are_cut_into_records_a_broker_takes() -> None:
    """One inference that completed 60,000 pending joins of its request: its values share its
    offset, ranked within it, and are cut like any others (they were one 2.5 MB record before)."""
    n = 60_000
    stream = StreamValues(
        tuple(value_position(5, rank) for rank in range(n)),
        tuple(float(rank % 2) for rank in range(n)),
        tuple(1000.0 + rank * 1e-3 for rank in range(n)),
    )
    message = DetectorValues(
        "m", "v1", "fb", 0, 0, offset_end(5), {"error": stream, "satisfaction": stream}
    )
    parts = split_to_fit(message)
    assert len(encode_values(message)) > 2 * MAX_RECORD_BYTES
    assert len(parts) > 2 and all(len(encoded) <= MAX_RECORD_BYTES for _, encoded in parts)
    whole = fresh()
    whole.feed([message])
    assert len(whole.fed_values) == 2 * n
    for taken in (1, len(parts) - 1):  # a crash after some parts: the batch is sent again
        owner = fresh()
        owner.feed([part for part, _ in parts[:taken]])
        owner.feed([message])
        for name in ("error", "satisfaction"):  # each stream fed every value once, in order
            assert [v for v in owner.fed_values if v[0] == name] == [
                v for v in whole.fed_values if v[0] == name
            ]
