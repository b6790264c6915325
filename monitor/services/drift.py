"""Automatic baselines and window scoring for input drift (run by the leader worker)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.adapters.drift_store import DriftStore
from monitor.adapters.inserted_since import next_mark
from monitor.drift.baseline import Baseline, build_baseline
from monitor.drift.divergence import SeverityThresholds
from monitor.drift.embedding_baseline import attach_embeddings, sample_embedding_fields
from monitor.drift.embedding_windows import embedding_rows
from monitor.drift.embeddings import Embedder
from monitor.drift.text_features import TEXT_FEATURES, text_features
from monitor.drift.windows import DriftRow, score_window, window_histograms
from monitor.settings import Settings

__all__ = ["DriftService", "sample_records"]

log = logging.getLogger("monitor.drift")


def sample_records(
    events: Sequence[Any], embedder: Embedder | None = None
) -> list[tuple[str, str, float, str, dict[str, Any]]]:
    """Rows for ``baseline_samples``: features plus derived text features, and with an ``embedder``
    the prompt's reduced embedding and keywords (monitor.drift.embedding_baseline); raw text is not kept.
    """
    texts = [e.input_text for e in events]
    derived = text_features(texts) if any(t is not None for t in texts) else {}
    embedded = (
        sample_embedding_fields(embedder, texts)
        if embedder is not None and any(t is not None for t in texts)
        else [None] * len(texts)
    )
    rows = []
    for i, e in enumerate(events):
        features = dict(e.features)
        if e.input_text is not None:
            for name, column in derived.items():
                value = column[i]
                features[name] = value.item() if hasattr(value, "item") else value
        record: dict[str, Any] = {"features": features, "prediction": e.prediction}
        if embedded[i] is not None:
            record["embedding"] = embedded[i]
        rows.append((e.model, e.model_version, e.timestamp, e.request_id, record))
    return rows


def _mark_text_features(baseline: Baseline) -> Baseline:
    features = {
        name: dataclasses.replace(p, derived_from_text=name in TEXT_FEATURES)
        for name, p in baseline.features.items()
    }
    return dataclasses.replace(baseline, features=features)


class DriftService:
    def __init__(self, drift_store: DriftStore, settings: Settings) -> None:
        self.store = drift_store
        self.settings = settings
        self.pending: set[tuple[float, int]] = set()
        self.since = 0.0
        self._baselines: dict[str, Baseline] = {}
        self.thresholds = SeverityThresholds(settings.drift_moderate, settings.drift_significant)
        self.feature_thresholds = {
            f: SeverityThresholds(*t) for f, t in settings.drift_feature_thresholds.items()
        }

    # -- baselines --------------------------------------------------------------------------
    def build_automatic_baselines(self, now: float) -> list[str]:
        """Build a baseline for each version whose first events are all sampled; returns their ids."""
        counts = self.store.sample_counts()
        have = self.store.active_baseline_ids(list(counts)) if counts else {}
        pending = {key: n for key, n in counts.items() if key not in have}
        # every baseline's body only when a new version may copy its predecessor's (not once per run)
        active = (
            self.store.active_baselines()
            if pending and self.settings.baseline_from_previous
            else {}
        )
        built = []
        for (model, version), n in pending.items():
            previous = [b for (m, v), (_, b) in active.items() if m == model and v != version]
            if self.settings.baseline_from_previous and previous:
                source = max(previous, key=lambda b: b.created_at)
                baseline = dataclasses.replace(
                    source,
                    model_version=version,
                    created_at=now,
                    source=f"copied from {source.model_version}",
                )
            elif n >= self.settings.baseline_samples:
                records = self.store.first_samples(model, version, self.settings.baseline_samples)
                baseline = attach_embeddings(
                    _mark_text_features(
                        build_baseline(
                            model,
                            version,
                            records,
                            n_bins=self.settings.drift_bins,
                            top_k=self.settings.drift_top_k,
                            now=now,
                            source=f"first {len(records)} events",
                        )
                    ),
                    records,
                    topics=self.settings.embedding_topics,
                )
            else:
                continue
            built.append(self.store.save_baseline(baseline))
            self.store.clear_samples(model, version)
            log.info("baseline %s built for %s/%s (%s)", built[-1], model, version, baseline.source)
        return built

    # -- scoring ----------------------------------------------------------------------------
    def _baselines_for(self, ids: set[str]) -> Mapping[str, Baseline]:
        missing = ids - self._baselines.keys()
        if missing:
            self._baselines.update(self.store.load_baselines(missing))
        return self._baselines

    def score_closed_windows(
        self,
        now: float,
        watermark: float | None = None,
    ) -> list[tuple[str, str, float, list[DriftRow]]]:
        """Score every window touched since the last call once the watermark has passed it.

        ``watermark`` (the closing watermark, which follows the wall clock when traffic stops)
        replaces the newest event time written when it is later."""
        mark = next_mark(now)
        touched, written = self.store.touched_windows(self.since)
        watermark = max(written, watermark or 0.0)
        self.since = mark
        self.pending.update(touched)
        lateness = self.settings.allowed_lateness_seconds
        closed = sorted(w for w in self.pending if w[0] + w[1] + lateness <= watermark)
        scored = []
        span = self.settings.drift_sliding_windows
        for start, seconds in closed:
            scored += self._score(start, start, seconds)
            if span > 1:  # the sliding window ending with this one, hopping by one window
                self._score(start - (span - 1) * seconds, start, span * seconds)
            self.pending.discard((start, seconds))
        return scored

    def _score(
        self, first: float, last: float, seconds: int
    ) -> list[tuple[str, str, float, list[DriftRow]]]:
        out = []
        for (model, version), rows in self.store.window_rows(first, last).items():
            ids = {
                bucket.rpartition(":")[0] if ":" in bucket else bucket
                for name, bucket, _, _ in rows
                if name.startswith(("hist:", "emb:"))
            }
            baselines = self._baselines_for(ids)
            n_bins = {
                (bid, f): p.bins.n_bins
                for bid in ids
                if bid in baselines
                for f, p in baselines[bid].features.items()
            }
            window = window_histograms(rows, n_bins)
            drift_rows = score_window(
                baselines,
                window,
                min_samples=self.settings.drift_min_samples,
                thresholds=self.thresholds,
                feature_thresholds=self.feature_thresholds,
            )
            drift_rows = embedding_rows(
                {b: baselines[b] for b in ids if b in baselines},
                rows,
                drift_rows,
                window,
                min_samples=self.settings.drift_min_samples,
            )
            if not drift_rows:  # events only, nothing binned: counted, not scored
                continue
            self.store.write_drift_rows(first, seconds, model, version, drift_rows, time.time())
            out.append((model, version, first, drift_rows))
        return out
