"""Files of simulated traffic to try the monitor on: a reference to build a baseline from, inference
events spread over a past span, and their feedback, from the demo's support assistant
(:mod:`monitor.tools.simulator`). Pure and seeded but for the files' writing.

>>> traffic = simulated_traffic(events=40, span=60.0, end=1767225600.0, reference=10, drift_at=0.5)
>>> len(traffic.reference), len(traffic.inferences), traffic.drift_from
(10, 40, 1767225570.0)
>>> times = [e["timestamp"] for e in traffic.inferences]
>>> times == sorted(times), min(times) >= traffic.start, max(times) <= traffic.end
(True, True, True)
>>> {e["request_id"] for e in traffic.feedback} <= {e["request_id"] for e in traffic.inferences}
True

A later run's requests are others, so its feedback never joins an earlier run's inferences:

>>> later = simulated_traffic(events=40, span=60.0, end=1767225660.0, reference=10, drift_at=0.5)
>>> {e["request_id"] for e in later.inferences} & {e["request_id"] for e in traffic.inferences}
set()
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from monitor.errors import ConfigError
from monitor.tools.simulator import SHADOW_VERSION, TrafficSimulator

__all__ = ["SAMPLE_FILES", "SimulatedTraffic", "simulated_traffic", "write_sample_files"]

# the files written, in the order a user runs them (README's "Use it")
SAMPLE_FILES = ("reference.jsonl", "inference.jsonl", "feedback.jsonl")


@dataclass(frozen=True)
class SimulatedTraffic:
    reference: list[dict[str, Any]]  # undrifted inference events, stamped before ``start``
    inferences: list[dict[str, Any]]  # in time order, from ``start`` to ``end``
    feedback: list[
        dict[str, Any]
    ]  # in time order, up to the simulator's feedback delay after ``end``
    start: float
    end: float
    drift_from: float | None  # when the drifted version's inputs and outcomes shift (None: never)
    model: str
    drift_version: str


def simulated_traffic(
    *,
    events: int,
    span: float,
    end: float,
    reference: int,
    drift_at: float,
    seed: int = 7,
    shadow: float = 0.0,
) -> SimulatedTraffic:
    """``events`` inference events evenly over ``[end - span, end]`` in one-second ticks (the
    drifted version shifts after ``drift_at`` of the span; 1 or more: never), their feedback, and
    ``reference`` undrifted events drawn with a seed of their own; with ``shadow``, the shadow
    candidate's answers to that share of the production requests, among the inference events."""
    if events < 1 or reference < 0 or span <= 0:
        raise ConfigError(
            f"events {events}, reference {reference}, span {span}: need events ≥ 1, reference ≥ 0, span > 0"
        )
    # request ids of their own per run (the span's end names it): the files of a second run, replayed
    # to the same worker, must not join the feedback of one run to the other's inferences
    run = f"{int(end):x}"
    sim = TrafficSimulator(seed=seed, id_prefix=f"req-{run}")
    start = end - span
    drift_from = start + drift_at * span if 0 <= drift_at < 1 else None
    ticks = max(1, math.ceil(span))
    inferences: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    for tick in range(ticks):
        now = start + tick * span / ticks
        sim.drifted = drift_from is not None and now >= drift_from
        due = (tick + 1) * events // ticks - tick * events // ticks
        batch = sim.inferences(now, due)
        inferences += batch
        if shadow > 0:  # each 50 ms after the production answer it mirrors: in time order
            inferences += sim.shadow_answers(batch, version=SHADOW_VERSION, share=shadow)
        feedback += sim.due_feedback(now)
    feedback += sim.due_feedback(math.inf)
    before = TrafficSimulator(seed=seed + 1, id_prefix=f"ref-{run}").inferences(
        start - 1.0, reference
    )
    return SimulatedTraffic(
        before, inferences, feedback, start, end, drift_from, sim.model, sim.drift_version
    )


def write_sample_files(traffic: SimulatedTraffic, directory: Path, *, force: bool) -> list[Path]:
    """The three files (:data:`SAMPLE_FILES`) in ``directory``, one event a line; an existing file
    is left alone unless ``force`` (nothing is written then)."""
    paths = [directory / name for name in SAMPLE_FILES]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise ConfigError(
            f"{', '.join(existing)} already {verb}: --force overwrites, --out writes elsewhere"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path, rows in zip(paths, (traffic.reference, traffic.inferences, traffic.feedback)):
        _write_jsonl(path, rows)
    return paths


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
