"""How the source consumer cuts fetches into batches and which offsets it commits (no broker: the
fetch is a scripted function; the consumer itself is exercised through the real broker by
tests/e2e/test_source_commits.py and every other e2e test)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding.pipeline import RawMessage
from streams.source_consumer import BatchCutter, WrittenOffsets, fetchable_end

KINDS = {"inf": "inference", "fb": "feedback"}


class Record(NamedTuple):
    offset: int
    value: bytes
    timestamp: int = 0


class ScriptedFetch:
    """Answers each fetch with the next scripted result; each fetch moves the clock by ``step``."""

    def __init__(self, results: Sequence[dict[tuple[str, int], list[Record]]], step: float = 0.0):
        self.results = list(results)
        self.now = 0.0
        self.step = step
        self.calls: list[tuple[float, int]] = []

    async def __call__(self, wait: float, max_records: int | None):
        self.calls.append((wait, max_records))
        self.now += self.step
        if not self.results:
            return {}
        return self.results.pop(0)


def records(
    topic: str, partition: int, offsets: range, times: range | None = None
) -> dict[tuple[str, int], list[Record]]:
    """Records of one partition; timestamps ``times`` (in ms), else all 0."""
    stamps = times or [0] * len(offsets)
    return {(topic, partition): [Record(o, b"%d" % o, t) for o, t in zip(offsets, stamps)]}


def cut(fetch: ScriptedFetch, size: int, within: float, stopping=lambda: False):
    cutter = BatchCutter(fetch, KINDS, size, within, clock=lambda: fetch.now)
    return asyncio.run(cutter.next_batch(stopping))


def test_a_batch_is_cut_at_its_size_across_fetches():
    fetch = ScriptedFetch([records("inf", 0, range(3)), records("fb", 1, range(10, 20))])
    batch = cut(fetch, size=5, within=60.0)
    assert [(m.topic, m.partition, m.offset, m.kind) for m in batch] == [  # equal timestamps
        ("inf", 0, 0, "inference"),
        ("fb", 1, 10, "feedback"),
        ("inf", 0, 1, "inference"),
        ("fb", 1, 11, "feedback"),
        ("inf", 0, 2, "inference"),
    ]
    assert [m.value for m in batch][:1] == [b"0"]
    assert fetch.calls[1][1] is None  # every partition's fetched records, the rest held


def test_a_backlog_is_cut_across_partitions_in_timestamp_order_and_the_rest_held():
    """A backlog's fetch brings a long stretch of each partition; aiokafka hands them out one
    partition after another. Batches take them in timestamp order: every batch a bit of each."""
    fetch = ScriptedFetch(
        [
            {
                **records("fb", 0, range(6), range(0, 60, 10)),
                **records("fb", 1, range(100, 106), range(5, 65, 10)),
                **records("inf", 0, range(50, 53), range(1, 31, 10)),
            }
        ],
        step=0.5,
    )
    cutter = BatchCutter(fetch, KINDS, 4, 1.0, clock=lambda: fetch.now)
    batches = [asyncio.run(cutter.next_batch(lambda: False)) for _ in range(5)]
    assert [[(m.topic, m.offset) for m in batch] for batch in batches] == [
        [("fb", 0), ("inf", 50), ("fb", 100), ("fb", 1)],
        [("inf", 51), ("fb", 101), ("fb", 2), ("inf", 52)],
        [("fb", 102), ("fb", 3), ("fb", 103), ("fb", 4)],
        [("fb", 104), ("fb", 5), ("fb", 105)],
        [],
    ]
    # one fetch for the first three batches; the fourth waited its second for more
    assert len(fetch.calls) == 4
    assert cutter.held() == 0


def test_held_records_are_dropped_at_a_rebalance():
    fetch = ScriptedFetch([records("fb", 0, range(10))], step=0.5)
    cutter = BatchCutter(fetch, KINDS, 4, 1.0, clock=lambda: fetch.now)
    assert [m.offset for m in asyncio.run(cutter.next_batch(lambda: False))] == [0, 1, 2, 3]
    assert cutter.held() == 6
    cutter.drop_held()  # the consumer fetches from the committed offset again
    fetch.results = [records("fb", 0, range(4, 6))]
    assert [m.offset for m in asyncio.run(cutter.next_batch(lambda: False))] == [4, 5]


def test_a_batch_ends_within_its_time_of_the_first_message():
    fetch = ScriptedFetch([records("inf", 0, range(i, i + 1)) for i in range(100)], step=0.1)
    batch = cut(fetch, size=1000, within=0.45)
    # the first message came at 0.1 s: fetches wait only for what is left of the 0.45 s after it,
    # and the one that ends past 0.55 s is the last
    assert [round(wait, 2) for wait, _ in fetch.calls] == [0.5, 0.45, 0.35, 0.25, 0.15, 0.05]
    assert [m.offset for m in batch] == [0, 1, 2, 3, 4, 5]


def test_nothing_arrived_is_an_empty_batch_after_one_wait():
    fetch = ScriptedFetch([])
    assert cut(fetch, size=10, within=1.0) == []
    assert fetch.calls == [(0.5, None)]


def test_a_stop_returns_no_batch():
    fetch = ScriptedFetch([records("inf", 0, range(3))] * 3, step=0.1)
    assert cut(fetch, size=10, within=5.0, stopping=lambda: fetch.now > 0) == []
    fetch = ScriptedFetch([records("inf", 0, range(3))])
    assert cut(fetch, size=10, within=5.0, stopping=lambda: True) == []
    assert fetch.calls == []


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), max_size=12),
    size=st.integers(1, 25),
    within=st.floats(0.0, 3.0),
)
def test_batches_hold_every_record_once_in_order(sizes, size, within):
    """Whatever the fetches return, the batches in turn are every record once, each partition's
    in offset order, none larger than ``size``."""
    script, offset = [], 0
    for partition, n in enumerate(sizes):
        script.append(
            records("inf", partition % 3, range(offset, offset + n), range(n * 7 % 5, 10**6, 3))
        )
        offset += n
    fetch = ScriptedFetch(script, step=0.4)
    cutter = BatchCutter(fetch, KINDS, size, within, clock=lambda: fetch.now)
    got: list[RawMessage] = []
    for _ in range(offset + len(sizes) + 2):
        batch = asyncio.run(cutter.next_batch(lambda: False))
        assert len(batch) <= size
        got += batch
    assert sorted(m.offset for m in got) == list(range(offset))
    for partition in range(3):
        mine = [m.offset for m in got if m.partition == partition]
        assert mine == sorted(mine)


def test_offsets_are_due_after_enough_messages_or_time():
    now = [0.0]
    offsets = WrittenOffsets(every=10, interval=2.0, clock=lambda: now[0])
    assert not offsets.due()  # nothing written: nothing to commit, however long
    now[0] = 5.0
    assert not offsets.due()
    offsets.add([RawMessage("inf", 0, 4, b"", "inference")])
    assert offsets.due()  # written, and more than 2 s since the last commit
    assert offsets.take() == {("inf", 0): 5}
    offsets.add([RawMessage("inf", 0, o, b"", "inference") for o in range(5, 14)])
    now[0] = 6.0
    assert not offsets.due()  # 9 messages, 1 s
    offsets.add([RawMessage("inf", 1, 0, b"", "inference")])
    assert offsets.due()  # 10 messages


def test_a_rebalance_commits_revoked_partitions_and_drops_moved_ones():
    offsets = WrittenOffsets(every=100, interval=60.0, clock=lambda: 0.0)
    offsets.add([RawMessage("inf", p, 7, b"", "inference") for p in range(3)])
    offsets.add([RawMessage("inf", 0, 3, b"", "inference")])  # an older replayed offset
    assert offsets.take(only=[("inf", 1), ("fb", 0)]) == {("inf", 1): 8}
    offsets.keep_only([("inf", 0)])
    assert offsets.pending() == {("inf", 0): 8}


class Cluster:
    def __init__(self, partitions: dict[str, int]):
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions[topic]))


@settings(max_examples=50, deadline=None)
@given(partitions=st.integers(1, 12), workers=st.integers(1, 6))
def test_the_assignor_gives_a_worker_the_same_partitions_of_both_topics(partitions, workers):
    """An in-process join store meets a request's two halves only in the worker holding both."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

    from streams.source_consumer import ASSIGNOR

    members = {
        f"w{i}": ConsumerProtocolMemberMetadata(0, ["inf", "fb"], b"") for i in range(workers)
    }
    assignment = ASSIGNOR.assign(Cluster({"inf": partitions, "fb": partitions}), members)
    held = []
    for member in assignment.values():
        by_topic = {topic: sorted(ps) for topic, ps in member.assignment}
        assert by_topic.get("inf", []) == by_topic.get("fb", [])
        held += by_topic.get("inf", [])
    assert sorted(held) == list(range(partitions))


