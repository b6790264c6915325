"""The values a version's detectors receive, as they travel from the ingest workers to their owner.

Ingest workers see one source partition's share of a version's traffic. So that one detector set
sees a version's whole stream whatever the partitioning, each worker sends, per batch and
(model, version), one :class:`DetectorValues` message to the detector-values topic, its source
partitions' values merged in event-time order (:func:`merged`), keyed by (model, version): every
worker's values of a version land in one partition, read by one detector owner in arrival order.
Each value keeps its source partition and its position there (:func:`value_position`: the offset
of the event that produced it and its rank among that offset's values), so the owner feeds no value
twice when a worker re-sends a batch after a crash, and a message can be cut between any two values.

>>> values = DetectorValues("m", "v1", "monitor.feedback", 2, 0, offset_end(41),
...     {"error": StreamValues((value_position(40, 0), value_position(41, 0)), (0.0, 1.0),
...                            (1767225600.0, 1767225601.0))})
>>> decode_values(encode_values(values), now=1767225700.0) == values
True
>>> values_key("m", "v1")
b'm\\x00v1'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import msgspec
import numpy as np
import orjson

from monitor.catalogue import STREAM_BETTER
from monitor.contract.checks import WORKER_CLOCK
from monitor.contract.fields import MAX_RECORD_BYTES, MIN_EVENT_TIME
from monitor.contract.timestamps import utc_text
from monitor.errors import MonitorError

__all__ = [
    "DETECTOR_STREAMS",
    "POSITIONS_PER_OFFSET",
    "DetectorValues",
    "SourceRange",
    "StreamValues",
    "decode_values",
    "encode_values",
    "merged",
    "offset_end",
    "split_to_fit",
    "value_position",
    "values_key",
    "worsened",
]

DETECTOR_STREAMS = tuple(STREAM_BETTER)  # from the catalogue, with which way each gets better

# Values of one source offset are numbered within it, so that a message can be cut between two of
# them: one inference that completes every pending feedback of its request makes as many values as
# there were feedback events, more than a Kafka record holds. Positions stay within int64 for
# offsets below 2**43.
POSITIONS_PER_OFFSET = 1 << 20


def value_position(offset: int, rank: int) -> int:
    """The position of the ``rank``-th value of a source offset (ranks past the last share it).

    >>> value_position(3, 0) < value_position(3, 1) < offset_end(3) < value_position(4, 0)
    True
    """
    return offset * POSITIONS_PER_OFFSET + min(rank, POSITIONS_PER_OFFSET - 1)


def offset_end(offset: int) -> int:
    """The position of an offset's last possible value: a batch that ends at ``offset`` (or a
    message written before values had ranks) covers every value of it."""
    return offset * POSITIONS_PER_OFFSET + POSITIONS_PER_OFFSET - 1


def worsened(stream: str, mean_before: float | None, mean_after: float | None) -> bool:
    """Whether a detection on ``stream`` is a change for the worse (an unknown side, or an unknown
    stream, counts as worse: it may be one).

    >>> worsened("error", 0.06, 0.09), worsened("error", 0.45, 0.12), worsened("satisfaction", 0.9, 0.5)
    (True, False, True)
    >>> worsened("latency_ms", 800.0, None)
    True
    """
    better = STREAM_BETTER.get(stream)
    if better is None or mean_before is None or mean_after is None:
        return True
    return mean_after < mean_before if better == "higher" else mean_after > mean_before


@dataclass(frozen=True, slots=True)
class StreamValues:
    """One stream's values of a message, in order, each with its source position and event time, and
    (in a message of several sources) the index of its source in
    :attr:`DetectorValues.sources`; empty: every value is from the first."""

    positions: tuple[int, ...]
    values: tuple[float, ...]
    times: tuple[float, ...]
    sources: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not len(self.positions) == len(self.values) == len(self.times):
            raise MonitorError(
                f"detector values: {len(self.positions)} positions, {len(self.values)} values and "
                f"{len(self.times)} times differ in length"
            )
        if self.sources and len(self.sources) != len(self.positions):
            raise MonitorError(
                f"detector values: {len(self.sources)} sources for {len(self.positions)} values"
            )

    def source_of(self) -> tuple[int, ...]:
        """Each value's index in its message's sources."""
        return self.sources or (0,) * len(self.positions)


class SourceRange(NamedTuple):
    """A source log a message's values come from (``epoch``: its position epoch) and the last
    position the message covers there, values or not (:func:`offset_end` of the batch's last
    offset, or a cut inside it)."""

    topic: str
    partition: int
    epoch: int
    last_position: int

    @property
    def log(self) -> tuple[str, int, int]:
        """The log the positions count in: ``(topic, partition, position epoch)``."""
        return self.topic, self.partition, self.epoch


@dataclass(frozen=True, slots=True)
class DetectorValues:
    """A version's detector values from one batch: of one source partition (``epoch`` is its
    position epoch; ``last_position`` the last position it covers there, values or not), and of the
    sources in ``more`` when :func:`merged` put several in one message."""

    model: str
    model_version: str
    src_topic: str
    src_partition: int
    epoch: int
    last_position: int
    streams: Mapping[str, StreamValues]
    more: tuple[SourceRange, ...] = ()

    @property
    def source(self) -> tuple[str, int, int]:
        """The log the first source's positions count in: ``(topic, partition, position epoch)``."""
        return self.src_topic, self.src_partition, self.epoch

    @property
    def sources(self) -> tuple[SourceRange, ...]:
        """Every source, in the order :attr:`StreamValues.sources` counts them."""
        first = SourceRange(self.src_topic, self.src_partition, self.epoch, self.last_position)
        return (first, *self.more)


