"""A version's detector set at its owner: the order it feeds values in does not depend on how the
detector-values topic was cut into consumed batches, so a replay after a crash raises the same
detections at the same positions."""

from __future__ import annotations

import numpy as np
from tests_support import error_values

from monitor.detectors.concept import DetectorSpec
from monitor.detectors.owner import VersionDetectors

SPECS = [DetectorSpec("error", "adwin")]


message = error_values  # (partition, offsets, errors, first time)


def positions(found) -> list[int]:
    return [f.detection.position for f in found]


def test_a_replay_cut_into_other_batches_raises_the_same_detections_at_the_same_positions():
    rng = np.random.default_rng(5)
    quiet = (rng.random(2000) < 0.05).astype(float)
    # partition 0 is live; partition 1 lags: its values describe moments partition 0 passed already
    switch = np.concatenate([rng.random(200) < 0.05, rng.random(800) < 0.6]).astype(float)
    lagging = (rng.random(1000) < 0.05).astype(float)
    m0 = message(0, range(2000), quiet, 0.0)
    m1 = message(0, range(2000, 3000), switch, 2000.0)
    m2 = message(1, range(1000), lagging, 1500.0)

    live = VersionDetectors.fresh("m", "v1", SPECS)
    live.feed([m0])
    saved = live.snapshot()
    first = live.feed([m1])  # its detections are written; then the worker dies before saving
    assert first
    later = live.feed([m2])

    # The restarted owner reads the topic again from the older state, now with m2 already there.
    replay = VersionDetectors.restore(saved, SPECS).feed([m1, m2])
    written = sorted(set(positions(first)) | set(positions(replay)))
    assert written == positions(first) + positions(later)
