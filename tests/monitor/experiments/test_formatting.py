"""The one printing rule for effects, intervals and p-values: exact strings for known inputs, and
properties over any finite input (same decimals, faithful to half a unit, order kept) and over any
input at all (never raises, short, n/a when not finite)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.experiments.decision import decide
from monitor.experiments.formatting import (
    MAX_DECIMALS,
    NOT_AVAILABLE,
    SCIENTIFIC_FROM,
    effect_parts,
    format_effect,
    format_p,
    p_value_text,
    precision_for,
)
from monitor.experiments.stats import Comparison

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("effect", "low", "high", "expected"),
    [
        # the width's two significant digits set the decimals of all three
        (0.04, 0.01, 0.07, "+0.040 (interval +0.010 to +0.070)"),
        (18.44, -0.08392, 36.8, "+18 (interval 0 to +37)"),
        # zero outside the interval: the bound nearest to it keeps a digit, and the rest follow
        (18.44, 0.08392, 36.8, "+18.44 (interval +0.08 to +36.80)"),
        (-3.0, -6.1, -0.004, "-3.000 (interval -6.100 to -0.004)"),
        (0.5, 0.04999, 0.95, "+0.50 (interval +0.05 to +0.95)"),
        (0.0123, -0.0004567, 0.02512, "+0.012 (interval 0.000 to +0.025)"),
        (2.54, 0.93, 4.51, "+2.5 (interval +0.9 to +4.5)"),
        (0.08, 0.03, 0.1294, "+0.080 (interval +0.030 to +0.129)"),  # width 0.0994 -> 0.099
        (0.08, 0.03, 0.1297, "+0.08 (interval +0.03 to +0.13)"),  # width 0.0997 -> 0.10
        # negative effects
        (-0.04, -0.07, -0.01, "-0.040 (interval -0.070 to -0.010)"),
        (-12.5, -14.25, -10.75, "-12.5 (interval -14.3 to -10.8)"),  # halves away from zero
        # zero width: decimals from the values' own size; all zero: integers
        (0.0, 0.0, 0.0, "0 (interval 0 to 0)"),
        (2.0, 2.0, 2.0, "+2.0 (interval +2.0 to +2.0)"),
        (-0.0456, -0.0456, -0.0456, "-0.046 (interval -0.046 to -0.046)"),
        # not finite
        (NAN, NAN, NAN, "n/a (interval n/a to n/a)"),
        (NAN, -INF, INF, "n/a (interval n/a to n/a)"),
        (0.5, 0.1, INF, "+0.50 (interval +0.10 to n/a)"),
        (INF, 1.0, 2.0, "n/a (interval +1.0 to +2.0)"),
        # large: fixed point up to 1e12, never rounded to tens
        (1e7, 9e6, 1.1e7, "+10000000 (interval +9000000 to +11000000)"),
        (123456.7, 123000.1, 123999.9, "+123457 (interval +123000 to +124000)"),
        (1.234e13, 1.2e13, 1.27e13, "+1.234e+13 (interval +1.200e+13 to +1.270e+13)"),
        # small: fixed point down to a width of 1e-5, then a shared exponent
        (1e-5, 0.5e-5, 1.5e-5, "+0.000010 (interval +0.000005 to +0.000015)"),
        (1e-6, 0.5e-6, 1.5e-6, "+1.0e-06 (interval +0.5e-06 to +1.5e-06)"),
        (-2.5e-6, -3.1e-6, -1.9e-6, "-2.5e-06 (interval -3.1e-06 to -1.9e-06)"),
        # zero outside, but its bound's first digit beyond six decimals: that bound prints alone
        (0.5, 1e-9, 0.9, "+0.50 (interval +1.0e-09 to +0.90)"),
        (5.0, 1e-9, 9.0, "+5.0 (interval +1.0e-09 to +9.0)"),
        (-5.0, -9.0, -9.96e-10, "-5.0 (interval -9.0 to -1.0e-09)"),
        (1e13, 1e-3, 2e13, "+1.0e+13 (interval +1.0e-03 to +2.0e+13)"),
        (1e-6, 1e-12, 2e-6, "+1.0e-06 (interval +1.0e-12 to +2.0e-06)"),
        (5.0, 1e-10, 2e-10, "+5.000000 (interval +1.0e-10 to +2.0e-10)"),
        # ... and within six decimals of the shared exponent: the mantissa shows its first digit
        (2e-6, 1e-8, 4e-6, "+2.00e-06 (interval +0.01e-06 to +4.00e-06)"),
        # decimals capped: a tiny width next to large values keeps 6 decimals
        (
            5000.0,
            5000.0 - 1e-9,
            5000.0 + 1e-9,
            "+5000.000000 (interval +5000.000000 to +5000.000000)",
        ),
    ],
)
def test_known_effects_print_exactly(effect: float, low: float, high: float, expected: str) -> None:
    assert format_effect(effect, low, high) == expected


def test_relative_effects_print_in_percent_and_levels_without_sign() -> None:
    assert format_effect(0.057, 0.01, 0.104, percent=True) == "+5.7% (interval +1.0% to +10.4%)"
    assert format_effect(-0.2, -0.31, -0.09, percent=True) == "-20% (interval -31% to -9%)"
    assert format_effect(0.5, 1e-9, 0.9, percent=True) == "+50% (interval +1.0e-07% to +90%)"
    assert format_effect(0.9, 0.871, 0.929, signed=False) == "0.900 (interval 0.871 to 0.929)"
    assert (
        format_effect(1.0, 0.5, 1.5, detail="margin 25")
        == "+1.0 (interval +0.5 to +1.5, margin 25)"
    )
    arm = precision_for(0.04, 0.01, 0.07)
    assert (arm.text(0.70123), arm.text(0.74), arm.text(NAN)) == ("0.701", "0.740", "n/a")


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "p < 0.001"),
        (1e-300, "p < 0.001"),
        (0.000999, "p < 0.001"),
        (0.001, "p = 0.001"),
        (0.0034, "p = 0.003"),
        (0.0499, "p = 0.049"),  # cut, not rounded: below α = 0.05 in print too
        (0.05, "p = 0.050"),
        (0.29, "p = 0.290"),  # the float 0.28999… still prints as 0.290
        (0.4567, "p = 0.456"),
        (1.0, "p = 1.000"),
        (NAN, "p = n/a"),
        (INF, "p = n/a"),
        (-0.1, "p = n/a"),
        (1.5, "p = n/a"),
    ],
)
def test_p_values_print_exactly(p: float, expected: str) -> None:
    assert format_p(p) == expected


@given(st.floats(0.0, 1.0), st.sampled_from([0.001, 0.01, 0.05, 0.1]))
def test_a_printed_p_is_below_alpha_exactly_when_p_is(p: float, alpha: float) -> None:
    text = p_value_text(p)
    printed_below = text.startswith("<") or Decimal(text) < Decimal(repr(alpha))
    assert printed_below == (p < alpha)


def test_decision_reasons_use_the_rule() -> None:
    c = Comparison(
        5e3, 5e3, 0.70, 0.74, 0.0412, 0.0103, 0.0721, 0.0031, 0.057, 0.01, 0.1, True, 0.4
    )
    worse = Comparison(5e3, 5e3, 210.0, 241.2, 31.23, 27.31, 35.08, 1e-6, 0.15, 0.1, 0.2, True, 9.0)
    assert decide(c, "higher", [], srm_mismatch=False).reason == (
        "primary metric better: +0.041 (interval +0.010 to +0.072, p = 0.003)"
    )
    assert decide(c, "lower", [], srm_mismatch=False).reason == (
        "primary metric worse: +0.041 (interval +0.010 to +0.072, p = 0.003)"
    )
    assert decide(
        c, "higher", [("latency_ms", worse, "lower", 25.0)], srm_mismatch=False
    ).reason == ("guardrail latency_ms harmed: +31.2 (interval +27.3 to +35.1, margin 25)")


def _decimals(text: str) -> int:
    mantissa = text.rstrip("%").split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _exponent(text: str) -> str:
    return text.rstrip("%").partition("e")[2]


def _half_unit(text: str) -> Decimal:
    """Half a unit of the last printed decimal, in the value's own scale."""
    return Decimal("0.5").scaleb(int(_exponent(text) or 0) - _decimals(text))


NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?(e[+-]\d\d+)?%?$")
finite = st.floats(allow_nan=False, allow_infinity=False)


@given(finite, finite, finite, st.booleans())
@example(0.0, 2.2250738585072014e-308, 0.99609375, False)  # its low bound once printed as 0.0
def test_any_finite_effect_prints_alike_and_faithfully(
    a: float, b: float, c: float, percent: bool
) -> None:
    if percent:
        a, b, c = a / 1e3, b / 1e3, c / 1e3  # times 100 stays finite
    effect, low, high = a, min(b, c), max(b, c)
    texts = effect_parts(effect, low, high, percent=percent)
    assert all(NUMBER.match(t) for t in texts), texts
    excludes_zero = low > 0 or high < 0
    shared = precision_for(effect, low, high, percent=percent)
    alike = []
    for value, text in zip((effect, low, high), texts):
        if text == shared.text(value, signed=True):
            alike.append(text)
        else:  # printed alone: only a number that the shared precision shows as 0
            assert excludes_zero and value != 0, (value, texts)
            assert Decimal(shared.text(value).rstrip("%")) == 0, (value, texts)
            assert _decimals(text) == 1 and not text.lstrip("+-").startswith("0"), (value, text)
    assert len({_decimals(t) for t in alike}) <= 1, texts  # same number of decimals
    assert all(_decimals(t) <= MAX_DECIMALS for t in texts), texts
    assert len({_exponent(t) for t in alike}) <= 1, texts  # same exponent
    for value, text in zip((effect, low, high), texts):
        original = Fraction(value) * (100 if percent else 1)  # exact: no float rounding of x100
        error = abs(Fraction(Decimal(text.rstrip("%"))) - original)
        assert error <= Fraction(_half_unit(text)), (value, text)
    parsed = [Decimal(t.rstrip("%")) for t in texts]
    assert parsed[1] <= parsed[2]
    if low > 0:  # zero outside stays visibly outside, in every notation
        assert parsed[1] > 0 and parsed[2] > 0, texts
    elif high < 0:
        assert parsed[1] < 0 and parsed[2] < 0, texts
    if low <= effect <= high:
        assert parsed[1] <= parsed[0] <= parsed[2], texts


