"""The values a version's detectors receive, as they travel from the ingest workers to their owner.

Ingest workers see one source partition's share of a version's traffic. So that one detector set
sees a version's whole stream whatever the partitioning, each worker sends, per batch, source
partition and (model, version), one :class:`DetectorValues` message to the detector-values topic,
keyed by (model, version): every worker's values of a version land in one partition, read by one
detector owner in arrival order. Each value keeps the source offset of the event that produced it,
so the owner feeds no value twice when a worker re-sends a batch after a crash.

>>> values = DetectorValues("m", "v1", "monitor.feedback", 2, 0, 41,
...     {"error": StreamValues((40, 41), (0.0, 1.0), (100.0, 101.0))})
>>> decode_values(encode_values(values)) == values
True
>>> values_key("m", "v1")
b'm\\x00v1'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
import numpy as np
import orjson

from monitor.catalogue import STREAM_BETTER
from monitor.errors import MonitorError

__all__ = [
    "DETECTOR_STREAMS",
    "DetectorValues",
    "StreamValues",
    "decode_values",
    "encode_values",
    "values_key",
    "worsened",
]

DETECTOR_STREAMS = tuple(STREAM_BETTER)  # from the catalogue, with which way each gets better


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
    """One stream's values of a message, in order, each with its source offset and event time."""

    offsets: tuple[int, ...]
    values: tuple[float, ...]
    times: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.offsets) == len(self.values) == len(self.times):
            raise MonitorError(
                f"detector values: {len(self.offsets)} offsets, {len(self.values)} values and "
                f"{len(self.times)} times differ in length"
            )


@dataclass(frozen=True, slots=True)
class DetectorValues:
    """A version's detector values from one batch of one source partition (``epoch`` is its
    position epoch; ``last_offset`` the batch's last offset there, values or not)."""

    model: str
    model_version: str
    src_topic: str
    src_partition: int
    epoch: int
    last_offset: int
    streams: Mapping[str, StreamValues]

    @property
    def source(self) -> tuple[str, int, int]:
        """The log the offsets count in: ``(topic, partition, position epoch)``."""
        return self.src_topic, self.src_partition, self.epoch


def values_key(model: str, model_version: str) -> bytes:
    """The message key: every value of one version goes to one partition."""
    return f"{model}\x00{model_version}".encode()


def encode_values(values: DetectorValues) -> bytes:
    """Compact columnar JSON."""
    return orjson.dumps(
        {
            "m": values.model,
            "v": values.model_version,
            "t": values.src_topic,
            "p": values.src_partition,
            "e": values.epoch,
            "o": values.last_offset,
            "s": {k: [s.offsets, s.values, s.times] for k, s in values.streams.items()},
        }
    )


class _ValuesWire(msgspec.Struct, gc=False):
    """The JSON of :func:`encode_values`, its types checked while decoding."""

    m: str
    v: str
    t: str
    p: int
    e: int
    o: int
    s: dict[str, tuple[list[int], list[float], list[float]]]


_WIRE = msgspec.json.Decoder(_ValuesWire)


def decode_values(data: bytes) -> DetectorValues:
    """The message back; a malformed one raises :class:`MonitorError` (it is our own format).

    >>> decode_values(b'{"m": "m"}')
    Traceback (most recent call last):
    ...
    monitor.errors.MonitorError: detector values message is malformed: ValidationError: Object missing required field `v`
    """
    try:
        body = _WIRE.decode(data)
        decoded = DetectorValues(
            body.m,
            body.v,
            body.t,
            body.p,
            body.e,
            body.o,
            {
                name: StreamValues(tuple(offsets), tuple(vals), tuple(times))
                for name, (offsets, vals, times) in body.s.items()
            },
        )
        _check(decoded)
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
    """What the owner relies on: known streams, positions that are offsets, finite values and times."""
    unknown = set(values.streams) - set(DETECTOR_STREAMS)
    if unknown:
        raise ValueError(f"unknown stream(s) {sorted(unknown)[:5]}")
    if min(values.src_partition, values.epoch, values.last_offset + 1) < 0:
        raise ValueError("negative partition, epoch or offset")
    for name, stream in values.streams.items():
        if stream.offsets and min(stream.offsets) < 0:
            raise ValueError(f"{name}: negative offset")
        if not (np.isfinite(stream.values).all() and np.isfinite(stream.times).all()):
            raise ValueError(f"{name}: a value or time is not finite")
