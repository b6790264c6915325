"""Prompt-embedding drift: the reference profile, the window fold and the window score.

An :class:`Embedder` turns a batch of texts into vectors (one call per batch). The worker embeds
a deterministic sample of prompts (:func:`sampled`, by request id, so a replay samples the same
ones), reduces them (:mod:`monitor.drift.embedding_space`) and folds per (window, model, version)
sums into partials (:func:`~monitor.drift.embedding_windows.fold_embeddings`): ``emb:phi``
(random Fourier feature sums, bucket ``<baseline>:<j>``), ``emb:sq`` (sum of ``||φ||²``),
``emb:sum`` (reduced-vector sums) and ``hist:prompt_topic`` (the nearest k-means cluster, scored
with PSI like any categorical feature). Embeddings are never stored. Stage 2 merges the sums and
:func:`score_embedding` compares them with the baseline's :class:`EmbeddingProfile` (reference
sums, centroids, cluster names and the thresholds calibrated on the reference).

>>> from monitor.drift.embeddings import sampled
>>> sampled(["a", "b", "c"], 1.0).tolist(), sampled(["a", "b"], 0.0).tolist()
([True, True, True], [False, False])
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from monitor.drift.embedding_space import (
    RandomFourierFeatures,
    centroid_distance2,
    feature_sums,
    mmd2_from_sums,
    null_scale,
    projection,
    reduce,
)
from monitor.drift.topics import kmeans, merge_same_topics, name_clusters

__all__ = [
    "EMBEDDING_FEATURE",
    "SAMPLED_FEATURES",
    "TOPIC_FEATURE",
    "Embedder",
    "EmbeddingProfile",
    "EmbeddingScore",
    "build_embedding_profile",
    "sampled",
    "score_embedding",
]

EMBEDDING_FEATURE = "prompt_embedding"  # the drift_windows row of MMD² and centroid distance
TOPIC_FEATURE = "prompt_topic"  # the categorical feature of cluster shares
# Rows scored on the embedding sample: their n_events is the sample's size, so they are never
# "partial", and a window's drift coverage is judged without them.
SAMPLED_FEATURES = (EMBEDDING_FEATURE, TOPIC_FEATURE)
PHI, SQUARES, SUMS = "emb:phi", "emb:sq", "emb:sum"
SIGNIFICANT_FACTOR = 3.0  # significant: 3× the 99th percentile of the reference's own variation


class Embedder(Protocol):
    """Turns texts into vectors: ``(len(texts), dim)`` floats, one call per batch."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def sampled(request_ids: Sequence[str], rate: float) -> np.ndarray:
    """Which events to embed: a hash of the request id below ``rate`` (replays pick the same).

    >>> int(sampled([str(i) for i in range(10_000)], 0.1).sum())
    1029
    """
    if rate >= 1.0:
        return np.ones(len(request_ids), dtype=bool)
    if rate <= 0.0:
        return np.zeros(len(request_ids), dtype=bool)
    cut = int(rate * 2**64)
    digests = (hashlib.blake2b(r.encode(), digest_size=8).digest() for r in request_ids)
    return np.fromiter((int.from_bytes(d, "big") < cut for d in digests), bool, len(request_ids))


