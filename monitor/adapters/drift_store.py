"""Store operations of input drift: baselines, baseline samples, window histograms, drift rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.contract.timestamps import utc_datetime
from monitor.drift.baseline import Baseline
from monitor.drift.windows import DQ_PREFIX, EVENTS_NAME, HIST_PREFIX, DriftRow

__all__ = ["DriftStore"]

DRIFT_COLUMNS = [
    "window_start",
    "window_end",
    "model",
    "model_version",
    "feature",
    "baseline_id",
    "psi",
    "kl",
    "js",
    "n_current",
    "n_reference",
    "severity",
    "missing_rate",
    "type_violation_rate",
    "out_of_range_rate",
    "updated_at",
    "n_events",
    "partial",
    "detail",
]


class DriftStore:
    """Thin wrapper over :class:`ClickHouseStore` for the drift tables."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store

    # -- baselines --------------------------------------------------------------------------
    def save_baseline(self, baseline: Baseline, baseline_id: str | None = None) -> str:
        baseline_id = baseline_id or f"{baseline.model_version}-{uuid.uuid4().hex[:8]}"
        self.store.insert(
            "baselines",
            [
                [
                    baseline_id,
                    baseline.model,
                    baseline.model_version,
                    utc_datetime(baseline.created_at),
                    baseline.source,
                    baseline.n,
                    baseline.to_json(),
                    0,
                ]
            ],
            [
                "baseline_id",
                "model",
                "model_version",
                "created_at",
                "source",
                "n",
                "body",
                "deleted",
            ],
        )
        return baseline_id

    def baseline_generation(self) -> tuple[int, float]:
        """Changes whenever a baseline is saved, replaced or deleted (one small query)."""
        count, newest = self.store.query(
            f"SELECT count(), toFloat64(max(updated_at)) FROM {self.store.table('baselines')}"
        ).rows[0]
        return int(count), float(newest or 0.0)

    def list_baselines(
        self, model: str | None = None, version: str | None = None
    ) -> list[dict[str, Any]]:
        result = self.store.query(
            f"SELECT baseline_id, model, model_version, created_at, source, n, deleted FROM "
            f"{self.store.table('baselines')} FINAL WHERE ({{model:String}} = '' OR model = {{model:String}}) "
            "AND ({version:String} = '' OR model_version = {version:String}) ORDER BY model, model_version, created_at",
            {"model": model or "", "version": version or ""},
        )
        return result.dicts()

    def load_baselines(self, ids: Iterable[str] | None = None) -> dict[str, Baseline]:
        """Baselines by id (deleted ones too: history scored against them stays scorable)."""
        wanted = sorted(set(ids)) if ids is not None else None
        sql = f"SELECT baseline_id, body FROM {self.store.table('baselines')} FINAL"
        params: dict[str, Any] = {}
        if wanted is not None:
            sql += " WHERE has({ids:Array(String)}, baseline_id)"
            params["ids"] = wanted
        return {bid: Baseline.from_json(body) for bid, body in self.store.query(sql, params).rows}

    def active_baselines(self) -> dict[tuple[str, str], tuple[str, Baseline]]:
        """The newest non-deleted baseline of each model version."""
        rows = self.store.query(
            f"SELECT model, model_version, argMax(baseline_id, created_at), argMax(body, created_at) "
            f"FROM {self.store.table('baselines')} FINAL WHERE deleted = 0 GROUP BY model, model_version"
        ).rows
        return {(m, v): (bid, Baseline.from_json(body)) for m, v, bid, body in rows}

    def active_baseline_ids(
        self, versions: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """The id of the newest non-deleted baseline of each of ``versions`` that has one."""
        if not versions:
            return {}
        rows = self.store.query(
            f"SELECT model, model_version, argMax(baseline_id, created_at) FROM {self.store.table('baselines')} FINAL "
            "WHERE deleted = 0 AND has(arrayZip({models:Array(String)}, {versions:Array(String)}), (model, model_version)) "
            "GROUP BY model, model_version",
            {"models": [m for m, _ in versions], "versions": [v for _, v in versions]},
        ).rows
        return {(m, v): bid for m, v, bid in rows}

    def delete_baseline(self, model: str, version: str, baseline_id: str | None = None) -> int:
        """Mark baselines deleted (their scored history stays); returns how many."""
        rows = [
            r
            for r in self.list_baselines(model, version)
            if not r["deleted"] and (baseline_id is None or r["baseline_id"] == baseline_id)
        ]
        body = self.load_baselines([r["baseline_id"] for r in rows])
        self.store.insert(
            "baselines",
            [
                [
                    r["baseline_id"],
                    r["model"],
                    r["model_version"],
                    r["created_at"],
                    r["source"],
                    r["n"],
                    body[r["baseline_id"]].to_json(),
                    1,
                ]
                for r in rows
            ],
            [
                "baseline_id",
                "model",
                "model_version",
                "created_at",
                "source",
                "n",
                "body",
                "deleted",
            ],
        )
        return len(rows)

    # -- samples for automatic baselines ----------------------------------------------------
    def add_samples(self, rows: Sequence[tuple[str, str, float, str, dict[str, Any]]]) -> None:
        self.store.insert(
            "baseline_samples",
            [
                [m, v, utc_datetime(t), rid, orjson.dumps(rec).decode()]
                for m, v, t, rid, rec in rows
            ],
            ["model", "model_version", "event_time", "request_id", "record"],
        )

    def sample_counts(self) -> dict[tuple[str, str], int]:
        rows = self.store.query(
            f"SELECT model, model_version, count() FROM {self.store.table('baseline_samples')} "
            "FINAL GROUP BY model, model_version"
        ).rows
        return {(m, v): int(n) for m, v, n in rows}

    def first_samples(self, model: str, version: str, limit: int) -> list[dict[str, Any]]:
        rows = self.store.query(
            f"SELECT record FROM {self.store.table('baseline_samples')} FINAL WHERE model = {{model:String}} "
            "AND model_version = {version:String} ORDER BY event_time, request_id LIMIT {limit:UInt64}",
            {"model": model, "version": version, "limit": limit},
        ).rows
        return [orjson.loads(r[0]) for r in rows]

    def clear_samples(self, model: str, version: str) -> None:
        self.store.command(
            f"ALTER TABLE {self.store.table('baseline_samples')} DELETE WHERE model = {{model:String}} "
            "AND model_version = {version:String}",
            {"model": model, "version": version},
        )

    # -- windows ----------------------------------------------------------------------------
    def touched_windows(self, since: float) -> tuple[list[tuple[float, int]], float]:
        """Windows with drift partials inserted at or after ``since``, and the newest watermark."""
        partials = self.store.table("partials")
        windows = self.store.query(
            f"SELECT DISTINCT toFloat64(window_start), window_seconds FROM {partials} "
            "WHERE inserted_at >= {since:DateTime64(3)} AND startsWith(name, {prefix:String})",
            {"since": utc_datetime(since), "prefix": HIST_PREFIX},
        ).rows
        return [(float(w), int(s)) for w, s in windows], self.store.watermark()

    def window_rows(
        self,
        window_start: float,
        last_start: float | None = None,
    ) -> dict[tuple[str, str], list[tuple[str, str, float, float]]]:
        """Summed drift partials and inference event counts of one window (or of the windows from
        ``window_start`` to ``last_start``: a sliding window), per model version."""
        rows = self.store.query(
            f"SELECT model, model_version, name, bucket, sum(count), sum(total) FROM {self.store.table('partials')} "
            "WHERE window_start >= {start:DateTime64(3)} AND window_start <= {last:DateTime64(3)} "
            "AND (startsWith(name, {hist:String}) OR startsWith(name, {dq:String}) OR name = {events:String} "
            "OR startsWith(name, 'emb:')) "
            "GROUP BY model, model_version, name, bucket",
            {
                "start": utc_datetime(window_start),
                "last": utc_datetime(window_start if last_start is None else last_start),
                "hist": HIST_PREFIX,
                "dq": DQ_PREFIX,
                "events": EVENTS_NAME,
            },
        ).rows
        out: dict[tuple[str, str], list[tuple[str, str, float, float]]] = {}
        for model, version, name, bucket, count, total in rows:
            out.setdefault((model, version), []).append((name, bucket, float(count), float(total)))
        return out

    def write_drift_rows(
        self,
        window_start: float,
        window_seconds: int,
        model: str,
        version: str,
        rows: Sequence[DriftRow],
        now: float,
    ) -> None:
        self.store.insert(
            "drift_windows",
            [
                [
                    utc_datetime(window_start),
                    utc_datetime(window_start + window_seconds),
                    model,
                    version,
                    r.feature,
                    r.baseline_id,
                    r.psi,
                    r.kl,
                    r.js,
                    r.n_current,
                    r.n_reference,
                    r.severity,
                    r.missing_rate,
                    r.type_violation_rate,
                    r.out_of_range_rate,
                    utc_datetime(now),
                    r.n_events,
                    int(r.partial),
                    r.detail,
                ]
                for r in rows
            ],
            DRIFT_COLUMNS,
        )
