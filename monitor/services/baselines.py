"""The baselines a worker folds with: loaded before its first batch, reloaded as soon as they change.

Every batch that holds inference events asks the store for the baselines' generation (row count
and newest update of the ``baselines`` table: one small query) and reloads the active baselines
only when it moved. So a worker folds nothing before its baselines are loaded (after a start, a
restart or a rebalance), and a baseline built, replaced or deleted while it runs is used from the
next batch on. A window folded partly under another baseline (or none) is marked ``partial`` when
scored (see :mod:`monitor.drift.windows`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from monitor.adapters.drift_store import DriftStore
from monitor.baseline import Baseline

__all__ = ["BaselineCache"]

log = logging.getLogger("monitor.worker")


class BaselineCache:
    """Active baselines by (model, version), as of the store's current generation."""

    def __init__(self, store: DriftStore) -> None:
        self.store = store
        self.generation: tuple[int, float] | None = None
        self.active: dict[tuple[str, str], tuple[str, Baseline]] = {}

    def current(self) -> Mapping[tuple[str, str], tuple[str, Baseline]]:
        """The active baselines, reloaded when the store's generation changed; raises StoreError."""
        generation = self.store.baseline_generation()
        if generation != self.generation:
            active = self.store.active_baselines()  # read after the generation: a newer one only reloads again
            changed = {k: v[0] for k, v in active.items()} != {k: v[0] for k, v in self.active.items()}
            self.active, self.generation = active, generation
            if changed:
                log.info("baselines loaded: %s", ", ".join(f"{m}/{v}={bid}" for (m, v), (bid, _) in
                                                            sorted(active.items())) or "none")
        return self.active

    def forget(self) -> None:
        """Reload on the next call (after a store error)."""
        self.generation = None
