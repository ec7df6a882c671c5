"""Reusable hypothesis strategies (squigglepy's habit: keep them in one place)."""

from __future__ import annotations

from hypothesis import strategies as st

from mcsim.distributions import FAMILIES, PARAMETER_NAMES

# Magnitudes of costs, counts and prices: wide, but far from overflow when subtracted or
# divided (the overflow corners are pinned by explicit tests in test_distributions.py).
LIMIT = 1e100


def positives(lo: float = 1 / LIMIT, hi: float = LIMIT) -> st.SearchStrategy[float]:
    """Finite floats in [lo, hi]."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def reals(limit: float = LIMIT) -> st.SearchStrategy[float]:
    """Zero or finite floats with magnitude in [1 / limit, limit], either sign."""
    magnitude = positives(1 / limit, limit)
    return st.one_of(st.just(0.0), magnitude, magnitude.map(lambda x: -x))


def increasing(values: st.SearchStrategy[float], n: int) -> st.SearchStrategy[list[float]]:
    """``n`` distinct values in increasing order."""
    return st.lists(values, min_size=n, max_size=n, unique=True).map(sorted)


def min_mode_max(values: st.SearchStrategy[float] | None = None
                 ) -> st.SearchStrategy[tuple[float, float, float]]:
    """min < max with min <= mode <= max (the mode may sit on either end)."""
    values = reals(1e12) if values is None else values

    def build(pair: list[float]) -> st.SearchStrategy[tuple[float, float, float]]:
        lo, hi = pair
        mode = st.one_of(st.just(lo), st.just(hi), st.floats(lo, hi))
        return mode.map(lambda m: (lo, m, hi))

    return increasing(values, 2).flatmap(build)


def spec_values() -> st.SearchStrategy[object]:
    """Anything a scenario table (or a careless Python caller) might put in a parameter."""
    scalars = st.one_of(
        reals(),
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, float("nan"), float("inf"), -float("inf")]),
        st.integers(-(2**63), 2**63 - 1),  # TOML integers are 64-bit
        st.booleans(),
        st.text(max_size=8),
        st.none(),
    )
    return st.one_of(scalars, st.lists(scalars, max_size=4))


def spec_dicts() -> st.SearchStrategy[dict[str, object]]:
    """Parameter tables: a few known names (plus maybe ``dist``) mapped to arbitrary values."""
    names = st.sampled_from(sorted(PARAMETER_NAMES - {"dist"}) + ["lambda", "bogus"])
    dist = st.one_of(st.sampled_from(FAMILIES), st.text(max_size=10), spec_values())
    params = st.dictionaries(names, spec_values(), max_size=4)
    return st.tuples(params, st.one_of(st.none(), dist)).map(
        lambda pd: pd[0] if pd[1] is None else {**pd[0], "dist": pd[1]})
