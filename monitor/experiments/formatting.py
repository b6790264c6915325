"""How an effect, its interval and a p-value are printed for people: the one rule behind the
decision reasons, the ``monitor experiment report`` and ``monitor shadow report`` tables, the
dashboard's experiment and shadow rows, the experiment alerts, the outcome evidence of the other
alerts' descriptions, the change detectors' evidence and the demo's recap.

**Effects.** The effect and both ends of its interval are printed in the same unit with the same
number of decimals, chosen from the interval's width so that the width shows two significant
digits (width 0.061 → 3 decimals, 3.6 → 1, 37 → 0); never fewer than 0 decimals (an integer is
not rounded to tens) nor more than :data:`MAX_DECIMALS`; more where an interval that excludes zero
would otherwise show a bound as 0, so that a reader sees from the printed bounds alone whether
zero is inside (``+18.44 (interval +0.08 to +36.80)``, not ``+18 (interval 0 to +37)``). Where
that would take more than :data:`MAX_DECIMALS`, the decimals stay those of the width, and a bound
(or the effect) that they would print as 0 although the interval excludes zero is printed on its
own, with two significant digits and its own exponent: ``+0.50 (interval +1.0e-09 to +0.90)``.
Halves round away from zero (14.25 → 14.3). Effects carry their sign, a value that
rounds to zero is printed without one, relative effects (``percent=True``) are multiplied by 100
exactly (so 1e307 prints as ``+1.0e+309%``) and end in ``%``. A zero-width or unbounded interval gives no width to size from: the decimals then
give the largest finite value two significant digits. A value that is NaN or infinite prints as
:data:`NOT_AVAILABLE`.

Fixed-point notation is kept for 1e-5 ≤ width and values below :data:`SCIENTIFIC_FROM` (so 1e7
prints as ``10000000``). Scientific notation, with **one exponent shared** by the effect and its
bounds (that of the largest value), is used only where fixed point cannot show the numbers: values
of 1e12 or more, or values below 1 whose interval is narrower than 1e-5. The decimals of its
mantissa follow the same rule, bound nearest to zero and number printed on its own included.

**p-values** print with three decimals, cut (not rounded) at the third: ``p = 0.049`` for
0.0499, so a printed p is below a threshold such as α = 0.05 or 0.01 exactly when the p-value is;
below 0.001 it is ``p < 0.001``.

>>> format_effect(18.44, 0.08392, 36.8)
'+18.44 (interval +0.08 to +36.80)'
>>> format_effect(18.44, -0.08392, 36.8)
'+18 (interval 0 to +37)'
>>> format_effect(0.0123, -0.0004567, 0.02512, detail="margin 0.01")
'+0.012 (interval 0.000 to +0.025, margin 0.01)'
>>> format_effect(-0.04, -0.07, -0.01, detail=format_p(0.0034))
'-0.040 (interval -0.070 to -0.010, p = 0.003)'
>>> format_effect(0.057, 0.01, 0.104, percent=True)
'+5.7% (interval +1.0% to +10.4%)'
>>> format_effect(0.5, 1e-9, 0.9), format_effect(-2e13, -3e13, -0.004)
('+0.50 (interval +1.0e-09 to +0.90)', '-2.0e+13 (interval -3.0e+13 to -4.0e-03)')
>>> format_p(0.0004), format_p(0.0499), format_p(1.0), format_p(float("nan"))
('p < 0.001', 'p = 0.049', 'p = 1.000', 'p = n/a')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal

__all__ = [
    "MAX_DECIMALS",
    "NOT_AVAILABLE",
    "SCIENTIFIC_FROM",
    "Precision",
    "effect_parts",
    "format_effect",
    "format_p",
    "p_value_text",
    "precision_for",
]

MAX_DECIMALS = 6
SCIENTIFIC_FROM = 1e12
NOT_AVAILABLE = "n/a"
P_FLOOR = Decimal("0.001")
EXACT = Context(prec=800)  # a double's exact decimal has at most 767 significant digits


def _scaled(value: float, *, percent: bool) -> Decimal:
    """The finite ``value``, times 100 if ``percent``, exactly: a Decimal neither overflows nor rounds.

    >>> _scaled(0.25, percent=True), _scaled(1.5e308, percent=True).adjusted()
    (Decimal('25'), 310)
    """
    exact = Decimal(value)
    return exact.scaleb(2, EXACT) if percent else exact


def _exponent(x: Decimal) -> int:
    """The power of ten of ``x`` rounded to two significant digits (0.0996 → -1, 0.0994 → -2)."""
    return int(f"{x:.1e}".split("e")[1])


@dataclass(frozen=True, slots=True)
class Precision:
    """How the numbers of one effect are printed: ``decimals`` after the point of the mantissa, a
    shared power of ten ``exponent`` (0: fixed point), and ``percent`` (values times 100, then %).

    >>> p = precision_for(0.04, 0.01, 0.07)
    >>> p, p.text(0.6234), p.text(0.04, signed=True), p.text(-0.0002, signed=True)
    (Precision(decimals=3, exponent=0, percent=False), '0.623', '+0.040', '0.000')
    >>> precision_for(3.2e-8, 1.1e-8, 5.3e-8).text(3.2e-8, signed=True)
    '+3.2e-08'
    """

    decimals: int
    exponent: int = 0
    percent: bool = False

    def text(self, value: float, *, signed: bool = False) -> str:
        """``value`` printed with this precision; :data:`NOT_AVAILABLE` when it is not finite."""
        if not math.isfinite(value):
            return NOT_AVAILABLE
        text = f"{self._mantissa(value):{'+' if signed else ''}f}"
        if Decimal(text) == 0:
            text = text.lstrip("+-")  # no sign on a value that rounds to zero
        if self.exponent:
            text += f"e{self.exponent:+03d}"
        return text + ("%" if self.percent else "")

    def _mantissa(self, value: float) -> Decimal:
        """The finite ``value`` in units of the shared power of ten, rounded to ``decimals``."""
        # Decimal keeps the binary value exact and never overflows, whatever the exponent.
        scaled = _scaled(value, percent=self.percent).scaleb(-self.exponent, EXACT)
        return scaled.quantize(Decimal(1).scaleb(-self.decimals), ROUND_HALF_UP, EXACT)

    def _prints_as_zero(self, value: float) -> bool:
        """True if ``value`` is finite and not 0 but prints as 0 with this precision."""
        return value != 0 and math.isfinite(value) and self._mantissa(value) == 0


def _alone(value: float, *, percent: bool) -> Precision:
    """Two significant digits of ``value`` with its own power of ten (9.96e-10 → 1.0e-09).

    >>> _alone(9.96e-10, percent=False).text(9.96e-10), _alone(-4e-9, percent=True).text(-4e-9)
    ('1.0e-09', '-4.0e-07%')
    """
    return Precision(1, _exponent(_scaled(value, percent=percent)), percent)


def _nearest_to_zero(low: float, high: float) -> float | None:
    """How far ``[low, high]`` lies from zero; None if zero is inside or that is infinite."""
    nearest = low if low > 0 else -high if high < 0 else math.nan
    return nearest if math.isfinite(nearest) else None


def precision_for(effect: float, low: float, high: float, *, percent: bool = False) -> Precision:
    """The precision of an effect and its interval ``[low, high]`` (the rule of the module docstring)."""
    finite = [abs(_scaled(v, percent=percent)) for v in (effect, low, high) if math.isfinite(v)]
    largest = max(finite, default=Decimal(0))
    width = Decimal(0)  # an unbounded interval has no width to size from
    if math.isfinite(low) and math.isfinite(high):
        width = _scaled(high, percent=percent) - _scaled(low, percent=percent)
    sized = width if width > 0 else largest
    if sized == 0:
        return Precision(0, 0, percent)
    exponent = 0
    if largest >= SCIENTIFIC_FROM or (1 - _exponent(sized) > MAX_DECIMALS and largest < 1):
        exponent = _exponent(largest)
    decimals = max(exponent + 1 - _exponent(sized), 0)
    nearest = _nearest_to_zero(low, high)
    if nearest is not None:  # zero is outside: show the first digit of the bound nearest to it
        to_first_digit = exponent - _scaled(nearest, percent=percent).adjusted()
        if to_first_digit <= MAX_DECIMALS:  # else effect_parts prints that bound on its own
            decimals = max(decimals, to_first_digit)
    return Precision(min(decimals, MAX_DECIMALS), exponent, percent)


def effect_parts(
    effect: float, low: float, high: float, *, percent: bool = False, signed: bool = True
) -> tuple[str, str, str]:
    """The effect, the interval's low and high end, printed alike (signed unless ``signed=False``);
    if the interval excludes zero, a number that the shared precision would print as 0 is printed
    on its own (the module docstring).

    >>> effect_parts(0.0, 0.0, 0.0), effect_parts(2.0, 2.0, 2.0), effect_parts(1e7, 9e6, 1.1e7)
    (('0', '0', '0'), ('+2.0', '+2.0', '+2.0'), ('+10000000', '+9000000', '+11000000'))
    >>> effect_parts(float("nan"), float("-inf"), float("inf")), effect_parts(0.5, 0.1, float("inf"))
    (('n/a', 'n/a', 'n/a'), ('+0.50', '+0.10', 'n/a'))
    >>> effect_parts(5.0, 1e-9, 9.0), effect_parts(3e-10, 1e-10, 5e-10, signed=False)
    (('+5.0', '+1.0e-09', '+9.0'), ('3.0e-10', '1.0e-10', '5.0e-10'))
    """
    shared = precision_for(effect, low, high, percent=percent)
    excludes_zero = low > 0 or high < 0

    def text(value: float) -> str:
        alone = excludes_zero and shared._prints_as_zero(value)
        return (_alone(value, percent=percent) if alone else shared).text(value, signed=signed)

    return text(effect), text(low), text(high)


def format_effect(
    effect: float,
    low: float,
    high: float,
    *,
    percent: bool = False,
    signed: bool = True,
    detail: str = "",
) -> str:
    """``+0.040 (interval +0.010 to +0.070)``, with ``detail`` added inside the brackets if given.

    >>> format_effect(-2.5e-6, -3.1e-6, -1.9e-6)
    '-2.5e-06 (interval -3.1e-06 to -1.9e-06)'
    >>> format_effect(1.234e13, 1.2e13, 1.27e13)
    '+1.234e+13 (interval +1.200e+13 to +1.270e+13)'
    """
    shown, lo, hi = effect_parts(effect, low, high, percent=percent, signed=signed)
    return f"{shown} (interval {lo} to {hi}{', ' + detail if detail else ''})"


def p_value_text(p: float) -> str:
    """A p-value with three decimals cut at the third, ``< 0.001`` below that, ``n/a`` if not in [0, 1].

    >>> p_value_text(0.0), p_value_text(0.001), p_value_text(0.05), p_value_text(0.456)
    ('< 0.001', '0.001', '0.050', '0.456')
    """
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        return NOT_AVAILABLE
    if p < 0.001:
        return "< 0.001"
    # repr: the shortest decimal of the float, so 0.29 (stored as 0.28999…) stays 0.290
    return str(Decimal(repr(p)).quantize(P_FLOOR, rounding=ROUND_FLOOR))


def format_p(p: float) -> str:
    """``p = 0.003``, ``p < 0.001`` or ``p = n/a``."""
    text = p_value_text(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
