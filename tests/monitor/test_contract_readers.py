"""Every reader of events derives from the contract: files, baselines, joins and live traffic agree."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from monitor.contract.events import (
    FeedbackEvent,
    InferenceEvent,
    validate_feedback,
    validate_inference,
)
from monitor.contract.fields import contract_fields, json_keys
from monitor.contract.records import load_records, shape_record
from monitor.drift.baseline import build_baseline, histogram_batch
from monitor.drift.divergence import psi
from monitor.drift.text_features import TEXT_FEATURES
from monitor.outcomes.fold import fold_outcomes
from monitor.outcomes.join import feedback_payload, inference_payload, joined_outcome
from monitor.tools.simulator import TrafficSimulator

NOW = 1_767_225_600.0


def _contract_shaped_events(n: int) -> list[dict]:
    events = TrafficSimulator(seed=3).inferences(now=NOW - 60, n=n)
    for event in events:  # every optional field present, usage included
        event.setdefault("error", "timeout")
        assert set(event) == set(json_keys(InferenceEvent)), set(json_keys(InferenceEvent)) - set(
            event
        )
        assert set(event["usage"]) == {"input_tokens", "output_tokens"}
    return events


def test_every_contract_key_stays_out_of_the_features() -> None:
    for record in (InferenceEvent, FeedbackEvent):
        for name, spec in contract_fields(record):
            location = spec.location(name)
            shaped = shape_record({location[0]: 1, "color": "red"})
            assert shaped["features"] == {"color": "red"} and location[0] in shaped, location
            if len(location) > 1:  # a flat file's column: usage.input_tokens or input_tokens
                assert shape_record({".".join(location): 1})["features"] == {}
                assert shape_record({name: 1})["features"] == {}


def test_a_contract_file_builds_a_baseline_of_exactly_its_features_and_replays_without_drift(
    tmp_path: Path,
) -> None:
    events = _contract_shaped_events(400)
    path = tmp_path / "inference.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    baseline = build_baseline("support-assistant", "v1", load_records(path), now=NOW)
    assert set(baseline.features) == set(events[0]["features"]) | set(TEXT_FEATURES)
    # Replaying the same file: validated events, histogrammed as the worker does, do not drift.
    valid = [validate_inference(e, now=NOW) for e in events]
    counts = histogram_batch(baseline, [e.features for e in valid], [e.input_text for e in valid])
    assert counts.unknown_features == {}
    for name, profile in baseline.features.items():
        assert psi(counts.counts[name], profile.reference_histogram()) == pytest.approx(
            0.0, abs=1e-9
        ), name


def _csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_true_false_labels_and_json_booleans_give_the_same_accuracy(tmp_path: Path) -> None:
    predictions = [True, True, False, True, False, False, True, True]
    labels = [True, False, False, True, True, False, True, False]
    rows = [
        {
            "request_id": f"r{i}",
            "prediction": str(p),
            "label": str(y).lower(),
            "age": 30 + i,
        }  # True, "true"
        for i, (p, y) in enumerate(zip(predictions, labels))
    ]
    baseline = build_baseline(
        "m", "v1", load_records(_csv(tmp_path / "reference.csv", rows)), now=NOW
    )
    outcomes = []
    for i, (p, y) in enumerate(zip(predictions, labels)):  # the same pairs as live JSON traffic
        inference = validate_inference(
            json.loads(
                json.dumps(
                    {
                        "request_id": f"r{i}",
                        "timestamp": NOW,
                        "model": "m",
                        "model_version": "v1",
                        "prediction": p,
                    }
                )
            ),
            now=NOW,
        )
        feedback = validate_feedback({"request_id": f"r{i}", "timestamp": NOW, "label": y}, now=NOW)
        outcomes.append(
            joined_outcome(f"r{i}", inference_payload(inference), feedback_payload(feedback))
        )
    (live,) = [s for s in fold_outcomes(outcomes, 60) if s.metric == "accuracy"]
    assert baseline.features.keys() == {"age"}
    assert baseline.accuracy == live.numerator / live.denominator == 5 / 8
    assert baseline.n_labeled == live.denominator
