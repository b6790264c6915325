"""False alarms on stationary streams and delay on known change points, per detector spec.

The figures in docs/outcomes.md come from ``python -m monitor.detectors.calibrate`` (all seeds);
the tests run the same functions with fewer seeds. Streams, all ``numpy.random.default_rng(seed)``:

- ``error``: Bernoulli(p) for p in 0.02, 0.06, 0.1, 0.3;
- ``satisfaction``: ratings 1-5 (probabilities 0.05, 0.1, 0.15, 0.3, 0.4) read as satisfied (>= 4);
- ``judge_score``: N(7, 2) clipped to 0-10;
- ``latency_ms``: lognormal with median 800 ms, sigma 0.5.

>>> false_alarms(DetectorSpec("error", "adwin", {"delta": 1e-5}), stationary("error", 0.1, 5000, 0))
0
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import numpy as np

from monitor.detectors.concept import (
    DEFAULT_SPECS,
    EVIDENCE_SPECS,
    ConceptDriftMonitor,
    DetectorSpec,
)

__all__ = ["ERROR_RATES", "false_alarms", "stationary", "switch_delay"]

ERROR_RATES = (0.02, 0.06, 0.1, 0.3)
_RATINGS = np.array([0.05, 0.1, 0.15, 0.3, 0.4])


def stationary(stream: str, param: float | None, n: int, seed: int) -> np.ndarray:
    """``n`` stationary values of ``stream`` (``param`` is the error rate for ``error``)."""
    rng = np.random.default_rng(seed)
    if stream == "error":
        return (rng.random(n) < float(param or 0.1)).astype(np.float64)
    if stream == "satisfaction":
        return (rng.choice(5, size=n, p=_RATINGS) >= 3).astype(np.float64)  # ratings 4 and 5
    if stream == "judge_score":
        return np.clip(rng.normal(7.0, 2.0, n), 0.0, 10.0)
    if stream == "latency_ms":
        return rng.lognormal(np.log(800.0), 0.5, n)
    raise ValueError(f"no stationary model for stream {stream!r}")


def false_alarms(spec: DetectorSpec, values: np.ndarray) -> int:
    """How many detections ``spec`` raises on ``values`` (all false on a stationary stream)."""
    return len(ConceptDriftMonitor("cal", "v", [spec]).update(spec.stream, values))


def switch_delay(
    spec: DetectorSpec,
    before: float,
    after: float,
    seed: int,
    switch: int = 20_000,
    length: int = 60_000,
) -> tuple[int | None, int]:
    """Events from a Bernoulli rate switch at ``switch`` to the first detection, and false alarms before."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.random(switch) < before, rng.random(length - switch) < after])
    found = [
        d.position
        for d in ConceptDriftMonitor("cal", "v", [spec]).update(spec.stream, values.astype(float))
    ]
    late = [p - switch for p in found if p >= switch]
    return (late[0] if late else None), sum(p < switch for p in found)


def _streams(spec: DetectorSpec) -> Iterable[float | None]:
    return ERROR_RATES if spec.stream == "error" else (None,)


def _label(spec: DetectorSpec) -> str:
    params = ", ".join(f"{k} {v}" for k, v in spec.params.items())
    every = f", every {spec.sample_every}th" if spec.sample_every > 1 else ""
    return f"{spec.detector} ({params or 'river defaults'}{every})"


def stationary_table(specs: Iterable[DetectorSpec], seeds: int, n: int = 100_000) -> str:
    """Markdown: runs with any alarm and total alarms per spec and stream model."""
    lines = [
        "| stream | detector | stream model | runs with an alarm | alarms |",
        "|---|---|---|---|---|",
    ]
    for spec in specs:
        for param in _streams(spec):
            counts = [
                false_alarms(spec, stationary(spec.stream, param, n, seed)) for seed in range(seeds)
            ]
            model = f"p = {param}" if param is not None else "see above"
            lines.append(
                f"| {spec.stream} | {_label(spec)} | {model} | "
                f"{sum(c > 0 for c in counts)} / {seeds} | {sum(counts)} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def delay_table(
    specs: Iterable[DetectorSpec], seeds: int, before: float = 0.06, after: float = 0.09
) -> str:
    """Markdown: delay in events after a Bernoulli switch ``before -> after`` at 20 000 of 60 000."""
    lines = [
        "| detector | median delay | delays (min - max) | missed | false alarms before |",
        "|---|---|---|---|---|",
    ]
    for spec in specs:
        if spec.stream != "error":
            continue
        runs = [switch_delay(spec, before, after, seed) for seed in range(seeds)]
        found = sorted(d for d, _ in runs if d is not None)
        median = str(int(np.median(found))) if found else "-"
        spread = f"{found[0]} - {found[-1]}" if found else "-"
        lines.append(
            f"| {_label(spec)} | {median} | {spread} | {seeds - len(found)} / {seeds} | "
            f"{sum(f for _, f in runs)} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    seeds = int((argv or sys.argv[1:] or ["30"])[0])
    specs = DEFAULT_SPECS + EVIDENCE_SPECS
    print(f"Stationary streams of 100 000 values, seeds 0-{seeds - 1}\n")
    print(stationary_table(specs, seeds))
    print(
        f"\nBernoulli error rate 0.06 -> 0.09 at position 20 000 of 60 000, seeds 0-{seeds - 1}\n"
    )
    print(delay_table(specs, seeds))


if __name__ == "__main__":
    main()
