"""Detector snapshots are read back with only the classes a snapshot holds
(:mod:`monitor.detectors.snapshot_pickle`): every detector kind round-trips and goes on exactly,
and a row of ``detector_state`` that names anything else runs nothing (before: ``pickle.loads``,
so a row written into the store ran code in the worker that restored it)."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from monitor.detectors.concept import (
    DETECTOR_NAMES,
    ConceptDriftMonitor,
    DetectorSpec,
)
from monitor.detectors.owner import VersionDetectors
from monitor.errors import MonitorError

SPECS = [  # KSWIN seeded, as the shipped evidence set runs it
    DetectorSpec(stream, name, {"seed": 42} if name == "kswin" else {})
    for stream in ("error", "latency_ms")
    for name in DETECTOR_NAMES
]


def streams(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    error = (rng.random(3000) < np.r_[np.full(1500, 0.05), np.full(1500, 0.5)]).astype(float)
    latency = np.r_[rng.lognormal(6.0, 0.3, 1500), rng.lognormal(7.0, 0.3, 1500)]
    return {"error": error, "latency_ms": latency}


def test_every_detector_kind_goes_on_exactly_from_its_snapshot() -> None:
    whole = VersionDetectors(ConceptDriftMonitor("m", "v", SPECS))
    parts = VersionDetectors(ConceptDriftMonitor("m", "v", SPECS))
    expected, got = [], []
    for name, values in streams(4).items():
        for lo in range(0, len(values), 700):
            expected += whole.monitor.update(name, values[lo : lo + 700])
            parts = VersionDetectors.restore(parts.snapshot(), SPECS)
            got += parts.monitor.update(name, values[lo : lo + 700])
    assert got == expected
    assert {d.detector for d in expected} >= {"adwin", "page_hinkley", "ddm"}


class RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ReachesForSubclasses:
    """``getattr`` of a snapshot class's type: the way out towards every class in the process."""

    def __reduce__(self):
        return (getattr, (collections.deque, "__subclasses__"))


@pytest.mark.parametrize("payload", ["command", "getattr"])
def test_a_row_naming_anything_else_runs_nothing(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "ran"
    evil = RunsACommand(marker) if payload == "command" else ReachesForSubclasses()
    snapshot = ConceptDriftMonitor("m", "v", SPECS[:1]).snapshot()
    forged = pickle.dumps((2, pickle.dumps((1, evil)), {}))
    with pytest.raises(MonitorError, match="which no (detector )?snapshot holds"):
        VersionDetectors.restore(forged, SPECS[:1])
    with pytest.raises(MonitorError, match="which no (detector )?snapshot holds"):
        ConceptDriftMonitor.restore(pickle.dumps((1, evil)))
    assert not marker.exists()
    assert ConceptDriftMonitor.restore(snapshot).model == "m"  # a real one still reads
