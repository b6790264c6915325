"""A batch's detector values of a version go out as one message, every source partition's values
merged in event-time order (``merged``): a backlog's batch holds each partition's whole stretch,
and a version's detector fed one partition after the other saw a seam where they met. Each value
is still fed exactly once, and a batch sent again is skipped."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.detectors.concept import DetectorSpec
from monitor.detectors.owner import VersionDetectors
from monitor.detectors.values import (
    DetectorValues,
    StreamValues,
    decode_values,
    encode_values,
    merged,
    worsened,
)

STREAMS = ("error", "latency_ms")


@st.composite
def messages(draw) -> DetectorValues:
    """One source's values of one version in a batch: offsets rise (a batched message gives many
    values one offset), times mostly rise, some late; streams may be missing."""
    version = draw(st.sampled_from(["v1", "v2"]))
    topic, partition = draw(st.sampled_from([("fb", 0), ("fb", 1), ("inf", 0)]))
    first = draw(st.integers(0, 50))
    steps = draw(st.lists(st.integers(0, 3), max_size=40))
    offsets = list(np.cumsum([first, *steps]))
    start = draw(st.floats(0, 600.0))
    times = [
        start
        + draw(st.floats(-120.0, 180.0)) * (k % 7 == 6)
        + k * draw(st.sampled_from([0.5, 10.0, 40.0]))
        for k in range(len(offsets))
    ]
    streams = {}
    for name in draw(st.lists(st.sampled_from(STREAMS), unique=True)):
        keep = [k for k in range(len(offsets)) if draw(st.booleans())]
        streams[name] = StreamValues(
            tuple(int(offsets[k]) for k in keep),
            tuple(float(k) for k in keep),
            tuple(max(times[k], 0.0) for k in keep),
        )
    last = int(offsets[-1]) + draw(st.integers(0, 5))
    return DetectorValues("m", version, topic, partition, 0, last, streams)


def one_per_source(batch: list[DetectorValues]) -> list[DetectorValues]:
    """As the outcome stage builds them: one message per source and version."""
    seen, out = set(), []
    for m in batch:
        if (m.source, m.model_version) not in seen:
            seen.add((m.source, m.model_version))
            out.append(m)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=6).map(one_per_source))
def test_every_value_is_fed_once_in_event_time_order_and_a_resend_is_skipped(batch):
    sent = merged(batch)
    assert sorted(m.model_version for m in sent) == sorted({m.model_version for m in batch})
    # it travels as it is (times from 0: the earliest event time lowered)
    assert [decode_values(encode_values(m), now=1e4, min_event_time=0) for m in sent] == sent

    for message in sent:
        parts = [m for m in batch if m.model_version == message.model_version]
        assert message.sources == tuple(s for m in parts for s in m.sources)
        for name, stream in message.streams.items():
            assert list(stream.times) == sorted(stream.times)
            kept = Counter(
                (message.sources[k].log, o, v, t)
                for o, v, t, k in zip(
                    stream.positions, stream.values, stream.times, stream.source_of()
                )
            )
            given_values = Counter(
                (m.source, o, v, t)
                for m in parts
                if name in m.streams
                for o, v, t in zip(
                    *(getattr(m.streams[name], c) for c in ("positions", "values", "times"))
                )
            )
            assert kept == given_values

    specs = [DetectorSpec(s, "page_hinkley") for s in STREAMS]
    for message in sent:
        owner = VersionDetectors.fresh("m", message.model_version, specs)
        owner.feed([message])
        expected = {name: len(stream.values) for name, stream in message.streams.items()}
        assert {s: owner.monitor.position(s) for s in expected} == expected
        # the batch sent again, merged or not (a worker of the version before this change)
        owner.feed([message, *[m for m in batch if m.model_version == message.model_version]])
        assert {s: owner.monitor.position(s) for s in expected} == expected


def test_a_backlog_of_two_partitions_gives_one_detection_of_the_switch_and_no_seam():
    """An hour of feedback in each of two partitions arrives in one batch; the error rate rises
    from 0.05 to 0.3 at minute 30 in both. Fed one partition after the other, the detector also
    sees partition 0's high rate fall back to partition 1's low one at their seam."""
    rng = np.random.default_rng(11)
    n = 3600
    times = np.arange(n, dtype=float)  # one answer a second per partition
    batch = []
    for partition in (0, 1):
        errors = np.where(times < 1800, rng.random(n) < 0.05, rng.random(n) < 0.3).astype(float)
        batch.append(
            DetectorValues(
                "m",
                "v1",
                "fb",
                partition,
                0,
                n - 1,
                {"error": StreamValues(tuple(range(n)), tuple(errors), tuple(times))},
            )
        )

    def detections(sent: list[DetectorValues]) -> list[tuple[float, bool]]:
        owner = VersionDetectors.fresh("m", "v1", [DetectorSpec("error", "adwin")])
        found = owner.feed(sent)
        return [
            (f.event_time, worsened("error", f.detection.mean_before, f.detection.mean_after))
            for f in found
        ]

    one_after_the_other = detections(batch)  # the order the worker sent before
    assert any(not worse for _, worse in one_after_the_other), one_after_the_other

    in_order = detections(merged(batch))
    assert in_order and all(worse for _, worse in in_order), in_order
    assert 1800 <= in_order[0][0] <= 1800 + 300, in_order
