"""Concept-drift detectors on outcome streams: river detectors per (model, version), with snapshots.

A :class:`ConceptDriftMonitor` feeds each outcome stream ("error", "satisfaction", "judge_score",
"latency_ms", ...) value by value to the detectors its :class:`DetectorSpec` list names, and reports
each change as a :class:`Detection` with its position in the stream and the mean before and after.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> errors = np.concatenate([rng.random(2000) < 0.1, rng.random(2000) < 0.4]).astype(float)
>>> monitor = ConceptDriftMonitor("m", "v1", [DetectorSpec("error", "adwin")])
>>> [(d.position, round(d.mean_before, 2), round(d.mean_after, 2))
...  for d in monitor.update("error", errors)]
[(2047, 0.1, 0.5)]
"""

from __future__ import annotations

import collections
import itertools
import math
import pickle
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.detectors.lazy_import import import_lazily
from monitor.detectors.snapshot_pickle import load_snapshot
from monitor.errors import ConfigError, MonitorError
from monitor.outcomes.evidence import detection_evidence

# river.drift imports KSWIN, which imports scipy.stats: most of a second of CPU at every worker start
# for a detector only the opt-in evidence set runs. It is loaded when KSWIN first tests a window.
# And its datasets import river.stream's ARFF reader, which runs scipy.io (and scipy.sparse) to
# reach scipy.io.arff: never used by the monitor.
import_lazily("scipy.stats")
import_lazily("scipy.io")
from river import drift  # after the lazy scipy.stats above
from river.drift import binary

__all__ = [
    "DEFAULT_SPECS",
    "DETECTOR_NAMES",
    "EVIDENCE_SPECS",
    "ConceptDriftMonitor",
    "Detection",
    "DetectorSpec",
    "change_point",
    "detection_delays",
]

_DETECTORS: dict[str, Callable[..., Any]] = {
    "adwin": drift.ADWIN,
    "page_hinkley": drift.PageHinkley,
    "ddm": binary.DDM,
    "eddm": binary.EDDM,
    "kswin": drift.KSWIN,
    "hddm_a": binary.HDDMA,
    "hddm_w": binary.HDDMW,
}
DETECTOR_NAMES = tuple(_DETECTORS)
_BINARY = frozenset({"ddm", "eddm", "hddm_a", "hddm_w"})  # these read a value as error / no error
RECENT_VALUES = 1000  # the change point behind a detection is looked for in the last N values
_SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class DetectorSpec:
    """One detector on one stream; ``sample_every=k`` feeds only every k-th value (slow detectors).

    >>> DetectorSpec("error", "adwn")
    Traceback (most recent call last):
    ...
    monitor.errors.ConfigError: detector: 'adwn' is not one of adwin, page_hinkley, ddm, eddm, kswin, hddm_a, hddm_w
    """

    stream: str
    detector: str
    params: Mapping[str, Any] = field(default_factory=dict)
    sample_every: int = 1

    def __post_init__(self) -> None:
        if self.detector not in _DETECTORS:
            raise ConfigError(
                f"detector: {self.detector!r} is not one of {', '.join(DETECTOR_NAMES)}"
            )
        if not isinstance(self.sample_every, int) or self.sample_every < 1:
            raise ConfigError(f"sample_every: {self.sample_every!r} must be an integer >= 1")
        self.build()  # wrong parameters fail here, not on the first value

    def build(self) -> Any:
        """A fresh river detector with these parameters."""
        try:
            return _DETECTORS[self.detector](**dict(self.params))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.detector} params {dict(self.params)!r}: {exc}") from exc


# Parameters are in each stream's units (judge_score ~ N(7, 2) on 0-10, latency lognormal with median
# 800 ms). DEFAULT_SPECS feed alerts: no alarm on stationary streams of 100 000 values over the
# seeds of ``python -m monitor.detectors.calibrate`` (docs/outcomes.md has the figures).
DEFAULT_SPECS: tuple[DetectorSpec, ...] = (
    DetectorSpec("error", "adwin"),
    DetectorSpec("satisfaction", "adwin"),
    DetectorSpec("judge_score", "page_hinkley", {"delta": 0.25, "threshold": 1000.0}),
    DetectorSpec("latency_ms", "page_hinkley", {"delta": 50.0, "threshold": 250_000.0}),
)
# Faster but noisier: they do alarm on long stationary streams. Opt-in evidence only
# (MONITOR_DETECTOR_EVIDENCE=true); the shipped alert rules do not page on them.
EVIDENCE_SPECS: tuple[DetectorSpec, ...] = (
    DetectorSpec("error", "ddm", {"warm_start": 500}),
    DetectorSpec("error", "eddm", {"warm_start": 300, "alpha": 0.9, "beta": 0.8}),
    DetectorSpec("latency_ms", "kswin", {"alpha": 0.0001, "seed": 42}, sample_every=50),
)


