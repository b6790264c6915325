"""Forged messages on the detector-values topic, through the real broker to a real worker.

The topic is internal, but anyone with write access to the broker can write to it. A well-formed
message the detector agent cannot use must be skipped, logged and counted, and the other versions'
values of the same consumed batch fed: ten versions' values (20 each) are published in one go with
forged messages between them.
"""

from __future__ import annotations

import time

import orjson
from tests_support import publish_raw, reader_for, wait_until

from monitor.adapters.worker_process import WorkerProcess
from monitor.detectors.concept import DEFAULT_SPECS
from monitor.detectors.owner import VersionDetectors
from monitor.detectors.values import (
    DetectorValues,
    StreamValues,
    encode_values,
    offset_end,
    value_position,
)

VERSIONS, PER_VERSION = 10, 20
STATES = (
    "SELECT model_version, argMax(state, last_offset) FROM monitor.detector_state "
    "WHERE model = 'm' GROUP BY model_version"
)


def version_values(
    source: str, version: str, first: int, errors: list[float], times: list[float], stream="error"
) -> bytes:
    """A detector-values message of model m: one value per source offset from ``first``."""
    offsets = range(first, first + len(errors))
    return encode_values(
        DetectorValues(
            "m",
            version,
            source,
            0,
            0,
            offset_end(offsets[-1]),
            {
                stream: StreamValues(
                    tuple(value_position(o, 0) for o in offsets), tuple(errors), tuple(times)
                )
            },
        )
    )


def fed(worker: WorkerProcess) -> dict[str, int]:
    """Values fed per version of model m, read from the detector states the worker saved."""
    rows = reader_for(worker).query(STATES).rows
    return {
        version: VersionDetectors.restore(bytes.fromhex(state), DEFAULT_SPECS).monitor.position(
            "error"
        )
        for version, state in rows
    }


def legit_values(source: str, now: float) -> list[bytes]:
    """Ten versions' error values, 20 each, version i at source offsets 20i to 20i+19."""
    return [
        version_values(
            source,
            f"v{i}",
            i * PER_VERSION,
            [float(j % 2) for j in range(PER_VERSION)],
            [now - 60 + j for j in range(PER_VERSION)],
        )
        for i in range(VERSIONS)
    ]


def publish(deployment, messages: list[bytes]) -> None:
    """``messages`` in one go to partition 0 of the detector-values topic (one consumed batch).
    The source offsets they name exist: 300 feedback events without an inference (they join nothing
    and make no values) are published first."""
    publish_raw(
        deployment.broker.bootstrap,
        deployment.topics["feedback"],
        [
            orjson.dumps({"request_id": f"alone-{i}", "timestamp": time.time(), "rating": 3})
            for i in range(300)
        ],
    )
    publish_raw(deployment.broker.bootstrap, f"{deployment.prefix}-app.detector-values", messages)


def rejected(worker: WorkerProcess, reason: str) -> float:
    return worker.metric(
        "monitor_events_rejected_total", {"kind": "detector_values", "reason": reason}
    )


def wait_for_every_version(worker: WorkerProcess, reason: str, forged: int) -> None:
    expected = {f"v{i}": PER_VERSION for i in range(VERSIONS)}
    wait_until(
        lambda: fed(worker) == expected and rejected(worker, reason) == forged,
        timeout=30,
        what=f"every version's values fed and the {forged} forged messages counted",
        state=lambda: (fed(worker), rejected(worker, reason)),
    )
    assert worker.alive()
    assert b"detector batch skipped" not in worker.log_path.read_bytes()


def test_values_at_times_no_event_has_are_refused_and_the_rest_of_the_batch_is_fed(
    deployment, start_worker
):
    """Before: a message with value times of 1e300 passed decoding and raised a detection, whose
    write failed (`OverflowError: timestamp out of range for platform time_t`, not retryable); after
    3 failures the whole batch was skipped, and the versions beside it lost their values."""
    worker = start_worker()
    source, now = deployment.topics["feedback"], time.time()
    switch = [0.0] * 100 + [1.0] * 100  # raises a detection wherever it is fed
    forged = [
        version_values(source, "forged0", 0, switch, [1e300] * len(switch)),  # no calendar's
        version_values(source, "forged1", 0, switch, [now + 3600] * len(switch)),  # an hour on
        version_values(source, "forged2", 0, switch, [86_400.0] * len(switch)),  # 1970
    ]
    legit = legit_values(source, now)
    publish(
        deployment,
        [legit[0], forged[0], *legit[1:4], forged[1], *legit[4:8], forged[2], *legit[8:]],
    )
    wait_for_every_version(worker, "malformed", len(forged))
    log = worker.log_path.read_text()
    assert "a value's time 1e+300 is no event time" in log, log[-3000:]


def test_a_message_whose_values_cannot_be_fed_is_skipped_alone(deployment, start_worker):
    """Values finite but so large that the detectors' sums overflow (`OverflowError: intermediate
    overflow in fsum` while feeding): before, the whole batch was retried 3 times and skipped. Now
    the message is skipped alone: the other versions' values and, for v3, its own other message."""
    worker = start_worker()
    source, now = deployment.topics["feedback"], time.time()
    huge = [1e308] * 100 + [-1e308] * 100
    times = [now - 60 + j / 10 for j in range(len(huge))]
    forged = [
        version_values(source, f"huge{k}", 0, huge, times, stream="latency_ms") for k in range(2)
    ]
    # v3's own, from its first offset on: had it been fed, v3 would skip its real values
    forged.append(version_values(source, "v3", 60, huge, times, stream="latency_ms"))
    legit = legit_values(source, now)
    publish(
        deployment,
        [legit[0], forged[0], *legit[1:3], forged[2], *legit[3:8], forged[1], *legit[8:]],
    )
    wait_for_every_version(worker, "internal_error", len(forged))
