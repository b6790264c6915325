"""The shadow core: normalised agreement, the n-gram similarity slot, mergeable pair sums, the verdict."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.catalogue import correct
from monitor.errors import ConfigError
from monitor.experiments.stats import Moments, half_width, mixture_rho
from monitor.folding.pipeline import BatchConfig, RawMessage, process_batch
from monitor.shadow.fold import ShadowSums, fold_pairs, pair_sums
from monitor.shadow.pairs import NgramJaccard, decode_side, encode_side, pair_values, side_of
from monitor.shadow.report import (
    DEFAULT_ALPHA,
    DEFAULT_TUNING,
    default_margins,
    parse_margins,
    shadow_report,
)


def _grams(text: str, n: int = 3) -> set[str]:
    return {text[i : i + n] for i in range(max(len(text) - n + 1, 1))}


@settings(max_examples=200, deadline=None)
@given(st.text("abc ", max_size=30), st.text("abc ", max_size=30))
def test_similarity_is_the_exact_jaccard_of_3_grams_for_short_texts(a: str, b: str) -> None:
    j = NgramJaccard()
    ga, gb = _grams(a), _grams(b)
    assert j.similarity(j.sketch(a), j.sketch(b)) == pytest.approx(len(ga & gb) / len(ga | gb))


def test_similarity_of_long_texts_is_estimated_from_bounded_sketches() -> None:
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(3000)]
    a = " ".join(rng.choice(words, 2000))
    b = a[:3000] + " ".join(rng.choice(words, 700))
    j = NgramJaccard()
    exact = len(_grams(a) & _grams(b)) / len(_grams(a) | _grams(b))
    assert len(j.sketch(a)) == j.k and abs(j.similarity(j.sketch(a), j.sketch(b)) - exact) < 0.08


def test_agreement_uses_the_normalisation_of_correct() -> None:
    for left, right in (
        ("1", 1.0),
        ("Refund", " refund "),
        (True, "TRUE"),
        ("yes", "no"),
        (2, "2.5"),
    ):
        p, s = side_of(left, None, None, None), side_of(right, None, None, None)
        assert pair_values(p, s)["agreement"] == float(correct(left, right))
    text = pair_values(
        side_of(None, "Your refund\n is  sent", None, None),
        side_of(None, "your refund is sent", None, None),
    )
    assert text["agreement"] == 1.0 and text["similarity"] == 1.0
    mixed = pair_values(side_of("refund", "Sent.", None, None), side_of(None, "sent.", None, None))
    assert mixed["agreement"] == 1.0  # texts compared when only one side has a prediction
    assert "agreement" not in pair_values(
        side_of("refund", None, None, None), side_of(None, "x", None, None)
    )


def test_an_erroring_shadow_counts_as_an_error_and_not_as_an_answer() -> None:
    values = pair_values(
        side_of("a", "text", 100.0, 5), side_of(None, None, 30.0, None, error="timeout")
    )
    assert values == {"error_rate": 1.0}


def test_a_shadow_faster_on_every_answer_is_not_made_slower_by_its_timeouts() -> None:
    production = [side_of(None, "ok", 400.0, 9) for _ in range(100)]
    shadow = [side_of(None, "ok", 350.0, 9) for _ in range(99)]
    shadow.append(side_of(None, None, 30_000.0, None, error="timeout"))
    values = [pair_values(p, s) for p, s in zip(production, shadow)]
    latencies = [v["latency_ms"] for v in values if "latency_ms" in v]
    assert len(latencies) == 99 and sum(latencies) / len(latencies) == -50.0
    assert sum(v["error_rate"] for v in values) / len(values) == 0.01


def test_no_raw_text_is_kept_in_the_stored_side() -> None:
    side = side_of("secret answer", "the secret text of the answer", 12.0, 3, model_version="v2")
    payload = encode_side(side, 5.0, "id")
    assert b"secret" not in payload and decode_side(payload) == (side, 5.0)


def _random_pairs(rng: np.random.Generator, n: int) -> list:
    pairs = []
    for i in range(n):
        p = side_of(
            str(rng.integers(3)),
            None,
            float(rng.normal(300, 30)),
            int(rng.integers(10, 20)),
            None,
            "v2",
        )
        s = side_of(
            str(rng.integers(3)),
            None,
            float(rng.normal(320, 30)),
            int(rng.integers(10, 20)),
            "boom" if rng.random() < 0.1 else None,
            "v3",
        )
        pairs.append(("m", float(rng.uniform(0, 600)), p, s))
    return pairs


def _rows(partials) -> list[tuple]:  # what the store's GROUP BY returns for these partials
    merged: dict[tuple, list[float]] = {}
    for p in partials:
        row = merged.setdefault((p.model, p.model_version, p.name, p.bucket), [0.0, 0.0])
        row[0] += p.count
        row[1] += p.total
    return [(*k, c, t) for k, (c, t) in merged.items()]


def test_pair_sums_merge_to_the_numpy_moments_however_the_pairs_are_batched() -> None:
    pairs = _random_pairs(np.random.default_rng(0), 500)
    whole = pair_sums(_rows(fold_pairs(pairs, 60)))
    split = pair_sums(_rows(fold_pairs(pairs[:123], 60) + fold_pairs(pairs[123:], 300)))
    assert len(whole) == 1 and whole[0].pairs == 500
    answered = [(p, s) for _, _, p, s in pairs if not s.error]
    latency = np.array([s.latency_ms - p.latency_ms for p, s in answered])
    for sums in (whole[0], split[0]):
        m = sums.moments["latency_ms"]
        assert m.n == len(answered) and m.mean_y == pytest.approx(latency.mean())
        assert m.covariance()[0] == pytest.approx(latency.var(ddof=1))
        assert sums.moments["agreement"].n == sum(not s.error for _, _, _, s in pairs)


def _sums(
    agree: int, n: int, errors: int = 0, latency: tuple[float, float] = (0.0, 0.0)
) -> ShadowSums:
    lat_mean, lat_sd = latency
    lat = Moments(n, n * lat_mean, n * (lat_sd**2 + lat_mean**2))
    return ShadowSums(
        "m",
        "v2",
        "v3",
        n,
        {
            "agreement": Moments(n, agree, agree),
            "error_rate": Moments(n, errors, errors),
            "latency_ms": lat,
        },
        n,
        errors,
    )


def test_interval_is_the_mixture_confidence_sequence_of_the_mean_difference() -> None:
    r = shadow_report(_sums(900, 1000), {"agreement": 0.2})
    agreement = next(d for d in r.metrics if d.metric == "agreement")
    width = half_width(
        0.9 * 0.1 * 1000 / 999, 1000, mixture_rho(DEFAULT_ALPHA, DEFAULT_TUNING), DEFAULT_ALPHA
    )
    assert r.agreement == pytest.approx(0.9) and agreement.diff == pytest.approx(-0.1)
    assert (agreement.ci_low, agreement.ci_high) == pytest.approx((-0.1 - width, -0.1 + width))
    assert agreement.status == "within" and r.verdict == "promising"


@pytest.mark.parametrize(
    ("sums", "margins", "verdict"),
    [
        (_sums(900, 1000), None, "promising"),  # defaults judge error rate and latency only
        (_sums(900, 1000), {"agreement": 0.05}, "not_promising"),  # 0.90 is surely below 0.95
        (_sums(900, 1000), {"agreement": 0.1}, "collecting"),  # the margin sits inside the interval
        (_sums(1000, 1000, errors=100), None, "not_promising"),  # 10 % errors against a 1 % margin
        (_sums(1000, 1000, latency=(300.0, 50.0)), None, "not_promising"),
        (_sums(10, 10), None, "collecting"),  # too few pairs
    ],
)
def test_verdict_against_the_non_inferiority_margins(
    sums: ShadowSums, margins: dict | None, verdict: str
) -> None:
    assert shadow_report(sums, default_margins() if margins is None else margins).verdict == verdict


def test_margins_are_parsed_and_bad_ones_named() -> None:
    assert parse_margins("") == {} and default_margins() == {
        "error_rate": 0.01,
        "latency_ms": 100.0,
    }
    with pytest.raises(ConfigError, match="'accuracy' is not one of agreement"):
        parse_margins("accuracy=0.1")
    with pytest.raises(ConfigError, match="name=margin"):
        parse_margins("agreement=lots")
    with pytest.raises(ConfigError, match=">= 0"):
        parse_margins("agreement=-1")


def test_shadow_inferences_leave_production_partials_unchanged() -> None:
    rng = np.random.default_rng(5)
    production = [
        {
            "request_id": f"r{i}",
            "timestamp": 1_795_000_000.0 + i,
            "model": "m",
            "model_version": "v2",
            "latency_ms": float(rng.normal(300, 20)),
            "features": {"x": float(rng.normal())},
        }
        for i in range(50)
    ]
    shadow = [
        {**e, "model_version": "v3", "deployment": "shadow", "latency_ms": 1.0} for e in production
    ]
    config = BatchConfig(60, 0.0, 300.0, now=1_795_000_100.0)

    def partials(events: list[dict]) -> tuple[list, object]:
        raw = [RawMessage("inf", 0, i, orjson.dumps(e), "inference") for i, e in enumerate(events)]
        out = process_batch(raw, {}, config)
        source = out.sources[("inf", 0)]
        return sorted(
            (p for p in source.partials if not p.name.startswith("shadow:")), key=repr
        ), out

    alone, _ = partials(production)
    mixed, out = partials([e for pair in zip(production, shadow) for e in pair])
    assert (
        mixed == alone
        and len(out.sources[("inf", 0)].shadow) == 50
        and out.events["inference"] == 50
    )
    counted = [
        (p.name, p.model_version, p.total)
        for p in out.sources[("inf", 0)].partials
        if p.name.startswith("shadow:")
    ]
    assert {(n, v) for n, v, _ in counted} == {("shadow:events", "v3")} and sum(
        t for *_, t in counted
    ) == 50


def test_semantic_similarity_estimates_the_cosine_and_survives_the_join_store() -> None:
    from monitor.shadow.pairs import answer_meanings

    rng = np.random.default_rng(8)
    base = rng.normal(size=(400, 256))
    other = base + rng.normal(0, 0.8, size=base.shape)
    meanings = answer_meanings(np.vstack([base, other]))
    cosines = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(base, other)]
    estimates = []
    for i in range(len(base)):
        p = side_of("x", "a", 1.0, 1, meaning=meanings[i])
        s = side_of("x", "b", 1.0, 1, meaning=meanings[len(base) + i])
        p = decode_side(encode_side(p, 0.0))[0]  # what the join store gives back
        estimates.append(pair_values(p, s)["semantic_similarity"])
    assert abs(np.mean(estimates) - np.mean(cosines)) < 0.02  # unbiased over pairs
    failed = side_of("x", "b", 1.0, 1, error="timeout", meaning=meanings[0])
    assert "semantic_similarity" not in pair_values(p, failed)
    assert "semantic_similarity" not in pair_values(p, side_of("x", "b", 1.0, 1))
