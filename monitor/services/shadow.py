"""Shadow comparisons in the worker: pair production and shadow answers, and the leader's results job.

:class:`ShadowStage` runs on each batch (in the store thread, before the batch's partials are
written): production and canary inferences go into a join store as the first side and shadow
inferences as the second (one per shadow version, keyed ``model \\t request_id``). The join store
returns each pair exactly once, to the batch of the side that arrived second, and returns the same
pairs when that batch is replayed; the pair partials go into that batch's partials, so they are
written exactly once with its offsets. Unpaired answers are forgotten after ``MONITOR_SHADOW_TTL``
and counted by :meth:`ShadowStage.expire`.

:class:`ShadowResults` (leader) rewrites ``shadow_results`` from all the merged partials.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from monitor.adapters.clickhouse_store import ClickHouseStore
from monitor.adapters.inserted_since import inserted_since, next_mark
from monitor.adapters.join_store import JoinStore
from monitor.adapters.shadow_store import RESULT_COLUMNS, read_shadow_sums, result_rows
from monitor.catalogue import SHADOW_PREFIX
from monitor.drift.embeddings import Embedder, sampled
from monitor.folding.pipeline import BatchOutput
from monitor.shadow.fold import fold_pairs, pair_sums
from monitor.shadow.pairs import Side, answer_meanings, decode_side, encode_side, side_of
from monitor.shadow.report import ShadowReport, shadow_report

__all__ = ["ShadowResults", "ShadowStage"]

SIDES = {
    "inference": "production",
    "feedback": "shadow",
}  # join-store kinds -> the side they hold here


def _side(e, meaning: list[float] | None = None) -> Side:
    return side_of(
        e.prediction,
        e.output_text,
        e.latency_ms,
        e.output_tokens,
        e.error,
        e.model_version,
        meaning=meaning,
    )


def _key(model: str, request_id: str) -> str:
    return f"{model}\t{request_id}"


class ShadowStage:
    def __init__(
        self,
        join_store: JoinStore,
        *,
        window_seconds: int,
        embedder: Embedder | None = None,
        embedding_rate: float = 0.0,
    ) -> None:
        self.join_store = join_store
        self.window = window_seconds
        self.embedder = embedder
        self.embedding_rate = embedding_rate

    def _meanings(self, events: list) -> list[list[float] | None]:
        """Per event, its answer's meaning when sampled (by request id: both sides of a pair agree)
        and answered with text; one embedder call for the whole list."""
        out: list[list[float] | None] = [None] * len(events)
        if self.embedder is None or self.embedding_rate <= 0 or not events:
            return out
        chosen = sampled([e.request_id for e in events], self.embedding_rate)
        rows = [
            i
            for i, e in enumerate(events)
            if chosen[i] and e.error is None and e.output_text is not None
        ]
        if rows:
            vectors = self.embedder.embed([events[i].output_text for i in rows])
            for i, meaning in zip(rows, answer_meanings(np.asarray(vectors, dtype=np.float64))):
                out[i] = meaning
        return out

    def process(self, out: BatchOutput, now: float) -> int:
        """Add the pair partials of each inference source to its partials; the number of pairs.

        Production answers wait only for models with shadow traffic: every shadow answer marks its
        model in the join store (shared by all workers) for the TTL, marks are set before this
        batch's production answers are looked at, and the production answers of unmarked models
        are neither encoded nor stored (most models have no shadow: their answers cost nothing here).
        """
        sources = [
            s for s in out.sources.values() if s.kind == "inference" and (s.valid or s.shadow)
        ]
        shadowed = sorted({e.model for s in sources for e in s.shadow})
        if shadowed:
            self.join_store.mark(shadowed, now)
        models = sorted({e.model for s in sources for e in s.valid})
        compared = self.join_store.marked(models, now) if models else set()
        n = 0
        for source in sources:
            pairs: list[tuple[str, float, Side, Side]] = []
            waiting = (
                [(e, i) for e, i in zip(source.valid, source.event_ids) if e.model in compared]
                if compared
                else []
            )
            meanings = self._meanings([*(e for e, _ in waiting), *source.shadow])
            production = [
                (_key(e.model, e.request_id), encode_side(_side(e, m), e.timestamp, i))
                for (e, i), m in zip(waiting, meanings)
            ]
            for rid, stored, shadows in (
                self.join_store.add_inferences(production, now) if production else ()
            ):
                p, t = decode_side(stored)
                pairs += [(rid.split("\t", 1)[0], t, p, decode_side(s)[0]) for s in shadows]
            shadow = [
                (
                    _key(e.model, e.request_id),
                    e.model_version,
                    encode_side(_side(e, m), e.timestamp, i),
                )
                for e, i, m in zip(source.shadow, source.shadow_ids, meanings[len(waiting) :])
            ]
            # a shadow answer past the store's max_feedback versions of one request is not compared
            added = self.join_store.add_feedback(shadow, now).matches if shadow else ()
            for rid, stored, s in added:
                p, t = decode_side(stored)
                pairs.append((rid.split("\t", 1)[0], t, p, decode_side(s)[0]))
            source.partials += fold_pairs(pairs, self.window)
            n += len(pairs)
        return n

    def expire(self, now: float) -> dict[str, int]:
        """Forget answers older than the TTL; the unpaired ones by side (``production``, ``shadow``)."""
        return {SIDES[kind]: count for kind, count in self.join_store.expire(now).items()}


class ShadowResults:
    def __init__(self, store: ClickHouseStore, margins: Mapping[str, float]) -> None:
        self.store = store
        self.margins = dict(margins)
        # the last run's reports, and the mark of the partials it read (monitor.adapters.inserted_since)
        self.reports: list[ShadowReport] | None = None
        self.since = 0.0

    def run(self, now: float) -> list[ShadowReport]:
        """Every comparison's report, written to ``shadow_results`` (latest row wins). With no
        shadow partial inserted since the last run, that run's reports again and nothing written."""
        db = self.store.db
        if self.reports is not None and not inserted_since(
            self.store, db, SHADOW_PREFIX, self.since
        ):
            return self.reports
        mark = next_mark(now)
        reports = [
            shadow_report(s, self.margins) for s in pair_sums(read_shadow_sums(self.store, db))
        ]
        if reports:
            self.store.insert("shadow_results", result_rows(reports, now), RESULT_COLUMNS)
        self.reports, self.since = reports, mark
        return reports
