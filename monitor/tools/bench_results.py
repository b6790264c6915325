"""The results of ``monitor bench``: one :class:`ShapeResult` per case and message shape, their
table and the machine they were measured on."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from monitor.tools.bench_bare import Measurement

__all__ = ["ShapeResult", "format_table", "machine"]


@dataclass(frozen=True)
class ShapeResult:
    """One case in one message shape: the three measurements over the same topic."""

    case: str
    events_per_message: int
    events: int
    messages: int
    event_bytes: float
    measurements: tuple[Measurement, ...] = field(default_factory=tuple)

    def rates(self, consumer: str) -> list[float]:
        """The consumer's rate in each run, in run order."""
        return [m.rate for m in self.measurements if m.consumer == consumer]

    def rate(self, consumer: str) -> float:
        """The best of the consumer's runs (one run: its rate). A run loses speed to other work on
        the machine and to the broker, never gains any: bare Faust runs over the same backlog took
        from 1.3 to 2.7 s, the slow ones with the process idle, waiting on fetches
        (docs/BENCHMARKS.md).

        >>> from monitor.tools.bench_bare import Measurement
        >>> ShapeResult("standard", 100, 10, 1, 500.0, (Measurement("worker", 10, 1.0),
        ...     Measurement("worker", 10, 2.0), Measurement("worker", 10, 0.1))).rate("worker")
        100.0
        """
        return max(self.rates(consumer))

    def median(self, consumer: str) -> float:
        """The median of the consumer's runs."""
        return float(np.median(self.rates(consumer)))

    @property
    def ratios(self) -> dict[str, float]:
        worker = self.rate("worker")
        return {
            "worker/bare_faust": worker / self.rate("bare_faust"),
            "worker/bare_aiokafka": worker / self.rate("bare_aiokafka"),
        }

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "measurements"}
        consumers = list(dict.fromkeys(m.consumer for m in self.measurements))
        out["rates"] = {c: round(self.rate(c), 1) for c in consumers}
        out["seconds"] = {c: round(self.events / self.rate(c), 6) for c in consumers}
        out["ratios"] = {k: round(v, 3) for k, v in self.ratios.items()}
        out["runs"] = {c: [round(r, 1) for r in self.rates(c)] for c in consumers}
        out["medians"] = {c: round(self.median(c), 1) for c in consumers}
        return out


def format_table(results: list[ShapeResult]) -> str:
    """The results as a fixed-width table: rates in events/s, then the two ratios."""
    header = (
        f"{'case':<9} {'events/msg':>10} {'worker':>10} {'bare faust':>11} {'bare aiokafka':>14} "
        f"{'worker/faust':>13} {'worker/aiokafka':>16}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        ratios = r.ratios
        lines.append(
            f"{r.case:<9} {r.events_per_message:>10} {r.rate('worker'):>10,.0f} "
            f"{r.rate('bare_faust'):>11,.0f} {r.rate('bare_aiokafka'):>14,.0f} "
            f"{ratios['worker/bare_faust']:>13.2f} {ratios['worker/bare_aiokafka']:>16.2f}"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