@dataclass(frozen=True, eq=False)
class EmbeddingProfile:
    """What a baseline keeps of its prompts' embeddings (no embedding and no text):

    the reduction (embedder, dimensions, seed), the kernel features, the reference sums, the
    k-means centroids and their names, and the calibrated null scales of both statistics
    (threshold for a window of ``n`` = quantile × ``null_scale(n, n_reference)``)."""

    embedder: str
    input_dim: int
    reduced_dim: int
    seed: int
    n_features: int
    bandwidth: float
    n_reference: int
    phi_sum: np.ndarray
    phi_sq: float
    reduced_sum: np.ndarray
    centroids: np.ndarray
    topic_names: tuple[str, ...]
    mmd2_null: float  # 99th percentile of MMD² / null_scale on reference splits
    distance2_null: float  # the same for the squared centroid distance

    def projection(self) -> np.ndarray:
        return projection(self.input_dim, self.reduced_dim, self.seed)

    def kernel(self) -> RandomFourierFeatures:
        if not hasattr(self, "_kernel"):  # built once per profile, not per batch
            kernel = RandomFourierFeatures(
                self.reduced_dim, self.n_features, self.bandwidth, self.seed + 1
            )
            object.__setattr__(self, "_kernel", kernel)
        cached: RandomFourierFeatures = self._kernel  # type: ignore[attr-defined]
        return cached

    def reduce_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """The embedder's vectors in this profile's reduced space."""
        if not hasattr(self, "_matrix"):  # built once per profile, not per batch
            object.__setattr__(self, "_matrix", self.projection())
        matrix: np.ndarray = self._matrix  # type: ignore[attr-defined]
        return reduce(embeddings, matrix)

    def to_dict(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder,
            "input_dim": self.input_dim,
            "reduced_dim": self.reduced_dim,
            "seed": self.seed,
            "n_features": self.n_features,
            "bandwidth": self.bandwidth,
            "n_reference": self.n_reference,
            "phi_sum": self.phi_sum.tolist(),
            "phi_sq": self.phi_sq,
            "reduced_sum": self.reduced_sum.tolist(),
            "centroids": self.centroids.tolist(),
            "topic_names": list(self.topic_names),
            "mmd2_null": self.mmd2_null,
            "distance2_null": self.distance2_null,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EmbeddingProfile:
        return cls(
            str(raw["embedder"]),
            int(raw["input_dim"]),
            int(raw["reduced_dim"]),
            int(raw["seed"]),
            int(raw["n_features"]),
            float(raw["bandwidth"]),
            int(raw["n_reference"]),
            np.array(raw["phi_sum"], dtype=np.float64),
            float(raw["phi_sq"]),
            np.array(raw["reduced_sum"], dtype=np.float64),
            np.array(raw["centroids"], dtype=np.float64).reshape(-1, int(raw["reduced_dim"])),
            tuple(raw["topic_names"]),
            float(raw["mmd2_null"]),
            float(raw["distance2_null"]),
        )


def _calibrate(
    phi: np.ndarray, reduced: np.ndarray, *, draws: int, seed: int
) -> tuple[float, float]:
    """99th percentiles of both statistics over splits of the reference into a window-sized part
    and the rest (independent halves, unlike a subsample against the whole), over the null scale."""
    n = len(phi)
    m = min(max(n // 4, 2), 200)
    rng = np.random.default_rng(seed + 2)
    mmd, dist = [], []
    for _ in range(draws):
        order = rng.permutation(n)
        w, r = order[:m], order[m:]
        scale = null_scale(len(w), len(r))
        mmd.append(mmd2_from_sums(*feature_sums(phi[w]), *feature_sums(phi[r])) / scale)
        dist.append(
            centroid_distance2(reduced[w].sum(0), len(w), reduced[r].sum(0), len(r)) / scale
        )
    return float(np.quantile(mmd, 0.99)), float(np.quantile(dist, 0.99))


def build_embedding_profile(
    embedder: str,
    embeddings: np.ndarray,
    keywords: Sequence[Sequence[str]],
    *,
    reduced_dim: int = 32,
    n_features: int = 64,
    topics: int = 8,
    seed: int = 0,
    draws: int = 200,
) -> EmbeddingProfile:
    """The profile of reference prompts, from their raw ``embeddings`` and ``keywords``.

    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (40, 8)) + 4, rng.normal(0, 1, (40, 8)) - 4])
    >>> words = [("billing",)] * 40 + [("login",)] * 40
    >>> p = build_embedding_profile("toy", x, words, reduced_dim=4, topics=2, draws=20)
    >>> sorted(p.topic_names), p.n_reference
    (['billing', 'login'], 80)
    """
    matrix = projection(embeddings.shape[1], reduced_dim, seed)
    return build_from_reduced(
        embedder, embeddings.shape[1], reduce(embeddings, matrix), keywords,
        n_features=n_features, topics=topics, seed=seed, draws=draws,
    )  # fmt: skip


def build_from_reduced(
    embedder: str,
    input_dim: int,
    reduced: np.ndarray,
    keywords: Sequence[Sequence[str]],
    *,
    n_features: int = 64,
    topics: int = 8,
    seed: int = 0,
    draws: int = 200,
) -> EmbeddingProfile:
    """:func:`build_embedding_profile` from vectors already reduced with ``projection(input_dim,
    reduced.shape[1], seed)`` (what the worker's baseline samples hold)."""
    if len(reduced) < 4:
        raise ValueError(f"an embedding profile needs at least 4 prompts, got {len(reduced)}")
    kernel = RandomFourierFeatures.fit(reduced, n_features=n_features, seed=seed + 1)
    phi = kernel.features(reduced)
    s, q, n = feature_sums(phi)
    centroids = merge_same_topics(reduced, kmeans(reduced, topics, seed=seed), keywords)
    mmd_null, distance_null = _calibrate(phi, reduced, draws=draws, seed=seed)
    return EmbeddingProfile(
        embedder,
        input_dim,
        reduced.shape[1],
        seed,
        n_features,
        kernel.bandwidth,
        n,
        s,
        q,
        reduced.sum(axis=0),
        centroids,
        name_clusters(reduced, centroids, keywords),
        max(mmd_null, 1e-12),
        max(distance_null, 1e-12),
    )


@dataclass(frozen=True)
class EmbeddingScore:
    """One window against the reference: both statistics, their thresholds and the verdict."""

    mmd2: float
    mmd2_threshold: float
    centroid_distance: float
    distance_threshold: float
    n_current: int
    n_reference: int
    severity: str

    def detail(self) -> str:
        return (
            f"MMD² {self.mmd2:.4f} (threshold {self.mmd2_threshold:.4f}), centroid distance "
            f"{self.centroid_distance:.3f} (threshold {self.distance_threshold:.3f})"
        )


def score_embedding(
    profile: EmbeddingProfile, phi_sum: np.ndarray, phi_sq: float, reduced_sum: np.ndarray, n: int
) -> EmbeddingScore:
    """Score merged window sums; ``moderate`` above a threshold, ``significant`` above 3× one.

    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(0, 1, (200, 8))
    >>> p = build_embedding_profile("toy", x, [()] * 200, reduced_dim=4, topics=2, draws=50)
    >>> z = reduce(rng.normal(0, 1, (100, 8)) + 3, p.projection())
    >>> s, q, n = feature_sums(p.kernel().features(z))
    >>> score_embedding(p, s, q, z.sum(0), n).severity
    'significant'
    """
    scale = null_scale(n, profile.n_reference)
    mmd2 = mmd2_from_sums(phi_sum, phi_sq, n, profile.phi_sum, profile.phi_sq, profile.n_reference)
    d2 = centroid_distance2(reduced_sum, n, profile.reduced_sum, profile.n_reference)
    mmd_limit, d2_limit = profile.mmd2_null * scale, profile.distance2_null * scale
    ratio = max(mmd2 / mmd_limit, d2 / d2_limit)
    severity = "none" if ratio < 1 else "moderate" if ratio < SIGNIFICANT_FACTOR else "significant"
    return EmbeddingScore(
        mmd2, mmd_limit, float(np.sqrt(d2)), float(np.sqrt(d2_limit)), n, profile.n_reference,
        severity,
    )  # fmt: skip