class Behind:
    """The partitions the broker holds more records of, as a script says."""

    def __init__(self, *sources: tuple[str, int]):
        self.sources = set(sources)

    async def __call__(self) -> set[tuple[str, int]]:
        return set(self.sources)


def test_a_batch_waits_for_the_records_of_a_partition_behind_that_none_are_held_of():
    """A fetch brings up to 4 MiB of each partition: a partition of large messages spans less time
    in it than one of small ones. Once its held records were taken, the batch took the other's
    later records before its own next ones; it fetches them first."""
    fetch = ScriptedFetch(
        [
            {
                **records("inf", 0, range(2), range(0, 20, 10)),
                **records("inf", 1, range(10), range(5, 105, 10)),
            },
            records("inf", 0, range(2, 6), range(20, 60, 10)),
        ],
        step=0.25,
    )
    behind = Behind(("inf", 0))
    cutter = BatchCutter(fetch, KINDS, 4, 60.0, clock=lambda: fetch.now, behind=behind)
    first = asyncio.run(cutter.next_batch(lambda: False))
    second = asyncio.run(cutter.next_batch(lambda: False))
    # partition 0's two held records would end the batch after three: its next were fetched first
    assert [(m.partition, m.offset) for m in first] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert [(m.partition, m.offset) for m in second] == [(0, 2), (1, 2), (0, 3), (1, 3)]
    assert len(fetch.calls) == 2


