"""Topic names: each cluster's distinguishing keywords, and no two names that read the same.

A cluster is described by the keywords of its most typical prompts (:func:`typical_keywords`:
the prompts nearest its centroid). :func:`ranked_terms` orders each cluster's terms by how much
more of its prompts use them than of any other cluster's (share here minus the largest share
elsewhere, then the share, then the word); a term another cluster uses more describes that
cluster, so it is left out unless the cluster has nothing else. :func:`readable_names` takes the
top ``terms`` of them and, while two names hold the same words, gives each of those the next of
its terms. :func:`name_topics` numbers only the names that still read the same (nothing in words
tells those clusters apart), the biggest first. The same counts in another order give the same
names, reordered.

>>> name_topics([{"charged": 9, "order": 9}, {"return": 8, "order": 9}], [10, 10], terms=2)
('charged, order', 'return, order')
>>> name_topics([{"late": 5, "package": 5}, {"lost": 5, "package": 5}, {"late": 5, "lost": 5}],
...             [5, 5, 5], terms=1)
('late, package', 'lost', 'late, lost')
>>> name_topics([{"package": 4}, {"package": 5}, {}, {"app": 2}], [4, 5, 3, 2])
('package #2', 'package #1', 'no keywords', 'app')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "NO_KEYWORDS",
    "name_topics",
    "ranked_terms",
    "readable_names",
    "same_name_groups",
    "typical_keywords",
]

NO_KEYWORDS = "no keywords"  # the name of a cluster whose prompts hold no content word


def typical_keywords(
    points: np.ndarray,
    centroids: np.ndarray,
    keywords: Sequence[Sequence[str]],
    *,
    typical: int = 20,
) -> tuple[list[Counter[str]], list[int]]:
    """Per cluster, how many of its ``typical`` prompts nearest the centroid hold each keyword,
    and how many prompts that is. Ties in distance go to the smaller keyword tuple, so the input
    order does not matter.

    >>> z = np.array([[0.0], [0.2], [0.1], [5.0]])
    >>> words = [("invoice",), ("refund",), ("invoice", "late"), ("login",)]
    >>> typical_keywords(z, np.array([[0.0], [5.0]]), words, typical=2)
    ([Counter({'invoice': 2, 'late': 1}), Counter({'login': 1})], [2, 1])
    """
    if len(keywords) != len(points):
        raise ValueError(f"{len(keywords)} keyword sets for {len(points)} points")
    z, c = np.asarray(points, float), np.asarray(centroids, float)
    # element-wise, not a matrix product: a point's distances do not depend on its row
    d2 = ((z[:, None, :] - c[None, :, :]) ** 2).sum(axis=2) if len(z) else np.zeros((0, len(c)))
    labels = d2.argmin(axis=1) if len(z) else np.zeros(0, dtype=np.int64)
    counts: list[Counter[str]] = []
    sizes: list[int] = []
    for j in range(len(c)):
        members = np.flatnonzero(labels == j).tolist()
        members.sort(key=lambda i: (float(d2[i, j]), tuple(sorted(keywords[i]))))
        nearest = members[:typical]
        counts.append(Counter(w for i in nearest for w in set(keywords[i])))
        sizes.append(len(nearest))
    return counts, sizes


def ranked_terms(counts: Sequence[Mapping[str, int]], sizes: Sequence[int]) -> list[list[str]]:
    """Each cluster's terms, most distinguishing first: by share of its prompts minus the largest
    share of another cluster's, then by share, then alphabetically; a term some other cluster
    uses more is dropped unless it is the cluster's only candidate.

    >>> ranked_terms([{"order": 4, "charged": 4}, {"order": 4, "return": 4, "charged": 1}], [4, 4])
    [['charged', 'order'], ['return', 'order']]
    """
    shares = [{w: n / max(size, 1) for w, n in c.items()} for c, size in zip(counts, sizes)]
    out = []
    for j, share in enumerate(shares):
        others = [s for i, s in enumerate(shares) if i != j]
        lead = {w: p - max((s.get(w, 0.0) for s in others), default=0.0) for w, p in share.items()}
        ranked = sorted(share, key=lambda w: (-lead[w], -share[w], w))
        out.append([w for w in ranked if lead[w] >= 0] or ranked[:1])
    return out


def same_name_groups(names: Sequence[Sequence[str]]) -> list[list[int]]:
    """Indices of names holding the same words (in any order), groups of two or more only.

    >>> same_name_groups([("a", "b"), ("c",), ("b", "a")])
    [[0, 2]]
    """
    groups: dict[frozenset[str], list[int]] = {}
    for j, name in enumerate(names):
        groups.setdefault(frozenset(name), []).append(j)
    return [g for g in groups.values() if len(g) > 1]


def readable_names(ranked: Sequence[Sequence[str]], terms: int = 3) -> list[tuple[str, ...]]:
    """The first ``terms`` of each cluster's ranked terms, lengthened one term at a time for the
    clusters whose names hold the same words, until none does or they have no term left.

    >>> readable_names([["package", "due", "late"], ["package", "due", "lost"]], terms=2)
    [('package', 'due', 'late'), ('package', 'due', 'lost')]
    """
    if terms < 1:
        raise ValueError(f"terms must be at least 1, got {terms}")
    lengths = [min(terms, len(r)) for r in ranked]
    while True:
        names = [tuple(r[:n]) for r, n in zip(ranked, lengths)]
        longer = [j for g in same_name_groups(names) for j in g if lengths[j] < len(ranked[j])]
        if not longer:
            return names
        for j in longer:
            lengths[j] += 1


def name_topics(
    counts: Sequence[Mapping[str, int]], sizes: Sequence[int], *, terms: int = 3
) -> tuple[str, ...]:
    """A distinct name per cluster from its typical prompts' keyword ``counts`` (of ``sizes``
    prompts): its distinguishing terms (:func:`readable_names`); clusters whose names still read
    the same are numbered ``#1``, ``#2``, ... from the one of most prompts."""
    if len(counts) != len(sizes):
        raise ValueError(f"{len(counts)} keyword counts for {len(sizes)} clusters")
    names = readable_names(ranked_terms(counts, sizes), terms)
    texts = [", ".join(name) or NO_KEYWORDS for name in names]
    for group in same_name_groups(names):  # the biggest first: the order of the input is no say
        group.sort(key=lambda j: (-sizes[j], sorted(counts[j].items())))
        for number, j in enumerate(group, start=1):
            texts[j] += f" #{number}"
    return tuple(texts)
