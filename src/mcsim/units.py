"""Numbers for humans: parse draw counts ("10M", "2.5M", "1e7", "1_000_000") and format
values in their units ($1.6B, 266.7x, 44.2 MW)."""

from __future__ import annotations

import math
import re

from .errors import McsimError

_SUFFIX = {"": 1, "k": 10**3, "K": 10**3, "m": 10**6, "M": 10**6, "b": 10**9, "B": 10**9,
           "g": 10**9, "G": 10**9}
_COUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBgG]?)\s*$")


# The most draws a run may take. The kernel's draw counters are 64-bit integers, but each
# output's count and running sums (of x - shift and its square) are doubles, added tile by tile
# (65,536 draws) in order. The sums' rounding grows at worst like (N / 65,536) * 2**-53, the
# Monte Carlo error like 1 / sqrt(N): they cross at N = 7e13. 1e13 keeps the rounding below the
# Monte Carlo error (and the counts exact, far below 2**53 = 9e15); it is 8.6 days at the
# 13.5M draws/s of two cores.
MAX_DRAWS = 10**13
MAX_DRAWS_WHY = ("at most 1e13 draws: beyond that the rounding of the running sums can exceed "
                 "the Monte Carlo error")


def parse_count(text: str | int, what: str = "count") -> int:
    """A draw count from "10M", "2.5M", "1e7", "1_000_000", "1B" or an int: a whole number
    from 1 to ``MAX_DRAWS``."""
    if isinstance(text, int) and not isinstance(text, bool):
        value: float = text
    else:
        match = _COUNT.match(str(text))
        if not match:
            raise McsimError(f"{what}: {text!r} is not a count (try 10M, 2.5M, 1e7, 1_000_000)")
        number, suffix = match.groups()
        value = float(number.replace("_", "")) * _SUFFIX[suffix]
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise McsimError(f"{what}: {text!r} must be a positive whole number")
    check_draws(int(value), what)
    return int(value)


def check_draws(draws: int, what: str = "draws") -> None:
    """Refuse a draw count above ``MAX_DRAWS``."""
    if draws > MAX_DRAWS:
        raise McsimError(f"{what}: {MAX_DRAWS_WHY} (got {draws:,})")


def _sig(x: float, digits: int = 3) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if not 1e-6 <= abs(x) < 1e15:  # written out, these run to hundreds of digits
        return f"{x:.{digits}g}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{decimals}f}"


def format_value(x: float, unit: str = "") -> str:
    """``x`` in ``unit``: dollars get k/M/B, multiples get an x, others their unit after."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    base, _, per = unit.partition("/")
    if base in ("USD", "$"):
        sign = "-" if x < 0 else ""
        ax = abs(x)
        for scale, letter in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
            if scale <= ax < 1e15:  # beyond 1,000T: scientific, by _sig
                text = f"{sign}${_sig(ax / scale)}{letter}"
                break
        else:
            text = f"{sign}${_sig(ax)}"
        return f"{text}/{per}" if per else text
    if is_ratio(unit):
        return f"{_sig(x, 4 if abs(x) >= 100 else 3)}x"
    text = _sig(x)
    return f"{text} {unit}" if unit else text


RATIO_UNIT = "x"


def is_ratio(unit: str) -> bool:
    """Whether an output in ``unit`` is a multiple (e.g. cost over a claimed cost)."""
    return unit == RATIO_UNIT


def format_compact(x: float, unit: str = "") -> str:
    """``x`` with its unit where that stays short (dollars, multiples), else the bare number:
    for axis ticks and table cells whose unit is shown once, elsewhere."""
    base = unit.partition("/")[0]
    return format_value(x, unit if base in ("USD", "$") or is_ratio(unit) else "")


def format_percent(p: float) -> str:
    """A probability in [0, 1] as a percentage, keeping small ones readable."""
    if math.isnan(p):
        return "n/a"
    pct = 100 * p
    if 0 < pct < 0.1:
        return "<0.1%"
    if 99.9 < pct < 100:
        return ">99.9%"
    return f"{pct:.1f}%"


def format_share(p: float, low: float, high: float) -> str:
    """A probability estimated from draws, given its confidence interval [``low``, ``high``].

    As ``format_percent``, except where the estimate rounds to certainty or below 0.1%
    (no draw, or too few to show): there it is the interval's bound, never under 0.1%
    ("<0.1%" at a million draws or ten million, "<0.4%" at a thousand) and never shown as
    "0.0%" or "100.0%".
    """
    if math.isnan(p):
        return "n/a"
    pct = 100 * p
    if pct < 0.1:
        return f"<{max(math.ceil(1000 * high - 1e-9), 1) / 10:.1f}%"
    if pct > 99.9:
        return f">{min(math.floor(1000 * low + 1e-9), 999) / 10:.1f}%"
    return f"{pct:.1f}%"


def format_percentile(p_exceed: float, low: float, high: float) -> str:
    """``format_share`` of a claim's percentile, the share at or below it, from the interval
    [``low``, ``high``] of the share above it (``reduce.exceedance``)."""
    return format_share(1 - p_exceed, 1 - high, 1 - low)


def format_rate(per_second: float) -> str:
    return f"{_sig(per_second / 1e6)}M" if per_second >= 1e6 else f"{_sig(per_second)}"