@given(st.floats(), st.floats(), st.floats(), st.booleans(), st.booleans())
@example(1e307, 5e306, 1.5e307, True, True)  # times 100 overflows a float: once raised
@example(1.7e308, 1e-300, -1.7e308, True, False)  # bounds in the wrong order, the width overflows
@example(-1e-300, 1.7e308, 1e-300, False, True)
@example(5e-324, 5e-324, 1.7976931348623157e308, True, True)
@example(3.0, math.inf, 1e-300, True, True)
def test_any_input_prints_short_and_close_to_its_value(
    effect: float, low: float, high: float, percent: bool, signed: bool
) -> None:
    texts = effect_parts(effect, low, high, percent=percent, signed=signed)
    assert format_effect(effect, low, high, percent=percent, signed=signed) == (
        f"{texts[0]} (interval {texts[1]} to {texts[2]})"
    )
    for value, text in zip((effect, low, high), texts):
        if not math.isfinite(value):
            assert text == NOT_AVAILABLE, (value, text)
            continue
        assert NUMBER.match(text) and len(text) <= 30, (value, text)
        assert signed or not text.startswith("+"), (value, text)
        exact = Fraction(value) * (100 if percent else 1)
        if abs(exact) >= SCIENTIFIC_FROM:
            assert "e" in text, (value, text)
        error = abs(Fraction(Decimal(text.rstrip("%"))) - exact)
        assert error <= Fraction(_half_unit(text)), (value, text)


@given(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(1e-5, 1e5, allow_nan=False, allow_infinity=False),
)
@example(1.0, 1.875)  # from 0.0625 to 1.9375: the bound nearest to zero asks for two decimals
def test_the_width_is_two_significant_digits_of_the_last_decimal(
    effect: float, width: float
) -> None:
    low, high = effect - width / 2, effect + width / 2
    decimals = _decimals(effect_parts(effect, low, high)[0])
    units = (high - low) * 10.0**decimals  # the width in units of the last printed decimal
    # an interval that excludes zero may print more decimals: those of its bound nearest to zero
    nearest = low if low > 0 else -high if high < 0 else None
    to_nearest = None if nearest is None else -Decimal(nearest).adjusted()
    if 0 < decimals < MAX_DECIMALS:
        assert units >= 9.94, (effect, width, decimals)
        assert units < 99.6 or decimals == to_nearest, (effect, width, decimals)
    elif decimals == 0:
        assert units >= 9.94


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(),
    st.booleans(),
)
@example(0.04, 0.01, 0.07, 1e30, False)  # an arm's value far outside the effect's interval
def test_a_value_outside_the_interval_prints_with_its_precision(
    effect: float, low: float, high: float, value: float, percent: bool
) -> None:
    """The reports print the arms' own values with the precision of the effect between them: a
    value of any size prints (1e30 with the precision of 0.04 raised InvalidOperation), exact to
    the precision's last decimal."""
    precision = precision_for(effect, low, high, percent=percent)
    text = precision.text(value)
    if not math.isfinite(value):
        assert text == "n/a"
        return
    number = Fraction(Decimal(text.rstrip("%")))
    exact = Fraction(value) * (100 if percent else 1)
    assert abs(number - exact) <= Fraction(10) ** (precision.exponent - precision.decimals)
