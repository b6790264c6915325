"""A backlog reaches the detectors in event-time order, not one partition's stretch after another's.

Forty minutes of answers and their feedback wait in two partitions before the worker starts; the
error rate rises from 0.05 to 0.3 halfway, in both partitions at once. aiokafka hands out a fetch
one partition after another, so batches cut in that order fed the version's detector partition 0's
forty minutes, then partition 1's: ADWIN found the switch, then partition 1's low rate after
partition 0's high one (a change for the better), then the switch again. Cut across partitions in
record-timestamp order, and each batch's values merged in event-time order, it finds one change,
for the worse, at the switch.
"""

from __future__ import annotations

import time

import numpy as np
from tests_support import inference, reader_for, wait_until

from monitor.detectors.values import worsened
from tests.e2e.test_outcomes import publish, store_sum

N_REQUESTS = 2400
SPAN = 2400.0  # seconds of event time: one request a second
DETECTIONS = (
    "SELECT toFloat64(event_time), mean_before, mean_after FROM monitor.detector_events FINAL "
    "WHERE stream = 'error' AND detector = 'adwin' ORDER BY position"
)


def test_a_backlog_of_two_partitions_gives_one_detection_of_the_switch(deployment, start_worker):
    rng = np.random.default_rng(29)
    start = time.time() - SPAN - 120
    switch_at = start + SPAN / 2
    inferences, feedback = [], []
    for i in range(N_REQUESTS):
        at = start + SPAN * i / N_REQUESTS
        prediction = str(rng.choice(["a", "b"]))
        wrong = rng.random() < (0.05 if at < switch_at else 0.3)
        inferences.append(inference(f"q{i}", at, prediction=prediction))
        feedback.append(
            {
                "request_id": f"q{i}",
                "timestamp": at + 2,
                "label": {"a": "b", "b": "a"}[prediction] if wrong else prediction,
            }
        )
    publish(deployment, "inference", inferences, batch_size=10)
    publish(deployment, "feedback", feedback, batch_size=10)

    # 480 messages waiting: batches of 20 make the backlog two dozen batches
    worker = start_worker(MONITOR_BATCH_SIZE="20")
    wait_until(
        lambda: store_sum(worker, "accuracy") == N_REQUESTS, timeout=90, what="every outcome"
    )
    reader = reader_for(worker)
    wait_until(  # the detector agent runs a hop behind (a fixed 2 s was too short under load)
        lambda: bool(reader.query(DETECTIONS).rows), timeout=30, what="the switch's detection"
    )
    time.sleep(2.0)  # any further detection of the same backlog would be written by now
    detections = reader.query(DETECTIONS).rows
    assert all(worsened("error", before, after) for _, before, after in detections), detections
    assert len(detections) == 1, detections
    assert switch_at <= detections[0][0] <= switch_at + 600, (detections, switch_at)
