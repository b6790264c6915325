"""The pure core of embedding drift: MMD² from sums, seeded k-means, cluster names, mergeable folds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.drift.baseline import build_baseline
from monitor.drift.embedding_baseline import attach_embeddings, sample_embedding_fields
from monitor.drift.embedding_space import (
    RandomFourierFeatures,
    feature_sums,
    mmd2_direct,
    mmd2_from_sums,
)
from monitor.drift.embedding_windows import embedding_rows, fold_embeddings
from monitor.drift.embeddings import EmbeddingProfile, build_embedding_profile, score_embedding
from monitor.drift.topics import assign, kmeans, name_clusters
from monitor.drift.windows import DriftRow, window_histograms


class Toy:
    """A deterministic embedder: two directions, one per topic word."""

    name = "toy"

    def embed(self, texts):
        rng = np.random.default_rng(0)
        base = rng.normal(size=(2, 16))
        out = []
        for t in texts:
            noise = np.random.default_rng(abs(hash(t)) % 2**32).normal(0, 0.3, 16)
            out.append(base[0 if "invoice" in t else 1] + noise)
        return np.array(out)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(2, 30), st.integers(0, 10_000), st.floats(0.1, 5.0))
def test_mmd2_from_sums_equals_the_pairwise_estimator(n_w, n_r, seed, shift):
    rng = np.random.default_rng(seed)
    rff = RandomFourierFeatures.fit(rng.normal(size=(20, 3)), n_features=16, seed=seed)
    a = rff.features(rng.normal(shift, 1.0, size=(n_w, 3)))
    b = rff.features(rng.normal(size=(n_r, 3)))
    assert np.isclose(mmd2_from_sums(*feature_sums(a), *feature_sums(b)), mmd2_direct(a, b),
                      atol=1e-10)  # fmt: skip


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_kmeans_is_deterministic_with_a_seed_and_assigns_to_the_nearest(seed, k):
    points = np.random.default_rng(seed).normal(size=(60, 3))
    first, second = kmeans(points, k, seed=seed), kmeans(points, k, seed=seed)
    assert np.array_equal(first, second) and len(first) == k
    labels = assign(points, first)
    by_hand = [int(np.argmin([np.sum((p - c) ** 2) for c in first])) for p in points]
    assert labels.tolist() == by_hand


def test_clusters_are_named_by_their_typical_keywords():
    points = np.array([[0.0], [0.2], [0.1], [9.0], [9.1], [8.9]])
    words = [("invoice", "refund"), ("invoice",), ("invoice", "card"),
             ("login", "password"), ("password", "reset"), ("password",)]  # fmt: skip
    names = name_clusters(points, np.array([[0.1], [9.0]]), words, terms=2)
    assert names == ("invoice, card", "password, login")


def test_a_window_merged_from_two_halves_scores_as_the_whole():
    texts = [f"invoice {i}" if i % 3 else f"login {i}" for i in range(300)]
    fields = sample_embedding_fields(Toy(), texts)
    # what a baseline sample keeps: no text, a reduced vector and sorted keywords
    assert set(fields[0]) == {"embedder", "input_dim", "reduced", "keywords"}
    assert fields[0]["keywords"] == ["login"] and len(fields[0]["reduced"]) == 32  # "login 0"
    base = attach_embeddings(
        build_baseline("m", "v1", [{"features": {"c": "a"}}] * 300, now=0.0),
        [{"embedding": f} for f in fields],
        topics=2,
    )
    restored = EmbeddingProfile.from_dict(base.embedding.to_dict())
    assert restored.topic_names == base.embedding.topic_names
    shifted = [f"login x{i}" for i in range(80)] + [f"invoice y{i}" for i in range(20)]
    ids = [str(i) for i in range(100)]

    def fold(rows):
        return fold_embeddings({("m", "v1"): ("b1", base)}, Toy(), [shifted[i] for i in rows],
                               [ids[i] for i in rows], np.zeros(len(rows)), ["m"] * len(rows),
                               ["v1"] * len(rows), np.ones(len(rows)), 60, rate=1.0)  # fmt: skip

    def score(partials):
        sums = {}
        for p in partials:
            key = (p.name, p.bucket)
            c, t = sums.get(key, (0.0, 0.0))
            sums[key] = (c + p.count, t + p.total)
        rows = [(n, b, c, t) for (n, b), (c, t) in sums.items()]
        window = window_histograms(rows, {("b1", "prompt_topic"): 4})
        return embedding_rows({"b1": base}, rows, [], window, min_samples=10)

    whole, halves = score(fold(range(100))), score(fold(range(50)) + fold(range(50, 100)))
    assert whole[0].feature == "prompt_embedding" and whole[0].severity == "significant"
    assert whole[0].detail == halves[0].detail and whole[0].n_current == 100
    assert not whole[0].partial  # scored on the sample by design, not a partial window


def test_the_reference_against_itself_is_not_drift():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, 16))
    profile = build_embedding_profile("toy", x[:400], [()] * 400, reduced_dim=8, topics=2)
    z = profile.reduce_embeddings(x[400:])
    s, q, n = feature_sums(profile.kernel().features(z))
    assert score_embedding(profile, s, q, z.sum(0), n).severity == "none"


def test_calibrated_thresholds_hold_their_rate_at_every_window_size_and_catch_a_shift():
    """Calibrated once on reference splits, scaled by 1/n_w + 1/n_r: windows of the reference's
    own distribution breach the moderate threshold about 1 % of the time whatever their size,
    never the significant one; a changed topic mix is significant."""
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (5, 64))

    def draw(n, weights=(0.4, 0.2, 0.2, 0.1, 0.1)):
        return centres[rng.choice(5, n, p=weights)] + rng.normal(0, 0.7, (n, 64))

    profile = build_embedding_profile("toy", draw(1000), [()] * 1000, topics=5)

    def severity(z):
        z = profile.reduce_embeddings(z)
        s, q, n = feature_sums(profile.kernel().features(z))
        return score_embedding(profile, s, q, z.sum(0), n).severity

    for size in (50, 100, 400):
        found = [severity(draw(size)) for _ in range(200)]
        assert found.count("significant") == 0 and found.count("moderate") <= 8, (size, found)
    shifted = [severity(draw(100, (0.1, 0.1, 0.2, 0.2, 0.4))) for _ in range(50)]
    assert shifted.count("significant") >= 45, shifted


class NaNForUnknown(Toy):
    """Like WordLlama on an empty string: a NaN vector for a text with no token it knows."""

    def embed(self, texts):
        out = np.asarray(super().embed(texts), dtype=float)
        out[[t == "???" for t in texts]] = np.nan
        return out


def test_empty_prompts_and_non_finite_vectors_are_left_out_not_folded_as_nan():
    texts = [f"invoice {i}" if i % 3 else f"login {i}" for i in range(300)]
    fields = sample_embedding_fields(NaNForUnknown(), [*texts, "", "???", None])
    assert fields[-3:] == [None, None, None] and all(fields[:300])
    base = attach_embeddings(
        build_baseline("m", "v1", [{"features": {"c": "a"}}] * 300, now=0.0),
        [{"embedding": f} for f in fields if f],
        topics=2,
    )
    prompts = ["login a", "", "???", "invoice b"]
    partials = fold_embeddings({("m", "v1"): ("b1", base)}, NaNForUnknown(), prompts,
                               ["1", "2", "3", "4"], np.zeros(4), ["m"] * 4, ["v1"] * 4,
                               np.ones(4), 60, rate=1.0)  # fmt: skip
    assert partials and all(np.isfinite(p.count) and np.isfinite(p.total) for p in partials)
    topic_counts = sum(p.count for p in partials if p.name == "hist:prompt_topic")
    assert topic_counts == 2  # the two prompts it could embed


def test_only_a_scored_topic_row_names_the_topic_that_grew():
    """A window with too few prompts is not scored: its row says nothing grew (it once carried
    the topic whose share of a handful of prompts was largest)."""
    texts = [f"invoice {i}" if i % 3 else f"login {i}" for i in range(300)]
    base = attach_embeddings(
        build_baseline("m", "v1", [{"features": {"c": "a"}}] * 300, now=0.0),
        [{"embedding": f} for f in sample_embedding_fields(Toy(), texts)],
        topics=2,
    )
    shifted = [f"login x{i}" for i in range(4)]
    partials = fold_embeddings({("m", "v1"): ("b1", base)}, Toy(), shifted, ["a", "b", "c", "d"],
                               np.zeros(4), ["m"] * 4, ["v1"] * 4, np.ones(4), 60, rate=1.0)  # fmt: skip
    rows = [(p.name, p.bucket, p.count, p.total) for p in partials]
    window = window_histograms(rows, {("b1", "prompt_topic"): 4})

    def topic_row(psi, severity):
        return DriftRow("prompt_topic", "b1", psi, psi, psi, 4, 300, severity, 0.0, 0.0, 0.0, 4)

    few, scored = (
        embedding_rows({"b1": base}, rows, [row], window, min_samples=10)[0]
        for row in (topic_row(None, "insufficient"), topic_row(0.9, "significant"))
    )
    assert few.severity == "insufficient" and few.detail == ""
    assert scored.detail.startswith("topic 'login") and "grew from" in scored.detail
