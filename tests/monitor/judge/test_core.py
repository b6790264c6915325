"""The judge's pure core: rubric config, reply parsing, pairwise verdicts, length control, kappa,
sampling and cost limits; known values, an independent fit and hypothesis properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from monitor.errors import ConfigError
from monitor.judge import (
    DailyBudget,
    JudgeParseError,
    RateLimit,
    cohen_kappa,
    default_rubric,
    flip_rate,
    hash_fraction,
    inclusion_weight,
    length_controlled_win_rate,
    load_rubric,
    pair_verdict,
    parse_grade,
    parse_preference,
    sampled,
)
from monitor.judge.length_control import fit_logistic

# ---- rubric -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("criteria: []", "criteria: [] must be a non-empty list"),
        # before: "criteria[0].description: None must be a non-empty string"
        ("criteria: [{name: a}]", "criteria[0].description is missing: give it a non-empty text"),
        ("criteria: [{name: a, description: ' '}]", "description: ' ' must be a non-empty string"),
        ("colour: red", "unknown keys ['colour']; allowed: criteria, scale, examples"),
        ("scale: [0]", "scale: [0] must be [low, high]"),
        ("scale: [0, .inf]", "must be [low, high] finite numbers"),
        (
            "scale: [0, " + "9" * 400 + "]",
            "must be [low, high] finite numbers",
        ),  # was OverflowError
        (
            (
                "examples: [{input_text: q, output_text: a, scores: {accuracy: 11, completeness: 1,"
                " relevance: 1, helpfulness: 1, clarity: 1}}]"
            ),
            "examples[0].scores.accuracy: 11 is outside 0-10",
        ),
        (
            "examples: [{input_text: q, output_text: a, scores: {accuracy: 1}}]",
            "must score exactly accuracy, completeness, relevance, helpfulness, clarity",
        ),
        ("criteria: [{name: a, description: x}, {name: a, description: y}]", "repeat"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_rubric_errors_name_the_value_and_the_choices(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="judge rubric") as info:
        load_rubric(text)
    assert fragment in str(info.value)


def test_rubric_examples_reach_the_prompt() -> None:
    from monitor.judge import grading_messages

    rubric = load_rubric(
        "criteria: [{name: tone, description: Polite}]\nscale: [1, 5]\n"
        "examples: [{input_text: 'Where is my parcel?', output_text: Dunno., scores: {tone: 1},"
        " explanation: Curt.}]"
    )
    user = grading_messages(rubric, "Q?", "A.")[1]["content"]
    assert "Where is my parcel?" in user and '"tone": 1.0' in user and user.endswith("[Grade]")
    assert default_rubric().examples == ()


# ---- parsing ------------------------------------------------------------------------------------

FIVE = ("accuracy", "completeness", "relevance", "helpfulness", "clarity")


def test_grade_from_json_inside_prose_and_from_text() -> None:
    rubric = default_rubric()
    body = ", ".join(f'"{n}": {i * 2}' for i, n in enumerate(FIVE, 1))
    grade = parse_grade(f'Here you go:\n```json\n{{{body}, "explanation": "fine"}}\n```', rubric)
    assert grade.score == pytest.approx(6.0) and grade.explanation == "fine"
    text = "\n".join(f"{n.title()}: 10" for n in FIVE)
    assert parse_grade(text, rubric).score == 10.0


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "no idea",
        '{"accuracy": 5}',
        '{"accuracy": 11, "completeness": 1, "relevance": 1, "helpfulness": 1, "clarity": 1}',
        '{"accuracy": "NaN", "completeness": 1, "relevance": 1, "helpfulness": 1, "clarity": 1}',
        '{"accuracy": true, "completeness": 1, "relevance": 1, "helpfulness": 1, "clarity": 1}',
    ],
)
def test_malformed_grades_are_parse_errors(reply: str) -> None:
    with pytest.raises(JudgeParseError):
        parse_grade(reply, default_rubric())


@given(st.text(max_size=300))
def test_any_reply_parses_or_raises_judge_parse_error(reply: str) -> None:
    for parse in (lambda t: parse_grade(t, default_rubric()), parse_preference):
        try:
            parse(reply)
        except JudgeParseError:
            pass


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(
    st.dictionaries(st.sampled_from((*FIVE, "winner", "explanation")), _JSON_VALUES),
    st.text(max_size=30),
)
def test_any_json_reply_parses_or_raises_judge_parse_error(obj: dict, prose: str) -> None:
    """A reply holding a JSON object of any values (an int too large for a float escaped as an
    OverflowError, which stopped the runner at that message)."""
    reply = prose + json.dumps(obj) + prose
    for parse in (lambda t: parse_grade(t, default_rubric()), parse_preference):
        try:
            parse(reply)
        except JudgeParseError:
            pass


def test_a_score_too_large_for_a_float_is_no_score() -> None:
    reply = json.dumps({n: 10**400 if n == "accuracy" else 5 for n in FIVE})
    with pytest.raises(JudgeParseError, match="no score for accuracy"):
        parse_grade(reply, default_rubric())


@given(st.lists(st.integers(0, 10), min_size=5, max_size=5))
def test_grade_score_is_the_mean_on_0_10(scores: list[int]) -> None:
    reply = "{" + ", ".join(f'"{n}": {s}' for n, s in zip(FIVE, scores, strict=True)) + "}"
    assert parse_grade(reply, default_rubric()).score == pytest.approx(sum(scores) / 5)


@pytest.mark.parametrize(
    ("reply", "winner"),
    [
        ('{"winner": "a", "explanation": "x"}', "A"),
        ('{"winner": "tie"}', "tie"),
        ("[[B]]", "B"),
        ("After careful thought, Answer B is better because...", "B"),
    ],
)
def test_preferences(reply: str, winner: str) -> None:
    assert parse_preference(reply) == winner


@pytest.mark.parametrize("reply", ["", "both are fine", '{"winner": "C"}'])
def test_malformed_preferences_are_parse_errors(reply: str) -> None:
    with pytest.raises(JudgeParseError):
        parse_preference(reply)


# ---- pairwise -----------------------------------------------------------------------------------

PREFS = st.sampled_from(["A", "B", "tie"])


@given(PREFS, PREFS)
def test_a_win_needs_both_orders(first: str, second: str) -> None:
    verdict = pair_verdict(first, second)  # type: ignore[arg-type]
    if verdict.winner == "shadow":
        assert (first, second) == ("B", "A")
    elif verdict.winner == "production":
        assert (first, second) == ("A", "B")
    assert verdict.flipped == (verdict.winner == "tie" and (first, second) != ("tie", "tie"))


def test_position_biased_judge_flips_every_pair() -> None:
    verdicts = [pair_verdict("A", "A") for _ in range(20)] + [pair_verdict("B", "B")]
    assert {v.winner for v in verdicts} == {"tie"} and flip_rate(verdicts) == 1.0
    assert math.isnan(flip_rate([]))


# ---- length-controlled win rate -----------------------------------------------------------------


def _scipy_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    def loss(beta: np.ndarray) -> float:
        z = x @ beta
        return float(-(w * (y * z - np.logaddexp(0.0, z))).sum() + 0.5 * (ridge * beta**2).sum())

    return minimize(loss, np.zeros(x.shape[1]), method="BFGS", options={"gtol": 1e-10}).x


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_irls_equals_a_straightforward_fit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    x = np.column_stack([np.ones(n), np.tanh(rng.normal(size=n))])
    y = rng.choice([0.0, 0.5, 1.0], size=n)
    w = rng.uniform(0.5, 3.0, size=n)
    ridge = np.array([0.0, 1e-3])
    assert np.allclose(fit_logistic(x, y, w, ridge), _scipy_fit(x, y, w, ridge), atol=1e-4)


def test_length_biased_preferences_are_controlled() -> None:
    rng = np.random.default_rng(7)
    delta = rng.normal(80.0, 60.0, size=400)  # the shadow is mostly longer
    preference = (delta > 0).astype(float)  # and the judge prefers the longer answer
    result = length_controlled_win_rate(preference, delta)
    assert result.raw > 0.85
    assert abs(result.lc - 0.5) < 0.1 and result.length_slope > 0


def test_no_length_effect_leaves_the_win_rate() -> None:
    rng = np.random.default_rng(3)
    delta = rng.normal(0.0, 50.0, size=2000)
    preference = (rng.uniform(size=2000) < 0.7).astype(float)
    result = length_controlled_win_rate(preference, delta)
    assert result.lc == pytest.approx(result.raw, abs=0.02)
    assert math.isnan(length_controlled_win_rate(np.array([]), np.array([])).lc)


# ---- agreement ----------------------------------------------------------------------------------


def test_kappa_known_values_and_interval() -> None:
    perfect = cohen_kappa(["good", "bad"] * 20, ["good", "bad"] * 20)
    assert perfect.kappa == 1.0 and perfect.low == 1.0
    chance = cohen_kappa(["good", "good", "bad", "bad"] * 25, ["good", "bad"] * 50)
    assert chance.kappa == pytest.approx(0.0) and chance.low < 0 < chance.high
    # Cohen 1960 style table: 2x2 with po = 0.7, pe = 0.5
    k = cohen_kappa(
        ["g"] * 35 + ["g"] * 15 + ["b"] * 15 + ["b"] * 35,
        ["g"] * 35 + ["b"] * 15 + ["g"] * 15 + ["b"] * 35,
    )
    assert k.kappa == pytest.approx(0.4)
    assert k.high - k.kappa == pytest.approx(
        1.959963984540054 * math.sqrt(0.7 * 0.3 / (100 * 0.25))
    )


@given(st.lists(st.tuples(st.sampled_from("gb"), st.sampled_from("gb")), min_size=1, max_size=60))
def test_kappa_is_symmetric_and_bounded(pairs: list[tuple[str, str]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    k1, k2 = cohen_kappa(a, b), cohen_kappa(b, a)
    if not math.isnan(k1.kappa):
        assert k1.kappa == pytest.approx(k2.kappa) and -1.0 <= k1.kappa <= 1.0
        assert k1.low <= k1.kappa <= k1.high


# ---- sampling and weights -----------------------------------------------------------------------


@given(st.text(min_size=1, max_size=50), st.floats(0.0, 1.0))
def test_sampling_is_a_function_of_the_request_id(request_id: str, rate: float) -> None:
    assert 0.0 <= hash_fraction(request_id) < 1.0
    assert sampled(request_id, rate) == sampled(request_id, rate)
    assert sampled(request_id, rate) <= sampled(request_id, min(1.0, rate + 0.1))


def test_weighted_mean_of_a_flag_heavy_sample_is_unbiased() -> None:
    rng = np.random.default_rng(11)
    n, rate = 200_000, 0.05
    is_flagged = rng.uniform(size=n) < 0.1
    score = np.where(is_flagged, rng.normal(2.0, 1.0, n), rng.normal(8.0, 1.0, n))
    chosen = is_flagged | np.array([sampled(f"r{i}", rate) for i in range(n)])
    weights = np.array([inclusion_weight(rate, flagged=bool(f)) for f in is_flagged[chosen]])
    unweighted = score[chosen].mean()
    weighted = np.average(score[chosen], weights=weights)
    assert abs(weighted - score.mean()) < 0.05 < abs(unweighted - score.mean())


# ---- cost limits --------------------------------------------------------------------------------


@given(st.floats(0.5, 20.0), st.integers(1, 5), st.lists(st.floats(0.0, 0.5), max_size=200))
def test_rate_limit_never_exceeds_rate_times_time_plus_burst(
    rate: float, burst: int, gaps: list[float]
) -> None:
    limit, now, granted = RateLimit(rate, burst), 0.0, 0
    for gap in gaps:
        now += gap
        granted += limit.try_acquire(now)
    assert granted <= burst + rate * now + 1e-9


def test_daily_budget_holds_and_resets() -> None:
    budget = DailyBudget(1000)
    spent = 0
    for _ in range(50):
        if budget.allows(90, now=100.0):
            budget.spend(90, now=100.0)
            spent += 90
    assert spent == 990 and not budget.allows(90, now=86399.0) and budget.allows(90, now=86400.0)
    with pytest.raises(ValueError, match="-1 must be >= 0"):
        DailyBudget(-1)
