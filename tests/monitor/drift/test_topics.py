"""Topic names: distinct, made of each cluster's distinguishing keywords, independent of the
input order; clusters no keyword tells apart are one topic."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import SIMULATOR_TOPIC_NAMES

from monitor.drift.embeddings import build_from_reduced
from monitor.drift.topic_names import name_topics
from monitor.drift.topics import assign, merge_same_topics, name_clusters

WORDS = ("app", "charged", "crashes", "due", "item", "order", "package", "return", "twice")
clusters = st.lists(
    st.tuples(st.dictionaries(st.sampled_from(WORDS), st.integers(1, 5)), st.integers(5, 8)),
    min_size=1,
    max_size=7,
)


def names_of(data: list[tuple[dict[str, int], int]]) -> tuple[str, ...]:
    return name_topics([Counter(c) for c, _ in data], [size for _, size in data])


def cluster_key(cluster: tuple[dict[str, int], int]) -> tuple[object, ...]:
    return (sorted(cluster[0].items()), cluster[1])


@given(clusters)
def test_names_are_unique_and_numbered_only_when_no_word_tells_clusters_apart(data) -> None:
    names = names_of(data)
    assert len(set(names)) == len(names), (data, names)
    for j, (counts, _) in enumerate(data):
        others = {w for i, (c, _) in enumerate(data) if i != j for w in c}
        if set(counts) - others:  # a word no other cluster has: its name can hold it
            assert "#" not in names[j], (data, names)


@given(clusters, st.randoms(use_true_random=False))
def test_the_names_do_not_depend_on_the_order_of_the_clusters(data, random) -> None:
    """Each cluster keeps its name (clusters of the same counts may swap theirs)."""
    shuffled = list(data)
    random.shuffle(shuffled)
    named = sorted((cluster_key(c), name) for c, name in zip(data, names_of(data)))
    assert named == sorted((cluster_key(c), name) for c, name in zip(shuffled, names_of(shuffled)))


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.lists(st.sampled_from(WORDS), max_size=3, unique=True)),
        min_size=4,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_the_names_do_not_depend_on_the_order_of_the_prompts(prompts, random) -> None:
    """Ties in distance (equal points, or points as far from the centroid) included."""
    centroids = np.array([[0.5], [4.0]])
    shuffled = list(prompts)
    random.shuffle(shuffled)

    def names(rows):
        z = np.array([[float(x)] for x, _ in rows])
        return name_clusters(z, centroids, [tuple(w) for _, w in rows], typical=3)

    assert names(prompts) == names(shuffled)


def test_distinguishing_terms_and_the_next_term_when_the_first_read_the_same() -> None:
    billing = Counter(charged=20, twice=20, order=20)
    returns = Counter(item=20, order=20, **{"return": 20})
    late = Counter(package=20, due=20, late=12)
    lost = Counter(package=20, due=20, lost=3)
    names = name_topics([billing, returns, late, lost], [20, 20, 20, 20], terms=1)
    # "order" is in both billing and returns: it tells neither apart, so it comes last
    assert names == ("charged", "item", "late", "lost"), names
    names = name_topics([late, lost], [20, 20], terms=2)
    assert names == ("late, due", "lost, due"), names  # the shared words come after the own one
    same = name_topics([Counter(package=20, due=20), Counter(package=7, due=7)], [20, 7])
    assert same == ("due, package #1", "due, package #2"), same


PACKAGE = ("due", "package", "yesterday")
APP = ("app", "crashes", "open", "settings", "version")
TEMPLATES = (  # centre, keywords
    ((0.0, 0.0), PACKAGE),
    ((0.0, 3.0), PACKAGE),
    ((3.0, 0.0), PACKAGE),
    ((20.0, 0.0), APP),
    ((20.0, 4.0), APP),
    ((0.0, 20.0), ("account", "cannot", "log", "password", "reset")),
    ((20.0, 20.0), ("item", "order", "return")),
    ((-20.0, 0.0), ("charged", "order", "twice")),
)


def simulator_prompts(n_per_cluster: int = 30) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """The shape `monitor simulate` gives k-means: five request templates whose only variable
    part is a number, so the big ones split into clusters that hold the same words."""
    rng = np.random.default_rng(7)
    points = np.vstack([rng.normal(c, 0.3, (n_per_cluster, 2)) for c, _ in TEMPLATES])
    return points, [w for _, w in TEMPLATES for _ in range(n_per_cluster)]


def test_clusters_of_the_same_words_are_one_topic_named_without_a_number() -> None:
    points, words = simulator_prompts()
    centroids = np.array([c for c, _ in TEMPLATES])
    assert len(set(name_clusters(points, centroids, words))) == 8  # numbered, before the merge
    merged = merge_same_topics(points, centroids, words)
    assert len(merged) == 5
    names = name_clusters(points, merged, words)
    assert sorted(names) == SIMULATOR_TOPIC_NAMES, names
    labels = assign(points, merged).tolist()
    for j in range(5):  # each topic holds every prompt of its words, and only those
        assert len({words[i] for i, label in enumerate(labels) if label == j}) == 1
    assert labels.count(labels[0]) == 90 and labels.count(labels[90]) == 60


def test_a_profile_names_each_kind_of_request_once() -> None:
    points, words = simulator_prompts()
    profile = build_from_reduced("toy", 2, points, words, topics=8, draws=20)
    assert len(profile.topic_names) == len(profile.centroids) == 5
    assert not any("#" in name for name in profile.topic_names), profile.topic_names


def test_clusters_without_keywords_stay_apart() -> None:
    """Keyword-less prompts say nothing about sameness; their clusters keep the topic shares."""
    points, _ = simulator_prompts()
    profile = build_from_reduced("toy", 2, points, [()] * len(points), topics=8, draws=20)
    assert len(profile.centroids) == 8
    assert len(set(profile.topic_names)) == 8 and "no keywords #1" in profile.topic_names