@dataclass(frozen=True, slots=True)
class Detection:
    """A change found by ``detector`` at ``position`` (0-based index in the stream since start)."""

    model: str
    model_version: str
    stream: str
    detector: str
    position: int
    mean_before: float | None
    mean_after: float | None
    n_before: int = 0  # values the "before" mean is over (since the previous detection)
    n_after: int = 0  # values the "after" mean is over (from the estimated change point)

    def evidence(self) -> str:
        """Rate (Wilson 95%) or mean before and after, over their counts.

        >>> Detection("m", "v", "error", "adwin", 20000, 0.06, 0.09, 19000, 1000).evidence()
        'rate 0.0600 [0.0567, 0.0635] over 19000 events -> rate 0.090 [0.074, 0.109] over 1000 events'
        """
        return detection_evidence(
            self.stream, self.mean_before, self.mean_after, self.n_before, self.n_after
        )


def change_point(values: np.ndarray) -> int:
    """Index where the after-part starts: the split maximising the standardised mean difference.

    >>> change_point(np.array([0.0, 0.0, 0.0, 1.0, 1.0]))
    3
    """
    n = len(values)
    if n < 2:
        return 0
    split = np.arange(1, n)
    excess = np.cumsum(values)[:-1] - split * (values.sum() / n)
    return int(np.argmax(np.abs(excess) / np.sqrt(split * (n - split) / n))) + 1


class _Tracker:
    """One detector with the running sums of the values it saw since its last detection."""

    def __init__(self, spec: DetectorSpec) -> None:
        self.spec = spec
        self.detector = spec.build()
        self.binary = spec.detector in _BINARY
        self.segment_sum = 0.0
        self.segment_n = 0
        self.recent: collections.deque[float] = collections.deque(maxlen=RECENT_VALUES)

    def means(self) -> tuple[float | None, float | None, int, int]:
        """Mean before and after the most likely change point among the recent values, and their counts."""
        n = min(len(self.recent), self.segment_n)
        tail = np.fromiter(itertools.islice(self.recent, len(self.recent) - n, None), float, n)
        after = tail[change_point(tail) :]
        after_sum = math.fsum(after.tolist())
        before_n = self.segment_n - len(after)
        before = (self.segment_sum - after_sum) / before_n if before_n > 0 else None
        return (
            before,
            (after_sum / len(after) if len(after) else None),
            max(before_n, 0),
            len(after),
        )

    def feed(
        self, values: np.ndarray, start: int
    ) -> list[tuple[int, float | None, float | None, int, int]]:
        """Feed the sampled values of a batch whose first value sits at stream index ``start``."""
        every = self.spec.sample_every
        first = (-start) % every
        found = []
        for j, x in enumerate(values[first::every].tolist()):
            if not math.isfinite(x):
                continue  # missing values keep their position but are not evidence
            self.detector.update(x != 0.0 if self.binary else x)
            self.segment_sum += x
            self.segment_n += 1
            self.recent.append(x)
            if self.detector.drift_detected:
                found.append((start + first + j * every, *self.means()))
                self.segment_sum, self.segment_n = 0.0, 0
        return found


