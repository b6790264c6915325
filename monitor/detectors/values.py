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
from typing import Any

import orjson

from monitor.errors import MonitorError

__all__ = ["DetectorValues", "StreamValues", "decode_values", "encode_values", "values_key"]


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


def decode_values(data: bytes) -> DetectorValues:
    """The message back; a malformed one raises :class:`MonitorError` (it is our own format).

    >>> decode_values(b'{"m": "m"}')
    Traceback (most recent call last):
    ...
    monitor.errors.MonitorError: detector values message is malformed: KeyError: 'v'
    """
    try:
        body: dict[str, Any] = orjson.loads(data)
        return DetectorValues(
            str(body["m"]),
            str(body["v"]),
            str(body["t"]),
            int(body["p"]),
            int(body["e"]),
            int(body["o"]),
            {
                str(name): StreamValues(
                    tuple(int(o) for o in offsets),
                    tuple(float(v) for v in vals),
                    tuple(float(t) for t in times),
                )
                for name, (offsets, vals, times) in body["s"].items()
            },
        )
    except MonitorError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MonitorError(
            f"detector values message is malformed: {type(exc).__name__}: {exc}"
        ) from exc
