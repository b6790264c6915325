"""A detection's evidence line prints its rates and means by the one formatting rule: latencies in
whole milliseconds, close values with the digits that differ, and no bound of 0 on an interval
that excludes zero."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from monitor.detectors.concept import DEFAULT_SPECS, ConceptDriftMonitor
from monitor.outcomes.evidence import detection_evidence
from monitor.outcomes.intervals import wilson_interval

RATE_SIDE = re.compile(r"rate (\S+) \[(\S+), (\S+)\] over (\d+) events")
MEAN_SIDE = re.compile(r"mean (\S+) over (\d+) events")


def test_a_latency_detection_prints_whole_milliseconds() -> None:
    rng = np.random.default_rng(11)
    latency = np.concatenate(
        [rng.lognormal(np.log(800), 0.1, 20_000), rng.lognormal(np.log(950), 0.1, 20_000)]
    )
    [latency_spec] = [s for s in DEFAULT_SPECS if s.stream == "latency_ms"]
    [d] = ConceptDriftMonitor("m", "v", [latency_spec]).update("latency_ms", latency)
    assert (d.position, d.n_before, d.n_after) == (22_001, 21_928, 74)
    assert d.evidence() == "mean 817 over 21928 events -> mean 981 over 74 events"
    assert detection_evidence("latency_ms", 800.0, 950.0, 5000, 1000) == (
        "mean 800 over 5000 events -> mean 950 over 1000 events"
    )
    assert (
        detection_evidence("latency_ms", 800.0, None, 5000, 0) == "mean 800 over 5000 events -> n/a"
    )


def test_a_rate_detection_prints_each_rate_with_the_decimals_of_its_interval() -> None:
    text = detection_evidence("error", 0.06, 0.09, 19_000, 1_000)
    # 19 000 events give an interval 0.0068 wide: four decimals; 1 000 events, 0.035 wide: three
    assert text == (
        "rate 0.0600 [0.0567, 0.0635] over 19000 events -> "
        "rate 0.090 [0.074, 0.109] over 1000 events"
    )
    before, after = RATE_SIDE.findall(text)
    assert Decimal(before[0]) != Decimal(after[0])


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (7.1, 6.4, "mean 7.10 over 900 events -> mean 6.40 over 100 events"),
        (0.06, 0.09, "mean 0.060 over 900 events -> mean 0.090 over 100 events"),
        (0.0612, 0.0615, "mean 0.06120 over 900 events -> mean 0.06150 over 100 events"),
    ],
)
def test_the_means_share_the_decimals_of_the_gap_between_them(
    before: float, after: float, expected: str
) -> None:
    assert detection_evidence("judge_score", before, after, 900, 100) == expected


# gaps from 1e-5: closer means would need more than the six decimals the rule prints at most
@given(st.floats(1e-3, 1e4), st.floats(1e-5, 1e4), st.booleans())
def test_two_different_means_print_differently_and_neither_as_zero(
    before: float, gap: float, lower: bool
) -> None:
    after = before - gap if lower else before + gap
    assume(after >= 1e-3 and abs(after - before) >= 1e-5)
    texts = [
        mean
        for mean, _ in MEAN_SIDE.findall(detection_evidence("judge_score", before, after, 9, 9))
    ]
    printed = [Decimal(text) for text in texts]
    assert printed[0] != printed[1] and 0 not in printed, texts
    for text, true in zip(texts, (before, after)):
        half_unit = Decimal("0.5").scaleb(-len(text.partition(".")[2]))
        assert abs(Decimal(text) - Decimal(true)) <= half_unit, (text, true)


@given(st.integers(1, 10**15), st.floats(0.0, 1.0))
@example(400_000, 0.0)  # one event in 400 000: the low bound once printed as 0.0e-05
def test_a_rate_interval_that_excludes_zero_never_prints_a_bound_of_zero(
    n: int, share: float
) -> None:
    k = max(1, round(share * n))  # one event or more: the Wilson interval excludes zero
    rate = wilson_interval(k, n)
    assert rate.low is not None and rate.low > 0
    [side] = RATE_SIDE.findall(detection_evidence("satisfaction", k / n, None, n, 0))
    shown, low, high, count = side
    assert Decimal(low) > 0 and Decimal(high) > 0 and int(count) == n, side
    assert Decimal(low) <= Decimal(shown) <= Decimal(high), side