def merged(batch: Sequence[DetectorValues]) -> list[DetectorValues]:
    """One message per (model, version) of a batch's messages, each stream's values of all its
    sources in event-time order (values of equal times in the order they came).

    A backlog's batch holds each source partition's whole stretch; sent one partition after another
    a version's detector met the seams where they join, and took them for changes (an hour of two
    partitions with one switch at minute 30 gave two detections for the worse and one for the
    better). The owner still feeds each value once: every value keeps its source and position.

    >>> def one(partition, times):
    ...     n = len(times)
    ...     return DetectorValues("m", "v1", "fb", partition, 0, 100 + partition,
    ...         {"error": StreamValues(tuple(range(n)), (float(partition),) * n, tuple(times))})
    >>> [message] = merged([one(0, [10.0, 70.0, 130.0]), one(1, [20.0, 80.0])])
    >>> message.streams["error"].values, message.streams["error"].sources
    ((0.0, 1.0, 0.0, 1.0, 0.0), (0, 1, 0, 1, 0))
    >>> [(s.partition, s.last_position) for s in message.sources]
    [(0, 100), (1, 101)]
    """
    by_version: dict[tuple[str, str], list[DetectorValues]] = defaultdict(list)
    for message in batch:
        by_version[(message.model, message.model_version)].append(message)
    return [
        parts[0] if len(parts) == 1 and _in_time_order(parts[0]) else _merge(parts)
        for parts in by_version.values()
    ]


def _in_time_order(message: DetectorValues) -> bool:
    return all(
        bool((np.diff(np.asarray(s.times, np.float64)) >= 0).all())
        for s in message.streams.values()
    )


