"""Embedding partials of a batch, and the merged sums of a window read back for scoring.

:func:`fold_embeddings` embeds the sampled prompts of a batch in **one** embedder call, for the
model versions whose baseline has an :class:`~monitor.drift.embeddings.EmbeddingProfile` made
with the same embedder, and folds sums per (window, model, version). :func:`window_embedding_sums`
reads the merged ``emb:*`` rows of a window back into vectors.

>>> rows = [("emb:phi", "b1:0", 2.0, 0.5), ("emb:phi", "b1:1", 2.0, -0.5), ("emb:sq", "b1", 2.0, 1.0),
...         ("emb:sum", "b1:0", 2.0, 0.2), ("hist:x", "b1:0", 1.0, 1.0)]
>>> sums = window_embedding_sums(rows, {"b1": (2, 1)})
>>> sums["b1"].phi_sum.tolist(), sums["b1"].phi_sq, sums["b1"].n
([0.5, -0.5], 1.0, 2)
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.drift.baseline import Baseline
from monitor.drift.embeddings import (
    EMBEDDING_FEATURE,
    PHI,
    SQUARES,
    SUMS,
    TOPIC_FEATURE,
    Embedder,
    EmbeddingProfile,
    sampled,
    score_embedding,
)
from monitor.drift.topics import assign
from monitor.drift.windows import HIST_PREFIX, DriftRow, WindowHistograms
from monitor.folding.partials import Partial

__all__ = [
    "WindowEmbeddingSums",
    "embedding_rows",
    "fold_embeddings",
    "grown_topic",
    "window_embedding_sums",
]


def _group_partials(
    key: tuple[float, str, str],
    baseline_id: str,
    profile: EmbeddingProfile,
    embeddings: np.ndarray,
    latest: float,
    window_seconds: int,
) -> list[Partial]:
    start, model, version = key
    reduced = profile.reduce_embeddings(embeddings)
    phi = profile.kernel().features(reduced)
    n = float(len(reduced))

    def part(name: str, bucket: str, count: float, total: float) -> Partial:
        return Partial(start, window_seconds, model, version, name, bucket, count, total, latest)

    out = [part(PHI, f"{baseline_id}:{j}", n, float(v)) for j, v in enumerate(phi.sum(0).tolist())]
    out.append(part(SQUARES, baseline_id, n, float(np.sum(phi * phi))))
    out += [
        part(SUMS, f"{baseline_id}:{j}", n, float(v)) for j, v in enumerate(reduced.sum(0).tolist())
    ]
    topics = np.bincount(assign(reduced, profile.centroids), minlength=len(profile.centroids))
    for index in np.flatnonzero(topics).tolist():
        c = float(topics[index])
        out.append(part(HIST_PREFIX + TOPIC_FEATURE, f"{baseline_id}:{index}", c, c))
    return out


def fold_embeddings(
    baselines: Mapping[tuple[str, str], tuple[str, Baseline]],
    embedder: Embedder,
    texts: Sequence[str | None],
    request_ids: Sequence[str],
    starts: np.ndarray,
    models: Sequence[str],
    versions: Sequence[str],
    times: np.ndarray,
    window_seconds: int,
    *,
    rate: float,
) -> list[Partial]:
    """Embedding partials of the sampled events with a prompt whose baseline has a profile of
    ``embedder``; events without ``input_text`` (or an empty one) are not embedded, nor a prompt the
    embedder gives a non-finite vector."""
    candidates: list[int] = []  # hashed below only if they could be embedded at all
    for i, (text, model, version) in enumerate(zip(texts, models, versions)):
        if not text:
            continue
        entry = baselines.get((model, version))
        profile = entry[1].embedding if entry else None
        if profile and profile.embedder == embedder.name:
            candidates.append(i)
    if not candidates:
        return []
    chosen = sampled([request_ids[i] for i in candidates], rate)
    rows = [i for i, pick in zip(candidates, chosen.tolist()) if pick]
    if not rows:
        return []
    vectors = np.asarray(embedder.embed([texts[i] or "" for i in rows]), dtype=np.float64)
    usable = np.asarray(
        np.isfinite(vectors).all(axis=1), dtype=np.bool_
    )  # an embedder may give NaN (no token it knows)
    if not usable.all():
        rows, vectors = [r for r, ok in zip(rows, usable.tolist()) if ok], vectors[usable]
    groups: dict[tuple[float, str, str], list[int]] = defaultdict(list)
    for position, i in enumerate(rows):
        groups[(float(starts[i]), models[i], versions[i])].append(position)
    out: list[Partial] = []
    for key, positions in groups.items():
        baseline_id, baseline = baselines[key[1:]]
        assert baseline.embedding is not None  # chosen above
        latest = float(times[[rows[p] for p in positions]].max())
        out += _group_partials(
            key, baseline_id, baseline.embedding, vectors[positions], latest, window_seconds
        )
    return out


@dataclass(frozen=True, eq=False)
class WindowEmbeddingSums:
    """Merged sums of one window under one baseline."""

    phi_sum: np.ndarray
    phi_sq: float
    reduced_sum: np.ndarray
    n: int


def window_embedding_sums(
    rows: Sequence[tuple[str, str, float, float]], sizes: Mapping[str, tuple[int, int]]
) -> dict[str, WindowEmbeddingSums]:
    """Per baseline id, the window's sums; ``sizes[baseline_id]`` is ``(n_features, reduced_dim)``.
    Buckets of unknown baselines or out of range are dropped."""
    phi: dict[str, np.ndarray] = {}
    red: dict[str, np.ndarray] = {}
    sq: dict[str, tuple[float, float]] = {}
    for name, bucket, count, total in rows:
        if name == SQUARES and bucket in sizes:
            n, q = sq.get(bucket, (0.0, 0.0))
            sq[bucket] = (n + count, q + total)
        elif name in (PHI, SUMS):
            baseline_id, _, index = bucket.rpartition(":")
            if baseline_id not in sizes or not index.isdigit():
                continue
            size = sizes[baseline_id][0 if name == PHI else 1]
            if int(index) < size:
                target = phi if name == PHI else red
                target.setdefault(baseline_id, np.zeros(size))[int(index)] += total
    return {
        b: WindowEmbeddingSums(
            phi.get(b, np.zeros(sizes[b][0])), q, red.get(b, np.zeros(sizes[b][1])), round(n)
        )
        for b, (n, q) in sq.items()
    }


def grown_topic(names: Sequence[str], current: np.ndarray, reference: np.ndarray) -> str:
    """The topic whose share grew most, in words.

    >>> grown_topic(["billing, invoice", "login, password"], np.array([5, 15, 0, 0]), np.array([8, 2, 0, 0]))
    "topic 'login, password' grew from 20% to 75%"
    """
    k = len(names)
    now = current[:k] / max(float(current.sum()), 1.0)
    before = reference[:k] / max(float(reference.sum()), 1.0)
    j = int(np.argmax(now - before))
    return f"topic '{names[j]}' grew from {before[j]:.0%} to {now[j]:.0%}"


def embedding_rows(
    baselines: Mapping[str, Baseline],
    rows: Sequence[tuple[str, str, float, float]],
    drift_rows: Sequence[DriftRow],
    window: WindowHistograms,
    *,
    min_samples: int,
) -> list[DriftRow]:
    """``drift_rows`` with the grown topic as the ``prompt_topic`` row's detail, plus one
    ``prompt_embedding`` row for the baseline that embedded most of the window's prompts: its
    severity comes from MMD² and the centroid distance (in ``detail``); PSI, KL and JS stay empty."""
    out = []
    for row in drift_rows:
        base = baselines.get(row.baseline_id)
        scored = row.psi is not None  # too few prompts: nothing grew, whatever the counts
        if (
            scored
            and row.feature == TOPIC_FEATURE
            and base is not None
            and base.embedding is not None
        ):
            current = window.counts[TOPIC_FEATURE][row.baseline_id]
            reference = base.features[TOPIC_FEATURE].reference_histogram()
            row = dataclasses.replace(
                row,
                # a score within chance keeps that reason; else the topic that grew
                detail=row.detail or grown_topic(base.embedding.topic_names, current, reference),
                n_events=row.n_current,  # scored on the sample (SAMPLED_FEATURES)
            )
        out.append(row)
    sizes = {
        b: (p.embedding.n_features, p.embedding.reduced_dim)
        for b, p in baselines.items()
        if p.embedding is not None
    }
    sums = window_embedding_sums(rows, sizes)
    if not sums:
        return out
    baseline_id = max(sums, key=lambda b: (sums[b].n, b))
    s, profile = sums[baseline_id], baselines[baseline_id].embedding
    assert profile is not None
    n_events = s.n  # scored on the sample (SAMPLED_FEATURES)
    if s.n < max(min_samples, 2):
        out.append(
            DriftRow(EMBEDDING_FEATURE, baseline_id, None, None, None, s.n, profile.n_reference,
                     "insufficient", 0.0, 0.0, 0.0, n_events=n_events)
        )  # fmt: skip
        return out
    score = score_embedding(profile, s.phi_sum, s.phi_sq, s.reduced_sum, s.n)
    out.append(
        DriftRow(EMBEDDING_FEATURE, baseline_id, None, None, None, s.n, profile.n_reference,
                 score.severity, 0.0, 0.0, 0.0, n_events=n_events, detail=score.detail())
    )  # fmt: skip
    return out
