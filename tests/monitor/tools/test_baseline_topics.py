"""README's walk: `monitor simulate`, then `monitor baseline build` on its reference file with the
shipped embedder. Each of the simulator's five kinds of request is one topic with its own name,
and an alert on the topic that grew names it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tests_support import SIMULATOR_TOPIC_NAMES, monitor_cli

from monitor.alerts.actions import Signals, recommend
from monitor.drift.baseline_profile import Baseline
from monitor.drift.embedding_windows import grown_topic
from monitor.drift.embeddings import TOPIC_FEATURE

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MONITOR_EMBEDDER": "wordllama"}


def test_the_simulated_requests_get_one_distinct_named_topic_each(tmp_path: Path) -> None:
    env = {**OFFLINE, "MONITOR_CLICKHOUSE_URL": f"chdb://{tmp_path / 'clickhouse'}"}
    monitor_cli("simulate", "--out", str(tmp_path), "--events", "10", env=env)
    built = monitor_cli(
        "baseline", "build", "--model", "support-assistant", "--version", "v1", "--id", "b1",
        str(tmp_path / "reference.jsonl"), env=env,
    )  # fmt: skip
    listed = re.search(r"prompt topics \(wordllama:[^)]*\): (.*)", built.stdout)
    assert listed, built.stdout
    names = listed.group(1).split("; ")
    assert sorted(names) == SIMULATOR_TOPIC_NAMES, names

    shown = monitor_cli("baseline", "show", "b1", env=env)
    baseline = Baseline.from_json(shown.stdout)
    assert baseline.embedding is not None
    assert list(baseline.embedding.topic_names) == names
    reference = baseline.features[TOPIC_FEATURE].reference_histogram()
    current = np.zeros_like(reference)
    package = names.index("due, package, yesterday")
    current[package], current[(package + 1) % len(names)] = 80, 20
    detail = grown_topic(baseline.embedding.topic_names, current, reference)
    signals = Signals(
        "support-assistant", "v1", 0.0, 300.0,
        drifted_features=((TOPIC_FEATURE, 0.9, "significant"),),
        drift_details=(f"{TOPIC_FEATURE}: {detail}",),
    )  # fmt: skip
    recommendation = recommend(signals)
    assert recommendation is not None
    assert "(topic 'due, package, yesterday' grew from " in recommendation.summary, recommendation