def _merge(parts: Sequence[DetectorValues]) -> DetectorValues:
    sources: list[SourceRange] = []
    columns: dict[str, list[tuple[StreamValues, int]]] = defaultdict(list)
    for part in parts:
        for name, stream in part.streams.items():
            columns[name].append((stream, len(sources)))
        sources += part.sources
    streams = {}
    for name, pieces in columns.items():
        times = np.concatenate([np.asarray(s.times, np.float64) for s, _ in pieces])
        order = np.argsort(times, kind="stable")
        positions = np.concatenate([np.asarray(s.positions, np.int64) for s, _ in pieces])
        values = np.concatenate([np.asarray(s.values, np.float64) for s, _ in pieces])
        index = np.concatenate([np.asarray(s.source_of(), np.int64) + base for s, base in pieces])
        streams[name] = StreamValues(
            tuple(positions[order].tolist()),
            tuple(values[order].tolist()),
            tuple(times[order].tolist()),
            tuple(index[order].tolist()) if len(sources) > 1 else (),
        )
    first, *more = sources
    return DetectorValues(
        parts[0].model, parts[0].model_version, *first, streams=streams, more=tuple(more)
    )


def split_to_fit(
    message: DetectorValues, max_bytes: int = MAX_RECORD_BYTES
) -> list[tuple[DetectorValues, bytes]]:
    """The message as parts whose encoding fits ``max_bytes``, in the order to send them, each with
    its encoding: a backlog's batch of a version can hold more values than a Kafka record takes
    (150,000 feedback events made 1.95 MB), which the broker refuses and a batch would retry for ever.

    A part holds, of every source, all the values up to a position (the rest of the source in
    later parts), and says that position as its last: the owner, which feeds a source's values past
    the last position it fed, feeds each value once, however many parts it took in before a
    worker's crash made it send the batch again. Parts are cut at a time, so each stream keeps its
    time order but for the values a position later than the cut and a time earlier (or the
    reverse). Values of one offset have positions of their own, so even the values of one event
    (an inference that completed 60,000 pending joins) are cut into parts.

    >>> values = DetectorValues("m", "v1", "fb", 0, 0, 9,
    ...     {"error": StreamValues(tuple(range(10)), (0.0,) * 10, tuple(float(t) for t in range(10)))})
    >>> parts = split_to_fit(values, 130)
    >>> [(p.last_position, p.streams["error"].positions) for p, _ in parts]
    [(4, (0, 1, 2, 3, 4)), (9, (5, 6, 7, 8, 9))]
    """
    encoded = encode_values(message)
    if len(encoded) <= max_bytes:
        return [(message, encoded)]
    halves = _halves(message)
    if halves is None:
        return [(message, encoded)]
    return [part for half in halves for part in split_to_fit(half, max_bytes)]


