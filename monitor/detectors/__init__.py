"""Concept-drift detectors: river's ADWIN, Page-Hinkley, DDM, EDDM, KSWIN and HDDM wrapped per
(model, version) over outcome streams (error, satisfaction, judge score, latency), reporting each
change with its stream position and the mean before and after, and snapshotting to bytes.

The modules are imported by name (``monitor.detectors.concept``, ``monitor.detectors.values``):
the event path reads detector values without loading river."""
