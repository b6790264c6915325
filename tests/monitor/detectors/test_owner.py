"""A version's detector set at its owner: the order it feeds values in does not depend on how the
detector-values topic was cut into consumed batches, so a replay after a crash raises the same
detections at the same positions."""

from __future__ import annotations

import pickle

import numpy as np
from tests_support import error_values

from monitor.detectors.concept import DetectorSpec
from monitor.detectors.owner import VersionDetectors
from monitor.detectors.values import DetectorValues, StreamValues, offset_end, value_position

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


def test_a_snapshot_of_offsets_fed_restores_as_every_value_of_them_fed() -> None:
    """A detector set saved before values had ranks (version 1 held the offsets fed): restored,
    every value of those offsets counts as fed, and the next offset's values are fed."""
    specs = [DetectorSpec("error", "adwin")]
    fresh = VersionDetectors.fresh("m", "v1", specs)
    old = pickle.dumps((1, fresh.monitor.snapshot(), {("fb", 0, 0): 41}))
    restored = VersionDetectors.restore(old, specs)
    assert restored.fed == {("fb", 0, 0): offset_end(41)}
    values = DetectorValues(
        "m",
        "v1",
        "fb",
        0,
        0,
        offset_end(42),
        {
            "error": StreamValues(
                (value_position(41, 3), value_position(42, 0)), (1.0, 0.0), (1.0, 2.0)
            )
        },
    )
    restored.feed([values])
    assert restored.monitor.position("error") == 1  # the value of offset 42 only