def test_a_batch_ends_with_a_partition_behind_whose_next_records_did_not_come():
    fetch = ScriptedFetch(
        [
            {
                **records("inf", 0, range(2), range(0, 20, 10)),
                **records("inf", 1, range(10), range(5, 105, 10)),
            }
        ],
        step=0.25,
    )
    cutter = BatchCutter(
        fetch, KINDS, 4, 60.0, clock=lambda: fetch.now, behind=Behind(("inf", 0)), align_wait=1.0
    )
    first = asyncio.run(cutter.next_batch(lambda: False))
    assert [(m.partition, m.offset) for m in first] == [(0, 0), (1, 0), (0, 1)]
    assert fetch.now == 1.25  # the first fetch, then the wait of 1 s for partition 0


def test_a_partition_behind_is_waited_for_a_while_and_not_beyond_four_batches_held():
    fetch = ScriptedFetch(
        [records("inf", 1, range(6), range(6))] + [{}] * 10, step=0.25
    )  # partition 0 never comes
    cutter = BatchCutter(
        fetch, KINDS, 4, 60.0, clock=lambda: fetch.now, behind=Behind(("inf", 0)), align_wait=1.0
    )
    assert [m.offset for m in asyncio.run(cutter.next_batch(lambda: False))] == [0, 1, 2, 3]
    assert fetch.now == 1.25  # the first fetch, then the wait of 1 s for partition 0
    fetch = ScriptedFetch([records("inf", 1, range(16), range(16))], step=0.25)
    cutter = BatchCutter(fetch, KINDS, 4, 60.0, clock=lambda: fetch.now, behind=Behind(("inf", 0)))
    assert len(asyncio.run(cutter.next_batch(lambda: False))) == 4
    assert len(fetch.calls) == 1  # four batches held: cut at once


def test_a_partition_is_behind_only_up_to_the_last_offset_a_fetch_can_return():
    """Reading committed transactions only, the records of an open one (past the last stable
    offset) come with its commit: a position at the last stable offset is not behind, or every
    batch waited ALIGN_WAIT for records no fetch returns."""
    assert fetchable_end(120, 100, "read_committed") == 100
    assert fetchable_end(120, 100, "read_uncommitted") == 120  # the worker's own: every record
    assert fetchable_end(120, None, "read_committed") == 120  # a broker without it: no change
    assert fetchable_end(120, -1, "read_committed") == 120
