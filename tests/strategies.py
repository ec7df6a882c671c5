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


# Every accepted way to give a prior (priors/README.md), with ``dist`` or inferred (None).
FORMS = [
    (None, "p5 p95"), (None, "p10 p50 p90"), (None, "min mode max"),
    (None, "min mode max lambda"), (None, "value"),
    ("constant", "value"), ("uniform", "min max"), ("uniform", "loc scale"),
    ("uniform", "p5 p95"), ("loguniform", "min max"), ("loguniform", "p5 p95"),
    ("normal", "loc scale"), ("normal", "p5 p95"), ("normal", "p10 p50 p90"),
    ("truncnormal", "loc scale min max"), ("truncnormal", "loc scale min"),
    ("truncnormal", "loc scale max"), ("lognormal", "mu sigma"), ("lognormal", "s scale"),
    ("lognormal", "s scale loc"), ("lognormal", "p5 p95"), ("lognormal", "p10 p50 p90"),
    ("triangular", "min mode max"), ("triangular", "c loc scale"), ("pert", "min mode max"),
    ("pert", "min mode max lambda"), ("beta", "a b"), ("beta", "a b loc scale"),
    ("gamma", "a"), ("gamma", "a loc scale"), ("discrete", "values weights"),
]


def _weights() -> st.SearchStrategy[list[float]]:
    return st.lists(positives(1e-3, 1e3), min_size=1, max_size=5).map(
        lambda w: [x / sum(w) for x in w])


def _numbers() -> st.SearchStrategy[object]:
    return st.one_of(reals(), st.integers(-(2**63), 2**63 - 1),
                     st.sampled_from([0.0, 1.0, -1.0, float("nan"), float("inf")]))


def _formed() -> st.SearchStrategy[dict[str, object]]:
    """A known parameter set with mostly numeric values; sometimes junk or a key too many."""
    def build(form: tuple[str | None, str]) -> st.SearchStrategy[dict[str, object]]:
        family, keys = form
        value = st.one_of(_numbers(), _numbers(), _numbers(), spec_values())
        fields = {k: value for k in keys.split()}
        if family == "discrete":
            fields = {"values": st.lists(_numbers(), min_size=1, max_size=5),
                      "weights": st.one_of(_weights(), st.lists(_numbers(), max_size=5))}
        head = {} if family is None else {"dist": st.just(family)}
        extra = st.dictionaries(st.sampled_from(sorted(PARAMETER_NAMES - {"dist"})),
                                spec_values(), max_size=1)
        return st.tuples(st.fixed_dictionaries({**head, **fields}), st.booleans(), extra).map(
            lambda t: {**t[2], **t[0]} if t[1] else t[0])

    return st.sampled_from(FORMS).flatmap(build)


def spec_dicts() -> st.SearchStrategy[dict[str, object]]:
    """Parameter tables: known forms with odd values, or a few names mapped to anything."""
    names = st.sampled_from(sorted(PARAMETER_NAMES - {"dist"}) + ["bogus"])
    dist = st.one_of(st.sampled_from(FAMILIES), st.text(max_size=10), spec_values())
    loose = st.tuples(st.dictionaries(names, spec_values(), max_size=4),
                      st.one_of(st.none(), dist)).map(
        lambda pd: pd[0] if pd[1] is None else {**pd[0], "dist": pd[1]})
    return st.one_of(_formed(), _formed(), loose)
