"""Embeddings in automatic baselines: what a baseline sample keeps, and the profile built from it.

A sampled event keeps its prompt's **reduced** embedding (never the embedder's vector, never the
text) and its keywords (:func:`~monitor.drift.topics.prompt_keywords`: sorted content words, to
name clusters); the samples are deleted once the baseline is built. :func:`attach_embeddings`
adds the :class:`~monitor.drift.embeddings.EmbeddingProfile` and the ``prompt_topic`` feature
(reference cluster counts) to a baseline.

>>> import numpy as np
>>> class Toy:
...     name = "toy"
...     def embed(self, texts): return np.array([[len(t), t.count("a")] for t in texts], float)
>>> fields = sample_embedding_fields(Toy(), ["a bill", None, "a login reset"], reduced_dim=2)
>>> fields[1], fields[0]["keywords"], fields[0]["embedder"], len(fields[0]["reduced"])
(None, ['bill'], 'toy', 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from monitor.drift.baseline import Baseline, FeatureProfile
from monitor.drift.binning import CategoricalBins
from monitor.drift.embedding_space import projection, reduce
from monitor.drift.embeddings import TOPIC_FEATURE, Embedder, build_from_reduced
from monitor.drift.topics import assign, prompt_keywords

__all__ = ["EMBEDDING_SEED", "REDUCED_DIM", "attach_embeddings", "sample_embedding_fields"]

EMBEDDING_SEED = 0  # the projection and kernel seed: any worker reduces the same way
REDUCED_DIM = 32


def sample_embedding_fields(
    embedder: Embedder, texts: Sequence[str | None], *, reduced_dim: int = REDUCED_DIM
) -> list[dict[str, Any] | None]:
    """Per text, what its baseline sample keeps (``None`` without text, with an empty one, or with
    a non-finite embedding); one embedder call."""
    present = [i for i, t in enumerate(texts) if t]  # an empty prompt has nothing to embed
    out: list[dict[str, Any] | None] = [None] * len(texts)
    if not present:
        return out
    vectors = np.asarray(embedder.embed([texts[i] or "" for i in present]), dtype=np.float64)
    usable = np.asarray(
        np.isfinite(vectors).all(axis=1), dtype=np.bool_
    )  # an embedder may give NaN (no token it knows)
    present, vectors = [i for i, ok in zip(present, usable.tolist()) if ok], vectors[usable]
    if not present:
        return out
    matrix = projection(vectors.shape[1], reduced_dim, EMBEDDING_SEED)
    reduced = reduce(vectors, matrix)
    for row, i in enumerate(present):
        out[i] = {
            "embedder": embedder.name,
            "input_dim": int(vectors.shape[1]),
            "reduced": [round(v, 6) for v in reduced[row].tolist()],
            "keywords": list(prompt_keywords(texts[i] or "")),
        }
    return out


def attach_embeddings(
    baseline: Baseline, records: Sequence[Mapping[str, Any]], *, topics: int = 8
) -> Baseline:
    """``baseline`` with an embedding profile from the records' ``embedding`` fields (the most
    common embedder's), or unchanged when fewer than 4 records carry one."""
    fields = [r["embedding"] for r in records if isinstance(r.get("embedding"), Mapping)]
    if not fields:
        return baseline
    names = [(f["embedder"], int(f["input_dim"])) for f in fields]
    embedder, input_dim = max(set(names), key=names.count)
    chosen = [f for f, key in zip(fields, names) if key == (embedder, input_dim)]
    if len(chosen) < 4:
        return baseline
    reduced = np.array([f["reduced"] for f in chosen], dtype=np.float64)
    profile = build_from_reduced(
        embedder,
        input_dim,
        reduced,
        [tuple(f.get("keywords", ())) for f in chosen],
        topics=topics,
        seed=EMBEDDING_SEED,
    )
    counts = np.bincount(assign(reduced, profile.centroids), minlength=len(profile.centroids))
    topic = FeatureProfile(
        TOPIC_FEATURE,
        "categorical",
        CategoricalBins(TOPIC_FEATURE, profile.topic_names),
        (*counts.tolist(), 0, 0),
        len(chosen),
        None,
        None,
        derived_from_text=True,
    )
    features = dict(sorted({**baseline.features, TOPIC_FEATURE: topic}.items()))
    return dataclasses.replace(baseline, features=features, embedding=profile)
