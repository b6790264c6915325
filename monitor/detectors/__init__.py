"""Concept-drift detectors: river's ADWIN, Page-Hinkley, DDM, EDDM, KSWIN and HDDM wrapped per
(model, version) over outcome streams (error, satisfaction, judge score, latency), reporting each
change with its stream position and the mean before and after, and snapshotting to bytes."""

from __future__ import annotations

from monitor.detectors.concept import (
    DEFAULT_SPECS,
    DETECTOR_NAMES,
    ConceptDriftMonitor,
    Detection,
    DetectorSpec,
)

__all__ = ["DEFAULT_SPECS", "DETECTOR_NAMES", "ConceptDriftMonitor", "Detection", "DetectorSpec"]
