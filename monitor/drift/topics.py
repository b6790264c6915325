"""Prompt topics: seeded k-means on reference embeddings, and names made of keywords.

:func:`kmeans` (k-means++ start, Lloyd iterations, all randomness from ``seed``) clusters the
baseline's reduced embeddings; :func:`assign` puts each window prompt in its nearest cluster.
:func:`prompt_keywords` keeps the content words of one prompt (lower case, deduplicated, sorted:
the prompt cannot be read back from them); :func:`merge_same_topics` makes one topic of clusters
no keyword tells apart and :func:`name_clusters` names each cluster by the keywords that set its
most typical prompts (those nearest its centroid) apart from the others'.

>>> z = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
>>> centroids = kmeans(z, 2, seed=0)
>>> assign(z, centroids).tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
True
>>> prompt_keywords("How do I reset my password? Password reset!")
('password', 'reset')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from monitor.drift.topic_names import (
    name_topics,
    ranked_terms,
    readable_names,
    same_name_groups,
    typical_keywords,
)

__all__ = [
    "STOPWORDS",
    "assign",
    "kmeans",
    "merge_same_topics",
    "name_clusters",
    "prompt_keywords",
]

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
MAX_KEYWORDS = 16  # per prompt: enough to name clusters, too few to keep the text
STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "your",
        "yours",
        "with",
        "this",
        "that",
        "these",
        "those",
        "from",
        "have",
        "has",
        "had",
        "was",
        "were",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "must",
        "our",
        "ours",
        "they",
        "them",
        "their",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "when",
        "where",
        "all",
        "any",
        "some",
        "each",
        "every",
        "more",
        "most",
        "much",
        "many",
        "such",
        "only",
        "own",
        "same",
        "than",
        "too",
        "very",
        "just",
        "also",
        "into",
        "onto",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "about",
        "above",
        "below",
        "after",
        "before",
        "between",
        "through",
        "during",
        "out",
        "off",
        "its",
        "it's",
        "i'm",
        "i've",
        "don't",
        "can't",
        "won't",
        "did",
        "does",
        "doing",
        "done",
        "been",
        "being",
        "get",
        "got",
        "please",
        "hello",
        "thanks",
        "thank",
        "hi",
        "hey",
        "would",
        "like",
        "need",
        "want",
        "help",
        "know",
        "tell",
        "let",
        "my",
        "me",
        "mine",
        "we",
        "us",
        "he",
        "she",
        "him",
        "her",
        "his",
        "hers",
        "one",
        "two",
        "yes",
        "no",
    ]
)


def prompt_keywords(text: str) -> tuple[str, ...]:
    """Distinct lower-case words of 3+ letters that are not stopwords, sorted, at most 16.

    >>> prompt_keywords("Why was my card charged twice this month?")
    ('card', 'charged', 'month', 'twice')
    """
    words = {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}
    return tuple(sorted(words)[:MAX_KEYWORDS])


def _squared_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    sq = np.sum(points**2, axis=1)[:, None] + np.sum(centroids**2, axis=1)[None, :]
    out: np.ndarray = np.maximum(sq - 2 * points @ centroids.T, 0.0)
    return out


def kmeans(points: np.ndarray, k: int, *, seed: int, iterations: int = 50) -> np.ndarray:
    """``k`` centroids (fewer when there are fewer distinct points), k-means++ then Lloyd.

    The same points and seed give the same centroids, in the same order.

    >>> kmeans(np.array([[0.0], [0.0], [1.0]]), 5, seed=3).tolist()
    [[0.0], [1.0]]
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    z = np.asarray(points, dtype=np.float64)
    distinct = np.unique(z, axis=0)
    if len(distinct) <= k:
        out: np.ndarray = distinct
        return out
    rng = np.random.default_rng(seed)
    centroids = [z[rng.integers(len(z))]]
    for _ in range(1, k):  # k-means++: next centre with probability ∝ squared distance
        d2 = _squared_distances(z, np.array(centroids)).min(axis=1)
        centroids.append(z[rng.choice(len(z), p=d2 / d2.sum())])
    c = np.array(centroids)
    for _ in range(iterations):
        labels = _squared_distances(z, c).argmin(axis=1)
        moved = c.copy()
        for j in range(len(c)):
            members = z[labels == j]
            if len(members):
                moved[j] = members.mean(axis=0)
        if np.allclose(moved, c):
            break
        c = moved
    return c


def assign(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each point (ties: the lower index)."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    out: np.ndarray = _squared_distances(np.asarray(points, float), centroids).argmin(axis=1)
    return out


def name_clusters(
    points: np.ndarray,
    centroids: np.ndarray,
    keywords: Sequence[Sequence[str]],
    *,
    typical: int = 20,
    terms: int = 3,
) -> tuple[str, ...]:
    """A distinct name per cluster: the keywords that set its ``typical`` prompts nearest the
    centroid apart from the other clusters' (:mod:`~monitor.drift.topic_names`).

    >>> z = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> words = [("invoice", "refund"), ("invoice", "charge"), ("login", "password"), ("password",)]
    >>> name_clusters(z, np.array([[0.05], [5.05]]), words, terms=2)
    ('invoice, charge', 'password, login')
    """
    counts, sizes = typical_keywords(points, centroids, keywords, typical=typical)
    return name_topics(counts, sizes, terms=terms)


def merge_same_topics(
    points: np.ndarray,
    centroids: np.ndarray,
    keywords: Sequence[Sequence[str]],
    *,
    typical: int = 20,
) -> np.ndarray:
    """``centroids`` with each group of clusters that no keyword tells apart (their names hold
    the same words however long) made one, at the mean of their points, where the first was.

    k-means splits one kind of request into several clusters when it is most of the prompts;
    those read the same and are one topic to whoever reads the name. Clusters without keywords
    stay apart (their words say nothing, so neither does their sameness).

    >>> z = np.array([[0.0], [1.0], [2.0], [9.0]])
    >>> words = [("package",), ("package",), ("package",), ("login",)]
    >>> merge_same_topics(z, np.array([[0.0], [1.5], [9.0]]), words).tolist()
    [[1.0], [9.0]]
    """
    c = np.array(centroids, dtype=np.float64)  # a copy: merged in place
    z = np.asarray(points, dtype=np.float64)
    while True:
        counts, sizes = typical_keywords(z, c, keywords, typical=typical)
        names = readable_names(ranked_terms(counts, sizes))
        groups = [g for g in same_name_groups(names) if names[g[0]]]
        if not groups:
            return c
        labels = assign(z, c)
        merged = [g[1:] for g in groups]
        for g in groups:
            members = z[np.isin(labels, g)]
            if len(members):
                c[g[0]] = members.mean(axis=0)
        c = np.delete(c, [j for m in merged for j in m], axis=0)