def _halves(message: DetectorValues) -> tuple[DetectorValues, DetectorValues] | None:
    """The message cut in two at about its median time (else its sources' median positions, else
    its first sources apart from the others): the first part every value up to a cut position of
    each source, or None when it cannot be cut (every source's values at one position)."""
    sources = message.sources
    columns = [
        (
            np.asarray(s.positions, np.int64),
            np.asarray(s.times, np.float64),
            np.asarray(s.source_of()),
        )
        for s in message.streams.values()
    ]
    positions = np.concatenate([c[0] for c in columns])
    times = np.concatenate([c[1] for c in columns])
    owner = np.concatenate([c[2] for c in columns])
    present = np.unique(owner)
    for early in (
        times <= np.median(times),
        positions <= _median_positions(positions, owner, len(sources)),
        owner <= present[(len(present) - 1) // 2],
    ):
        cuts = np.array(
            [
                positions[(owner == k) & early].max(initial=-1)
                if ((owner == k) & early).any()
                else positions[owner == k].min(initial=source.last_position + 1) - 1
                for k, source in enumerate(sources)
            ],
            np.int64,
        )
        first = positions <= cuts[owner]
        if first.any() and not first.all():
            return _part(message, cuts.tolist(), first=True), _part(
                message, cuts.tolist(), first=False
            )
    return None


def _median_positions(positions: np.ndarray, owner: np.ndarray, n_sources: int) -> np.ndarray:
    """Each value's source's lower median position below its largest (every source cut in two)."""
    medians = np.full(n_sources, np.iinfo(np.int64).max)
    for k in range(n_sources):
        distinct = np.unique(positions[owner == k])
        if len(distinct) > 1:
            medians[k] = distinct[(len(distinct) - 1) // 2]
    return medians[owner] if len(owner) else medians[:0]


def _part(message: DetectorValues, cuts: list[int], *, first: bool) -> DetectorValues:
    """The values up to each source's cut (``first``), or after it, with the cut as the first
    part's last positions."""
    sources = [
        source._replace(last_position=min(cut, source.last_position)) if first else source
        for source, cut in zip(message.sources, cuts)
    ]
    streams = {}
    for name, stream in message.streams.items():
        owner = stream.source_of()
        keep = [
            i
            for i, (position, k) in enumerate(zip(stream.positions, owner))
            if (position <= cuts[k]) == first
        ]
        if keep:
            streams[name] = StreamValues(
                tuple(stream.positions[i] for i in keep),
                tuple(stream.values[i] for i in keep),
                tuple(stream.times[i] for i in keep),
                tuple(stream.sources[i] for i in keep) if stream.sources else (),
            )
    head, *more = sources
    return DetectorValues(
        message.model, message.model_version, *head, streams=streams, more=tuple(more)
    )


def values_key(model: str, model_version: str) -> bytes:
    """The message key: every value of one version goes to one partition."""
    return f"{model}\x00{model_version}".encode()


# The wire's "f": 1 says "o", "x" and the streams hold positions; a message without it (written
# before values had ranks) holds source offsets, read as each offset's end. Any other "f" is a
# format this code does not know (a newer monitor's): refused, never read as offsets.
_OFFSETS, _POSITIONS = 0, 1


def encode_values(values: DetectorValues) -> bytes:
    """Compact columnar JSON."""
    body = {
        "m": values.model,
        "v": values.model_version,
        "t": values.src_topic,
        "p": values.src_partition,
        "e": values.epoch,
        "o": values.last_position,
        "s": {k: [s.positions, s.values, s.times] for k, s in values.streams.items()},
        "f": _POSITIONS,
    }
    if values.more:  # a merged message: its further sources, and each value's source
        body["x"] = [tuple(source) for source in values.more]
        body["k"] = {k: s.sources for k, s in values.streams.items() if s.sources}
    return orjson.dumps(body)


class _ValuesWire(msgspec.Struct, gc=False):
    """The JSON of :func:`encode_values`, its types checked while decoding."""

    m: str
    v: str
    t: str
    p: int
    e: int
    o: int
    s: dict[str, tuple[list[int], list[float], list[float]]]
    x: list[tuple[str, int, int, int]] = []
    k: dict[str, list[int]] = {}
    f: int = _OFFSETS


_WIRE = msgspec.json.Decoder(_ValuesWire)


def decode_values(
    data: bytes,
    *,
    now: float,
    max_future_skew: float = 300.0,
    min_event_time: float = MIN_EVENT_TIME,
) -> DetectorValues:
    """The message back; a malformed one raises :class:`MonitorError` (it is our own format).

    Every value comes from an event the contract accepted, so its time is an event time: not before
    ``min_event_time``, at most ``max_future_skew`` ahead of ``now`` (as in
    :func:`monitor.contract.events.validate_event`); a time outside is refused, not stored.

    >>> decode_values(b'{"m": "m"}', now=1767225600.0)
    Traceback (most recent call last):
    ...
    monitor.errors.MonitorError: detector values message is malformed: ValidationError: Object missing required field `v`

    A message written before values had ranks holds offsets: each is read as the offset's end.

    >>> old = decode_values(b'{"m":"m","v":"v1","t":"fb","p":0,"e":0,"o":9,"s":{"error":[[9],[1.0],[1767225600.0]]}}',
    ...     now=1767225600.0)
    >>> old.last_position == old.streams["error"].positions[0] == offset_end(9)
    True

    A format it does not know is refused, not guessed at:

    >>> decode_values(b'{"m":"m","v":"v1","t":"fb","p":0,"e":0,"o":9,"s":{},"f":2}', now=1767225600.0)
    Traceback (most recent call last):
    ...
    monitor.errors.MonitorError: detector values message is malformed: ValueError: format "f": 2 is not one this monitor reads (0: offsets, 1: positions); a newer monitor wrote it
    >>> decode_values(b'{"m":"m","v":"v1","t":"fb","p":0,"e":0,"o":9,"s":{"error":[[9],[1.0],[1e300]]},"f":1}',
    ...     now=1767225600.0)
    Traceback (most recent call last):
    ...
    monitor.errors.MonitorError: detector values message is malformed: ValueError: error: a value's time 1e+300 is no event time: more than 300 s ahead of the worker clock (2026-01-01 00:00:00)
    """
    try:
        body = _WIRE.decode(data)
        if body.f not in (_OFFSETS, _POSITIONS):
            raise ValueError(
                f'format "f": {body.f} is not one this monitor reads '
                f"({_OFFSETS}: offsets, {_POSITIONS}: positions); a newer monitor wrote it"
            )
        position = (lambda p: p) if body.f == _POSITIONS else offset_end
        decoded = DetectorValues(
            body.m,
            body.v,
            body.t,
            body.p,
            body.e,
            position(body.o),
            {
                name: StreamValues(
                    tuple(map(position, positions)),
                    tuple(vals),
                    tuple(times),
                    tuple(body.k.get(name, ())),
                )
                for name, (positions, vals, times) in body.s.items()
            },
            tuple(SourceRange(t, p, e, position(last)) for t, p, e, last in body.x),
        )
        _check(decoded)
        _check_times(decoded, now, max_future_skew, min_event_time)
        return decoded
    except (
        MonitorError,  # streams of unequal lengths
        msgspec.DecodeError,  # malformed JSON, or a member missing or of the wrong type
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
    ) as exc:
        raise MonitorError(
            f"detector values message is malformed: {type(exc).__name__}: {exc}"
        ) from exc


def _check(values: DetectorValues) -> None:
    """What the owner relies on: known streams, positions that are not negative, finite values and
    times."""
    unknown = set(values.streams) - set(DETECTOR_STREAMS)
    if unknown:
        raise ValueError(f"unknown stream(s) {sorted(unknown)[:5]}")
    if any(min(s.partition, s.epoch, s.last_position + 1) < 0 for s in values.sources):
        raise ValueError("negative partition, epoch or position")
    for name, stream in values.streams.items():
        if stream.positions and min(stream.positions) < 0:
            raise ValueError(f"{name}: negative position")
        if stream.sources and not 0 <= min(stream.sources) <= max(stream.sources) < len(
            values.sources
        ):
            raise ValueError(f"{name}: a value's source is not one of the message's")
        if not (np.isfinite(stream.values).all() and np.isfinite(stream.times).all()):
            raise ValueError(f"{name}: a value or time is not finite")


def _check_times(
    values: DetectorValues, now: float, max_future_skew: float, min_event_time: float
) -> None:
    """Times an event the contract accepted can have (the owner writes a detection's as a date)."""
    for name, stream in values.streams.items():
        times = np.asarray(stream.times, np.float64)
        if len(times) and times.min() < min_event_time:
            raise ValueError(
                f"{name}: a value's time {utc_text(float(times.min()))} is no event time: before "
                f"{utc_text(min_event_time)}, the earliest the contract accepts"
            )
        if len(times) and times.max() > now + max_future_skew:
            raise ValueError(
                f"{name}: a value's time {utc_text(float(times.max()))} is no event time: more than "
                f"{max_future_skew:.0f} s ahead of {WORKER_CLOCK} ({utc_text(now)})"
            )
