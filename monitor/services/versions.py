"""Per-version state of the ingest side, bounded: active baselines and baseline-sampling counts.

Baselines are current before every batch that folds inferences: :meth:`VersionStates.refresh` reads
the baselines' generation (row count and newest update of the ``baselines`` table: one small query)
and re-reads the held versions' baselines only when it moved, so a baseline built, replaced or
deleted while the worker runs is used from the next batch on.

Only the ``max_versions`` most recently seen model versions are held (:class:`~monitor.bounded.LRUMap`);
a version seen again after eviction has its baseline read back in the same batch and its drift
histograms folded, so eviction costs a query, never data. Store reads (``fetch*``, ``refresh``) are
blocking; the worker calls every method from one batch at a time, never two at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.adapters.drift_store import DriftStore
from monitor.bounded import LRUMap
from monitor.drift.baseline import Baseline
from monitor.drift.embedding_windows import fold_embeddings
from monitor.drift.embeddings import Embedder
from monitor.drift.windows import fold_drift
from monitor.folding.partials import Partial, merge_partials
from monitor.folding.pipeline import FOLD_CHUNK_EVENTS, BatchOutput, FoldColumns

__all__ = ["VersionStates"]

log = logging.getLogger("monitor.drift")
VersionKey = tuple[str, str]
Loaded = dict[VersionKey, tuple[str, Baseline] | None]  # None: the version has no active baseline


class VersionStates:
    def __init__(
        self,
        store: DriftStore,
        *,
        max_versions: int = 1000,
        baseline_samples: int = 1000,
        embedder: Embedder | None = None,
        embedding_rate: float = 0.0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.embedding_rate = embedding_rate
        self.baseline_samples = baseline_samples
        self._baselines: LRUMap[VersionKey, tuple[str, Baseline] | None] = LRUMap(max_versions)
        self._samples_sent: dict[VersionKey, int] = {}  # only for versions in _baselines
        self.generation: tuple[int, float] | None = None  # of the baselines table when last read
        self.evicted = 0
        self._warned: set[str] = set()  # baseline ids whose embedder mismatch was logged

    def __len__(self) -> int:
        return len(self._baselines)

    def baselines(self) -> dict[VersionKey, tuple[str, Baseline]]:
        """The active baselines of the tracked versions (what the drift fold needs)."""
        return {k: v for k, v in self._baselines.items_unordered() if v is not None}

    def untracked(self, out: BatchOutput) -> list[VersionKey]:
        """Versions in a batch's inferences that are not in memory; marks the others as used."""
        keys = set(out.tally.counts)
        for key in keys & self._baselines.keys():
            self._baselines.touch(key)
        return sorted(keys - self._baselines.keys())

    # -- blocking store reads (store thread) ------------------------------------------------
    def fetch(self, keys: Sequence[VersionKey]) -> Loaded:
        """The active baseline (or None) of each of ``keys``."""
        ids = self.store.active_baseline_ids(keys)
        bodies = self.store.load_baselines(set(ids.values())) if ids else {}
        return {
            k: (ids[k], bodies[ids[k]]) if k in ids and ids[k] in bodies else None for k in keys
        }

    def fetch_changes(self, current: Mapping[VersionKey, str | None]) -> Loaded:
        """Versions of ``current`` (key -> baseline id held) whose active baseline changed since."""
        ids = self.store.active_baseline_ids(list(current))
        changed = [k for k, held in current.items() if ids.get(k) != held]
        bodies = self.store.load_baselines({ids[k] for k in changed if k in ids}) if changed else {}
        return {
            k: (ids[k], bodies[ids[k]]) if k in ids and ids[k] in bodies else None for k in changed
        }

    def refresh(self, held: Mapping[VersionKey, str | None]) -> Loaded:
        """The held versions whose active baseline changed, when the baselines' generation moved since
        the last call (else nothing); ``held`` is :meth:`held_ids`, taken on the caller's thread."""
        generation = (
            self.store.baseline_generation()
        )  # read first: a change after it only reloads again
        if generation == self.generation:
            return {}
        changed = self.fetch_changes(held) if held else {}
        self.generation = generation
        return changed

    def forget(self) -> None:
        """Read the baselines again on the next :meth:`refresh` (after a store error)."""
        self.generation = None

    # -- changes (caller's thread) ----------------------------------------------------------
    def held_ids(self) -> dict[VersionKey, str | None]:
        return {k: (v[0] if v else None) for k, v in self._baselines.items_unordered()}

    def apply(self, loaded: Loaded, *, only_held: bool = False) -> None:
        """Hold ``loaded``; with ``only_held`` (a refresh) versions evicted meanwhile stay out."""
        for key, value in loaded.items():
            if value is not None:
                self._warn_other_embedder(key, *value)
            if key in self._baselines:
                self._baselines.replace(key, value)
            elif not only_held:
                self._baselines[key] = value

    def _warn_other_embedder(self, key: VersionKey, baseline_id: str, baseline: Baseline) -> None:
        """Once per baseline: its embedding profile is another embedder's, so no embedding rows."""
        profile = baseline.embedding
        if (
            self.embedder is None
            or profile is None
            or profile.embedder == self.embedder.name
            or baseline_id in self._warned
        ):
            return
        if len(self._warned) < 10_000:
            self._warned.add(baseline_id)
        log.warning(
            "baseline %s of %s/%s was built with embedder %r, this worker runs %r: its prompts get "
            "no embedding drift rows (rebuild the baseline with MONITOR_EMBEDDER=%s, see "
            "docs/embeddings.md)",
            baseline_id,
            *key,
            profile.embedder,
            self.embedder.name,
            self.embedder.name,
        )

    def fold_loaded(self, out: BatchOutput, loaded: Loaded, window_seconds: int) -> None:
        """Drift partials of a batch's on-time inferences whose baseline was just loaded."""
        baselines = {k: v for k, v in loaded.items() if v is not None}
        if not baselines:
            return
        for source in out.sources.values():
            if source.kind != "inference":
                continue
            late = source.late or [False] * len(source.valid)
            folded: list[Partial] = []
            # in chunks, as process_batch folds: a worker's first batch is its largest
            for first in range(0, len(source.valid), FOLD_CHUNK_EVENTS):
                last = first + FOLD_CHUNK_EVENTS
                events = [
                    e
                    for e, is_late in zip(source.valid[first:last], late[first:last])
                    if not is_late and (e.model, e.model_version) in baselines
                ]
                if events:
                    folded += self.drift_partials(
                        baselines, events, FoldColumns.of(events, window_seconds), window_seconds
                    )
            source.partials += (
                merge_partials(folded) if len(source.valid) > FOLD_CHUNK_EVENTS else folded
            )

    def fold_drift(
        self, events: Sequence[Any], columns: FoldColumns, window_seconds: int
    ) -> list[Partial]:
        """The batch's drift fold (an ``InferenceFold``): :meth:`drift_partials` under the held
        baselines, nothing while none is held."""
        baselines = self.baselines()
        return self.drift_partials(baselines, events, columns, window_seconds) if baselines else []

    def drift_partials(
        self,
        baselines: Mapping[VersionKey, tuple[str, Baseline]],
        events: Sequence[Any],
        columns: FoldColumns,
        window_seconds: int,
    ) -> list[Partial]:
        """Histogram, data-quality and (with an embedder) prompt-embedding partials of ``events``."""
        texts = [e.input_text for e in events]
        starts, models, versions, times = (
            columns.starts,
            columns.models,
            columns.versions,
            columns.times,
        )
        out = fold_drift(
            baselines,
            [e.features for e in events],
            texts,
            starts,
            models,
            versions,
            times,
            window_seconds,
            grouped=columns.grouped,
        )
        if self.embedder is not None and self.embedding_rate > 0:
            out += fold_embeddings(
                baselines,
                self.embedder,
                texts,
                [e.request_id for e in events],
                starts,
                models,
                versions,
                times,
                window_seconds,
                rate=self.embedding_rate,
            )
        return out

    def take_samples(self, events: Iterable[Any]) -> list[Any]:
        """The events to sample for automatic baselines: the first ``baseline_samples`` of each tracked
        version without one. A version evicted and seen again may be sampled again (the sample table
        keeps one row per request id)."""
        short = {  # versions held without a baseline, with samples still to send
            key: self.baseline_samples - self._samples_sent.get(key, 0)
            for key, held in self._baselines.items_unordered()
            if held is None and self._samples_sent.get(key, 0) < self.baseline_samples
        }
        wanted: list[Any] = []
        if not short:  # the usual batch: every version has its baseline, no event is looked at
            return wanted
        for event in events:
            key = (event.model, event.model_version)
            if short.get(key, 0) > 0:
                short[key] -= 1
                self._samples_sent[key] = self._samples_sent.get(key, 0) + 1
                wanted.append(event)
        return wanted

    def trim(self) -> int:
        """Drop the least recently used versions past the cap; how many went."""
        evicted = self._baselines.trim()
        for key in evicted:
            self._samples_sent.pop(key, None)
        self.evicted += len(evicted)
        return len(evicted)
