"""Counts in and values out, as people write and read them."""

from __future__ import annotations

import pytest

from mcsim.errors import McsimError
from mcsim.units import (
    MAX_DRAWS,
    format_percent,
    format_percentile,
    format_share,
    format_value,
    parse_count,
)


@pytest.mark.parametrize("text, value", [
    ("10M", 10_000_000), ("2.5M", 2_500_000), ("1e7", 10_000_000),
    ("1_000_000", 1_000_000), ("1B", 1_000_000_000), ("10k", 10_000), ("7", 7),
    (" 3M ", 3_000_000), (5, 5),
])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "1.5", "2.5x", "1e-3", "M", "nan"])
def test_parse_count_rejects(text):
    with pytest.raises(McsimError, match="draws"):
        parse_count(text, "draws")


@pytest.mark.parametrize("x, unit, text", [
    (1.6e9, "USD", "$1.60B"), (944e6, "USD", "$944M"), (5.576e6, "USD", "$5.58M"),
    (155e6, "USD/yr", "$155M/yr"), (266.67, "x", "266.7x"), (0.696, "x", "0.696x"),
    (44.2, "MW", "44.2 MW"), (12345.0, "", "12,345"), (-2e6, "USD", "-$2.00M"),
    (float("nan"), "USD", "n/a"),
])
def test_format_value(x, unit, text):
    assert format_value(x, unit) == text


def test_format_percent():
    assert format_percent(0.189) == "18.9%"
    assert format_percent(0.0001) == "<0.1%"
    assert format_percent(0.99991) == ">99.9%"
    assert format_percent(1.0) == "100.0%"


def test_draw_counts_have_a_documented_maximum():
    """1e19 gave an OverflowError traceback and 1e17 was accepted (years of running)."""
    assert MAX_DRAWS == 10**13 and parse_count("1e13") == MAX_DRAWS
    for text in ["10000000000001", "1e17", "1e19", "1e30"]:
        with pytest.raises(McsimError, match=r"^--draws: at most 1e13 draws: beyond that"):
            parse_count(text, "--draws")


@pytest.mark.parametrize("x, unit, text", [
    (1e300, "USD", "$1e+300"), (-2.5e27, "USD/yr", "-$2.5e+27/yr"), (9.9e14, "USD", "$990T"),
    (1e-300, "", "1e-300"), (3e20, "MW", "3e+20 MW"), (1.234e17, "x", "1.234e+17x"),
])
def test_huge_and_tiny_values_stay_short(x, unit, text):
    """A normal at 1e308 printed 300-digit dollar figures."""
    assert format_value(x, unit) == text


@pytest.mark.parametrize("p, low, high, text", [
    (0.0, 0.0, 3e-6, "<0.1%"),  # no draw in a million
    (3e-7, 1e-7, 9e-7, "<0.1%"),  # three in ten million: the same words
    (0.0, 0.0, 0.003682, "<0.4%"),  # no draw in a thousand
    (1.0, 0.996318, 1.0, ">99.6%"),
    (1.0, 0.999997, 1.0, ">99.9%"),
    (0.0009, 0.0008, 0.00101, "<0.2%"),  # below 0.1%, but not surely
    (0.189, 0.18, 0.2, "18.9%"),
    (float("nan"), float("nan"), float("nan"), "n/a"),
])
def test_format_share_gives_a_bound_where_the_draws_cannot_show_a_value(p, low, high, text):
    assert format_share(p, low, high) == text
    assert format_percentile(1 - p, 1 - high, 1 - low) == text
