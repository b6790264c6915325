"""The detector owner on embedded ClickHouse across a crash between a batch's detection write and
its state save: the restarted owner reads the topic again from the older state, cut into other
batches, and writes the same detections at the same positions (none lost, none repeated)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
from tests_support import error_values

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.outcome_store import OutcomeStore
from monitor.detectors.concept import ConceptDriftMonitor, DetectorSpec
from monitor.services.detectors import DetectorOwner, ValuesMessage

NOW = 1_795_000_000.0
SPECS = [DetectorSpec("error", "adwin")]
DETECTIONS = (
    "SELECT position, mean_before, mean_after FROM {db}.detector_events FINAL ORDER BY position"
)


def message(offset: int, partition: int, first: int, errors: np.ndarray, time: float):
    """Detector-values message ``offset``: error values of source ``partition`` from offset ``first``."""
    return ValuesMessage(
        0, offset, error_values(partition, range(first, first + len(errors)), errors, time)
    )


def test_a_crash_between_detections_and_state_repeats_and_loses_no_detection(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    outcomes = OutcomeStore(store)
    rng = np.random.default_rng(5)
    quiet = rng.random(2000) < 0.05
    switch = np.concatenate([rng.random(200) < 0.05, rng.random(800) < 0.6])
    lagging = rng.random(1000) < 0.05  # source 1 is behind: its times are earlier than source 0's
    m0 = message(0, 0, 0, quiet, 0.0)
    m1 = message(1, 0, 2000, switch, 2000.0)
    m2 = message(2, 1, 0, lagging, 1500.0)

    live = DetectorOwner(outcomes, "values", specs=SPECS)
    live.process([m0], NOW)
    older = outcomes.load_version_states("values", [("m", "v1")])[("m", "v1")]
    assert live.process([m1], NOW + 1).detections  # written, and then the worker dies...
    # ... before its state was saved: the newest saved state is the one before m1 again.
    outcomes.save_states([("values", 0, "m", "v1", 0, older[0] + 10_000, older[1])])

    restarted = DetectorOwner(outcomes, "values", specs=SPECS)
    restarted.process([m1, m2], NOW + 2)  # the topic read again, in one batch this time

    errors = np.concatenate([quiet, switch, lagging]).astype(float)
    expected = ConceptDriftMonitor("m", "v1", SPECS).update("error", errors)
    rows = store.query(DETECTIONS.format(db=store.db)).rows
    assert expected and [tuple(r) for r in rows] == [
        (d.position, d.mean_before, d.mean_after) for d in expected
    ]


def test_a_message_whose_detection_cannot_be_written_is_skipped_and_the_rest_is_written(chdb_dir):
    """A detection at a time no date holds fails its write (OverflowError, not an outage): the
    message is skipped alone; the other versions' values and detections of the batch are saved,
    and the version's other message too. Before, the whole batch failed together."""
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    outcomes = OutcomeStore(store)
    switch = np.concatenate([np.zeros(200), np.ones(200)])

    def version(name: str, offset: int, first: int, time: float) -> ValuesMessage:
        values = error_values(0, range(first, first + len(switch)), switch, time)
        return ValuesMessage(0, offset, replace(values, model_version=name))

    unwritable = version("v2", 1, 0, 1e300)
    messages = [
        version("v1", 0, 0, NOW),
        unwritable,
        version("v2", 2, 400, NOW),
        version("v3", 3, 0, NOW),
    ]
    owner = DetectorOwner(outcomes, "values", specs=SPECS)
    batch = owner.process_isolating(messages, NOW)

    assert [(m, type(e)) for m, e in batch.skipped] == [(unwritable, OverflowError)]
    assert batch.values == 3 * len(switch)
    found = store.query(
        f"SELECT model_version, count() FROM {store.db}.detector_events FINAL GROUP BY model_version ORDER BY model_version"
    ).rows
    assert [tuple(r) for r in found] == [("v1", 1), ("v2", 1), ("v3", 1)]
    saved = outcomes.load_version_states("values", [("m", "v1"), ("m", "v2"), ("m", "v3")])
    assert sorted(saved) == [("m", "v1"), ("m", "v2"), ("m", "v3")]
