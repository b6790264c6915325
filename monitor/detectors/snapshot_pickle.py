"""Detector snapshots read back with only the classes a snapshot holds: never any other callable.

The detectors' state (river's detectors, their statistics, our trackers) is pickled into the
store's ``detector_state`` table. ``pickle.loads`` calls whatever a pickle names, so a row written
by anyone who can write the table (a shared ClickHouse server's users, a hole in ``/query``)
would run code in every worker that restores it. :func:`load_snapshot` resolves only the globals
in :data:`SNAPSHOT_GLOBALS`, the ones our snapshots are made of (``tests/monitor/detectors/
test_snapshot_pickle.py`` pickles every detector kind and checks the list covers them, and that a
pickle naming anything else is refused), and ``getattr`` only for the bound methods river keeps
(PageHinkley's test of its mode).

>>> import os, pickle
>>> class Payload:
...     def __reduce__(self):
...         return (os.system, ("echo owned",))
>>> load_snapshot(pickle.dumps(Payload()))
Traceback (most recent call last):
...
monitor.errors.MonitorError: detector snapshot names posix.system, which no detector snapshot holds
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from monitor.errors import MonitorError

__all__ = ["SNAPSHOT_GLOBALS", "load_snapshot"]

#: (module, name) of every class a detector snapshot holds.
SNAPSHOT_GLOBALS = frozenset(
    {
        ("collections", "deque"),
        ("monitor.detectors.concept", "ConceptDriftMonitor"),
        ("monitor.detectors.concept", "DetectorSpec"),
        ("monitor.detectors.concept", "_Tracker"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.multiarray", "_reconstruct"),  # numpy 2's arrays and scalars
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "_reconstruct"),  # numpy 1's
        ("numpy.core.multiarray", "scalar"),
        ("random", "Random"),
        ("river._river_rust.drift", "AdaptiveWindowing"),
        ("river._river_rust.stats", "RsEWMean"),
        ("river.drift.adwin", "ADWIN"),
        ("river.drift.binary.ddm", "DDM"),
        ("river.drift.binary.eddm", "EDDM"),
        ("river.drift.binary.hddm_a", "HDDMA"),
        ("river.drift.binary.hddm_w", "HDDMW"),
        ("river.drift.binary.hddm_w", "SampleInfo"),
        ("river.drift.kswin", "KSWIN"),
        ("river.drift.page_hinkley", "PageHinkley"),
        ("river.stats.ewmean", "EWMean"),
        ("river.stats.mean", "Mean"),
        ("river.stats.var", "Var"),
    }
)
# the bound methods a snapshot holds: river's PageHinkley keeps its mode's test as one
_METHODS = frozenset({"_test_both", "_test_increase", "_test_decrease"})


def _bound_method(owner: Any, name: str) -> Any:
    """``getattr`` for the methods of :data:`_METHODS` of a snapshot's own objects only."""
    if name not in _METHODS or (type(owner).__module__, type(owner).__name__) not in (
        SNAPSHOT_GLOBALS
    ):
        raise MonitorError(
            f"detector snapshot asks for {type(owner).__name__}.{name}, which no snapshot holds"
        )
    return getattr(owner, name)


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _bound_method
        if (module, name) not in SNAPSHOT_GLOBALS:
            raise MonitorError(
                f"detector snapshot names {module}.{name}, which no detector snapshot holds"
            )
        return super().find_class(module, name)


def load_snapshot(data: bytes) -> Any:
    """The object pickled in ``data``, built only from :data:`SNAPSHOT_GLOBALS`; MonitorError for
    a pickle naming anything else."""
    return _SnapshotUnpickler(io.BytesIO(data)).load()
