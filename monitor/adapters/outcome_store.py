"""Store operations of the outcome side: detector state and detections, window comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.contract.timestamps import utc_datetime

__all__ = ["OutcomeStore"]


class OutcomeStore:
    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store

    def load_version_states(
        self, topic: str, versions: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, bytes]]:
        """Newest saved state of each of ``versions`` under the detector-values ``topic``, whichever
        of its partitions saved it: ``(model, version) -> (save sequence, state)``."""
        rows = self.store.query(
            "SELECT model, model_version, max(last_offset), argMax(state, last_offset) "
            f"FROM {self.store.table('detector_state')} WHERE src_topic = {{topic:String}} "
            "AND has(arrayZip({models:Array(String)}, {versions:Array(String)}), (model, model_version)) "
            "GROUP BY model, model_version",
            {
                "topic": topic,
                "models": [m for m, _ in versions],
                "versions": [v for _, v in versions],
            },
        ).rows
        return {(m, v): (int(seq), bytes.fromhex(state)) for m, v, seq, state in rows}

    def save_states(self, rows: Sequence[tuple[str, int, str, str, int, int, bytes]]) -> None:
        """``(topic, partition, model, version, position epoch, last offset, state)`` rows."""
        self.store.insert(
            "detector_state",
            [[t, p, m, v, e, o, s.hex()] for t, p, m, v, e, o, s in rows],
            [
                "src_topic",
                "src_partition",
                "model",
                "model_version",
                "position_epoch",
                "last_offset",
                "state",
            ],
        )

    def write_detections(
        self,
        rows: Sequence[
            tuple[
                float,
                float,
                str,
                str,
                str,
                str,
                str,
                int,
                int,
                float | None,
                float | None,
                int,
                int,
            ]
        ],
    ) -> None:
        self.store.insert(
            "detector_events",
            [[utc_datetime(a), utc_datetime(b), *rest] for a, b, *rest in rows],
            [
                "detected_at",
                "event_time",
                "model",
                "model_version",
                "stream",
                "detector",
                "src_topic",
                "src_partition",
                "position",
                "mean_before",
                "mean_after",
                "n_before",
                "n_after",
            ],
        )

    def write_comparisons(self, rows: Sequence[Sequence[Any]]) -> None:
        self.store.insert(
            "metric_comparisons",
            [[utc_datetime(r[0]), *r[1:], datetime.now(UTC)] for r in rows],
            [
                "window_start",
                "model",
                "model_version",
                "metric",
                "reference",
                "value",
                "reference_value",
                "difference",
                "diff_low",
                "diff_high",
                "p_value",
                "count",
                "reference_count",
                "updated_at",
            ],
        )
