"""AlertService on embedded ClickHouse: windows without any event are judged for the versions
expected in them, so traffic stopping pages and traffic returning resolves."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import numpy as np

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.alerts.rules import AlertRule, default_rules
from monitor.folding.partials import fold_counts
from monitor.services.alerts import AlertService

W = 60


def write_events(
    store: ClickHouseStore, offset: int, window: int, n: int, version: str = "v1"
) -> None:
    starts = np.full(n, float(window * W))
    partials = fold_counts(
        starts, ["m"] * n, [version] * n, starts + 1.0, "inference_events", window_seconds=W
    )
    store.write_batch({("t", 0): (offset, float(window * W + W - 1), partials)})


def test_traffic_stopping_fires_on_the_first_empty_window_and_returning_resolves(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    for w in range(6):
        write_events(store, w, w, 200)
    store.refresh_metric_windows(0.0)
    rules = tuple(r for r in default_rules() if r.signal == "traffic")
    service = AlertService(store, rules, allowed_lateness=0.0, window_seconds=W)
    assert service.run(watermark=6 * W) == []  # windows 0-5 closed, traffic steady
    # nothing more arrives; the closing watermark moves on (the wall clock, once idle)
    [fired] = service.run(watermark=8 * W)
    assert (fired.status, fired.recommended_action, fired.starts_at) == (
        "firing",
        "check_serving_path",
        7.0 * W,
    )
    assert fired.evidence["traffic"]["observed_events"] == 0.0
    assert fired.evidence["traffic"]["expected_events"] == 200.0
    assert service.run(watermark=40 * W) == []  # still nothing: one incident, no repeat
    stored = store.query(f"SELECT status, recommended_action FROM {store.db}.alerts").rows
    assert stored == [("firing", "check_serving_path")]

    write_events(
        store, 6, 41, 150
    )  # traffic returns, long after the version stopped being expected
    store.refresh_metric_windows(0.0)
    [resolved] = service.run(watermark=42 * W)
    assert (resolved.status, resolved.ends_at) == ("resolved", 42.0 * W)


def test_without_the_window_length_only_windows_with_rows_are_judged(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    for w in range(3):
        write_events(store, w, w, 200)
    store.refresh_metric_windows(0.0)
    service = AlertService(store, default_rules(), allowed_lateness=0.0)
    assert service.run(watermark=20 * W) == []


def test_write_clock_is_the_newest_event_time_and_the_time_since_the_last_write(chdb_dir):
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    assert store.write_clock() == (0.0, None)  # never written: nothing is idle
    write_events(store, 0, 3, 10)
    write_events(store, 1, 1, 10)
    watermark, idle = store.write_clock()
    assert watermark == 4 * W - 1  # the newest of the partitions' watermarks
    assert 0.0 <= idle < 60.0
    assert store.write_clock("t")[0] == 4 * W - 1  # the one topic written
    assert store.write_clock("feedback") == (0.0, None)  # a topic never written


def test_detector_alert_states_rates_with_intervals_and_counts(chdb_dir):
    from monitor.adapters.outcome_store import OutcomeStore

    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    for w in range(3):
        write_events(store, w, w, 300)
    store.refresh_metric_windows(0.0)
    OutcomeStore(store).write_detections(
        [(1.5 * W, 1.5 * W, "m", "v1", "error", "adwin", "t", 0, 20_031, 0.06, 0.09, 19_000, 1_000)]
    )
    rules = tuple(r for r in default_rules() if r.signal == "detector")
    alerts = AlertService(store, rules, allowed_lateness=0.0, window_seconds=W).run(watermark=3 * W)
    assert [a.status for a in alerts] == [
        "firing",
        "resolved",
    ]  # the detection window, then a quiet one
    assert alerts[0].evidence["detector_events"] == [
        "error/adwin: rate 0.0600 [0.0567, 0.0635] over 19000 events -> rate 0.090 [0.074, 0.109] over 1000 events"
    ]


def _store_with_windows(chdb_dir, windows) -> ClickHouseStore:
    """A fresh store holding 300 inferences in each of ``windows``, its window metrics refreshed."""
    store = ClickHouseStore(f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:10]}").connect()
    store.migrate()
    for offset, w in enumerate(windows):
        write_events(store, offset, w, 300)
    store.refresh_metric_windows(0.0)
    return store


def _detection(at: float, position: int) -> tuple:
    return (at, at, "m", "v1", "error", "adwin", "t", 0, position, 0.06, 0.09, 19_000, 1_000)


def _detector_service(store: ClickHouseStore) -> AlertService:
    rules = tuple(r for r in default_rules() if r.signal == "detector")
    return AlertService(store, rules, allowed_lateness=0.0, window_seconds=W)


def test_a_detection_written_after_its_window_was_judged_pages_in_the_next_window_once(chdb_dir):
    from monitor.adapters.outcome_store import OutcomeStore

    store = _store_with_windows(chdb_dir, range(6))
    assert _detector_service(store).run(watermark=3 * W) == []  # windows 0-2 judged, quiet
    # the detector agent, a hop behind, writes a detection of window 1 only now
    OutcomeStore(store).write_detections([_detection(1.5 * W, 20_031)])
    restarted = _detector_service(store)  # a new leader: the state comes from the store
    [fired] = restarted.run(watermark=4 * W)
    assert (fired.status, fired.starts_at) == ("firing", 4.0 * W)  # window 3, ending at 4 W
    [evidence] = fired.evidence["detector_events"]
    assert (
        evidence.startswith("error/adwin: rate 0.0600 [0.0567, 0.0635]")
        and "written after its window closed" in evidence
    )
    [resolved] = _detector_service(store).run(watermark=6 * W)  # counted once: window 4 is quiet
    assert resolved.status == "resolved"


def test_a_state_saved_before_late_detections_keeps_the_judged_windows_as_they_were(chdb_dir):
    """Upgrading: detections of windows judged by a leader that did not count late ones stay uncounted."""
    from monitor.adapters.outcome_store import OutcomeStore

    store = _store_with_windows(chdb_dir, range(6))
    service = _detector_service(store)
    assert service.run(watermark=3 * W) == []
    state = store.query(f"SELECT state FROM {store.db}.alert_state").rows[0][0]
    old = {k: v for k, v in json.loads(state).items() if k in ("evaluator", "last_window")}
    row = ["leader", json.dumps(old), datetime.now(UTC)]
    store.insert("alert_state", [row], ["name", "state", "updated_at"])
    OutcomeStore(store).write_detections([_detection(1.5 * W, 20_031), _detection(3.5 * W, 30_000)])
    [fired] = _detector_service(store).run(watermark=4 * W)
    assert fired.evidence["detector_events"] == [
        "error/adwin: rate 0.0600 [0.0567, 0.0635] over 19000 events -> rate 0.090 [0.074, 0.109] over 1000 events"
    ]  # window 3's own detection only


def test_a_detection_later_than_the_horizon_pages_no_one(chdb_dir):
    from monitor.adapters.outcome_store import OutcomeStore
    from monitor.services.alerts import LATE_DETECTION_HORIZON

    late_window = int(LATE_DETECTION_HORIZON // W) + 3
    store = _store_with_windows(chdb_dir, (0, 1, late_window, late_window + 1))
    service = _detector_service(store)
    assert service.run(watermark=2 * W) == []
    OutcomeStore(store).write_detections([_detection(0.5 * W, 7)])
    assert [a.status for a in service.run(watermark=(late_window + 1) * W)] == []


def test_detections_the_state_forgets_are_not_counted_again(chdb_dir, monkeypatch):
    from monitor.adapters.outcome_store import OutcomeStore
    from monitor.services import alerts

    monkeypatch.setattr(alerts, "MAX_COUNTED_DETECTIONS", 2)
    store = _store_with_windows(chdb_dir, range(8))
    OutcomeStore(store).write_detections(
        [_detection(t * W, p) for p, t in enumerate((0.2, 0.4, 0.6, 0.8))]
    )
    [fired] = _detector_service(store).run(watermark=2 * W)  # window 0 counts all four
    assert len(fired.evidence["detector_events"]) == 4
    # a new leader remembers the newest two; the two it forgot are not taken for late ones
    alerts_later = _detector_service(store).run(watermark=4 * W)
    assert [(a.status, a.ends_at) for a in alerts_later] == [("resolved", 3.0 * W)]


def test_a_detection_of_a_change_for_the_better_pages_no_one(chdb_dir):
    from monitor.adapters.outcome_store import OutcomeStore

    store = _store_with_windows(chdb_dir, range(3))
    better = [  # an error rate that falls, a satisfaction that rises
        (1.5 * W, 1.5 * W, "m", "v1", "error", "adwin", "t", 0, 20_031, 0.45, 0.12, 294, 122),
        (
            1.5 * W,
            1.5 * W,
            "m",
            "v1",
            "satisfaction",
            "adwin",
            "t",
            0,
            20_031,
            0.55,
            0.88,
            294,
            122,
        ),
    ]
    OutcomeStore(store).write_detections(better)
    assert _detector_service(store).run(watermark=3 * W) == []
    stored = store.query(f"SELECT count() FROM {store.db}.detector_events").rows
    assert stored == [(2,)]  # kept for `monitor query detections`
    worse = (
        2.5 * W,
        2.5 * W,
        "m",
        "v1",
        "satisfaction",
        "adwin",
        "t",
        0,
        20_500,
        0.88,
        0.55,
        400,
        100,
    )
    store2 = _store_with_windows(chdb_dir, range(4))
    OutcomeStore(store2).write_detections([worse])
    [fired] = _detector_service(store2).run(watermark=3 * W)
    assert fired.evidence["detector_events"][0].startswith("satisfaction/adwin: rate 0.88")


def test_monitor_query_detections_says_worse_or_better_as_the_alerts_decide(chdb_dir):
    """The ``change`` column of ``monitor query detections`` (SQL) and the alert service's
    ``worsened`` (Python) agree on every stream, both directions, equal means and unknown sides."""
    from monitor.adapters.outcome_store import OutcomeStore
    from monitor.catalogue import STREAM_BETTER
    from monitor.detectors.values import worsened
    from monitor.queries import detections_query

    store = _store_with_windows(chdb_dir, range(1))
    means = [(0.2, 0.5), (0.5, 0.2), (0.3, 0.3), (None, 0.4), (0.4, None)]
    cases = [(s, b, a) for s in [*STREAM_BETTER, "unknown_stream"] for b, a in means]
    OutcomeStore(store).write_detections(
        [
            (30.0, 30.0, "m", "v1", s, "adwin", "t", 0, i, b, a, 100, 10)
            for i, (s, b, a) in enumerate(cases)
        ]
    )
    sql, params = detections_query(store.db)
    rows = store.query(sql, params).rows
    by_position = {r[5]: r[-1] for r in rows}
    assert len(by_position) == len(cases)
    for i, (stream, before, after) in enumerate(cases):
        expected = "worse" if worsened(stream, before, after) else "better"
        assert by_position[i] == expected, (stream, before, after)


SATISFACTION_LOW = AlertRule(
    "satisfaction_low", "metric", "warning", "satisfaction_rate", "below", 0.5, min_samples=100
)


def _late_feedback_run(chdb_dir, feedback_delay: float) -> tuple[list, list]:
    """Window 10 closes (lateness 0) before any of its feedback; 200 answers arrive afterwards,
    40 of them satisfied. The alerts of a run at its close, and of one two windows later."""
    from monitor.adapters.schema import OUTCOME_PREFIX
    from monitor.folding.partials import Partial

    store = _store_with_windows(chdb_dir, range(10, 14))
    service = AlertService(
        store,
        (SATISFACTION_LOW,),
        allowed_lateness=0.0,
        window_seconds=W,
        feedback_delay=feedback_delay,
    )
    at_close = service.run(watermark=11 * W)
    late = Partial(
        10.0 * W, W, "m", "v1", OUTCOME_PREFIX + "satisfaction", "", 200.0, 40.0, 10.5 * W
    )
    store.write_batch({("f", 0): (0, 10.5 * W, [late])})
    store.refresh_metric_windows(0.0)
    later = AlertService(  # a new leader: the passes continue from the saved state
        store,
        (SATISFACTION_LOW,),
        allowed_lateness=0.0,
        window_seconds=W,
        feedback_delay=feedback_delay,
    ).run(watermark=13 * W)
    return at_close, later


def test_without_a_feedback_delay_late_feedback_is_never_judged(chdb_dir):
    assert _late_feedback_run(chdb_dir, 0.0) == ([], [])


def test_a_feedback_delay_judges_outcome_rules_once_the_late_feedback_is_in(chdb_dir):
    at_close, [fired] = _late_feedback_run(chdb_dir, 2.0 * W)
    assert at_close == []
    assert (fired.status, fired.rule, fired.starts_at) == ("firing", "satisfaction_low", 11.0 * W)
    assert fired.recommended_action == "retrain_concept_drift"
    [metric] = fired.evidence["metrics"]
    assert (metric["metric"], metric["denominator"], metric["value"]) == ("satisfaction", 200, 0.2)


def test_with_a_feedback_delay_outcome_rules_wait_for_the_feedback_topics_own_watermark(chdb_dir):
    """A replay: the inferences of windows 10-13 are in, their feedback is not; the inferences'
    watermark has passed window 10's end, lateness and delay, the feedback's has not. The outcome
    rules wait for it, and judge window 10 with the feedback once it is in."""
    from monitor.adapters.schema import OUTCOME_PREFIX
    from monitor.folding.partials import Partial

    store = _store_with_windows(chdb_dir, range(10, 14))

    def service() -> AlertService:  # a new leader each run: the passes go on from the saved state
        return AlertService(
            store,
            (SATISFACTION_LOW,),
            allowed_lateness=0.0,
            window_seconds=W,
            feedback_delay=2.0 * W,
        )

    assert service().run(watermark=14 * W, outcome_watermark=10.2 * W) == []
    late = Partial(
        10.0 * W, W, "m", "v1", OUTCOME_PREFIX + "satisfaction", "", 200.0, 40.0, 13.5 * W
    )
    store.write_batch({("f", 0): (0, 13.5 * W, [late])})
    store.refresh_metric_windows(0.0)
    [fired] = service().run(watermark=14 * W, outcome_watermark=13.5 * W)
    assert (fired.status, fired.rule, fired.starts_at) == ("firing", "satisfaction_low", 11.0 * W)
    [metric] = fired.evidence["metrics"]
    assert (metric["denominator"], metric["value"]) == (200, 0.2)