class ConceptDriftMonitor:
    """Concept-drift detectors for one (model, model_version), fed stream by stream.

    Parameters
    ----------
    model, model_version
        Copied into every :class:`Detection`.
    specs
        Which detectors run on which stream; streams without a spec are counted but not checked.
    """

    def __init__(
        self, model: str, model_version: str, specs: Iterable[DetectorSpec] = DEFAULT_SPECS
    ) -> None:
        self.model = model
        self.model_version = model_version
        self.specs = tuple(specs)
        self._trackers: dict[str, list[_Tracker]] = {}
        for spec in self.specs:
            self._trackers.setdefault(spec.stream, []).append(_Tracker(spec))
        self._positions: dict[str, int] = {}

    def position(self, stream: str) -> int:
        """How many values of ``stream`` were fed so far."""
        return self._positions.get(stream, 0)

    def update(self, stream: str, values: np.ndarray) -> list[Detection]:
        """Feed ``values`` of ``stream`` in order; return the changes found, by position.

        Binary detectors (ddm, eddm, hddm_a, hddm_w) read a non-zero value as an error. NaN
        values take a position but are not fed.
        """
        batch = np.asarray(values, dtype=np.float64).reshape(-1)
        start = self.position(stream)
        self._positions[stream] = start + len(batch)
        found = [
            Detection(self.model, self.model_version, stream, tracker.spec.detector, *hit)
            for tracker in self._trackers.get(stream, ())
            for hit in tracker.feed(batch, start)
        ]
        return sorted(found, key=lambda d: d.position)

    def use_specs(self, specs: Iterable[DetectorSpec]) -> ConceptDriftMonitor:
        """Keep the trackers of ``specs`` (with their state), drop others, start missing ones fresh.

        A monitor restored from a snapshot taken under other settings runs what is configured now.
        """
        wanted = tuple(specs)
        if wanted == self.specs:
            return self
        kept = [
            t for ts in self._trackers.values() for t in ts
        ]  # specs hold dicts: compared, not hashed
        self.specs = wanted
        self._trackers = {}
        for spec in wanted:
            tracker = next((t for t in kept if t.spec == spec), None) or _Tracker(spec)
            self._trackers.setdefault(spec.stream, []).append(tracker)
        return self

    def snapshot(self) -> bytes:
        """The whole state as bytes; :meth:`restore` continues exactly where this left off."""
        return pickle.dumps((_SNAPSHOT_VERSION, self), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes) -> ConceptDriftMonitor:
        """Rebuild a monitor from :meth:`snapshot` bytes (only the classes a snapshot holds: :mod:`monitor.detectors.snapshot_pickle`)."""
        try:
            version, monitor = load_snapshot(data)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise MonitorError(f"concept-drift snapshot is unreadable: {exc}") from exc
        if version != _SNAPSHOT_VERSION or not isinstance(monitor, cls):
            raise MonitorError(
                f"concept-drift snapshot version {version!r}, expected {_SNAPSHOT_VERSION}"
            )
        return monitor


def detection_delays(
    detector: str,
    p_before: float,
    p_after: float,
    seed: int,
    switch: int = 2000,
    length: int = 6000,
) -> tuple[int | None, int]:
    """Delay of the first detection after an error-rate switch, and false alarms before it.

    The stream is Bernoulli(``p_before``) then Bernoulli(``p_after``) from position ``switch``.

    >>> detection_delays("adwin", 0.1, 0.4, seed=7)
    (47, 0)
    """
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.random(switch) < p_before, rng.random(length - switch) < p_after])
    params = next(
        (
            s.params
            for s in DEFAULT_SPECS + EVIDENCE_SPECS
            if s.stream == "error" and s.detector == detector
        ),
        {},
    )  # the default parameters when the defaults use this detector on errors
    monitor = ConceptDriftMonitor("bench", "v", [DetectorSpec("error", detector, params)])
    positions = [d.position for d in monitor.update("error", stream.astype(np.float64))]
    after = [p - switch for p in positions if p >= switch]
    return (after[0] if after else None), sum(p < switch for p in positions)


def _delay_table(detectors: tuple[str, ...] = ("adwin", "ddm", "eddm", "hddm_a")) -> str:
    seeds = range(5)
    lines = [
        "| detector | error rate | delay, seeds 0-4 | median | false alarms (5 runs) |",
        "|---|---|---|---|---|",
    ]
    for name in detectors:
        for p_after in (0.2, 0.3, 0.4):
            runs = [detection_delays(name, 0.1, p_after, seed) for seed in seeds]
            delays = [d for d, _ in runs]
            found = sorted(d for d in delays if d is not None)
            median = str(int(np.median(found))) if found else "-"
            cells = ", ".join("-" if d is None else str(d) for d in delays)
            lines.append(
                f"| {name} | 0.1 -> {p_after} | {cells} | {median} | {sum(f for _, f in runs)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print("Bernoulli error stream, switch at position 2000 of 6000, seeds 0-4 (numpy default_rng)")
    print(_delay_table())
