"""Prior families: kernel draws and inverse CDFs against scipy, elicitation, spec errors.

Every family is drawn through the real path (scenario -> program -> ``draw_values``) and
compared with its scipy reference (KS test, quantiles). The kernel's inverse CDF is then
checked point by point: ``key_for_uniform`` inverts SplitMix64 so that draw 0 of a stream
gets a chosen uniform, which lets ``sample_into`` be evaluated at any u, tails included.
"""

from __future__ import annotations

import functools
import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import special, stats

import strategies as mst
from mcsim import _kernels as K
from mcsim import distributions as D
from mcsim import engine
from mcsim.errors import SpecError
from mcsim.scenario import scenario_from_dict

# ---------------------------------------------------------------- the cases

CASES: dict[str, dict] = {
    "uniform": {"dist": "uniform", "min": -3.0, "max": 7.0},
    "uniform-p5p95": {"dist": "uniform", "p5": 10.0, "p95": 20.0},
    "loguniform": {"dist": "loguniform", "min": 1e-3, "max": 1e4},
    "normal": {"dist": "normal", "loc": 5.0, "scale": 2.0},
    "truncnormal-both": {"dist": "truncnormal", "loc": 0.0, "scale": 1.0, "min": -1.0, "max": 2.0},
    "truncnormal-lower": {"dist": "truncnormal", "loc": 0.0, "scale": 1.0, "min": 0.5},
    "truncnormal-lower-below-loc": {"dist": "truncnormal", "loc": 10.0, "scale": 2.0, "min": 8.0},
    "truncnormal-upper": {"dist": "truncnormal", "loc": 0.0, "scale": 1.0, "max": -0.5},
    "truncnormal-far-tail": {"dist": "truncnormal", "loc": 0.0, "scale": 1.0, "min": 3.0,
                             "max": 6.0},
    "truncnormal-far-lower-tail": {"dist": "truncnormal", "loc": 0.0, "scale": 1.0, "min": -6.0,
                                   "max": -3.0},
    "lognormal-mu-sigma": {"dist": "lognormal", "mu": 1.0, "sigma": 1.0},
    "lognormal-scipy": {"dist": "lognormal", "s": 0.5, "scale": 3.0, "loc": -2.0},
    "lognormal-p5p95": {"dist": "lognormal", "p5": 10.0, "p95": 1000.0},
    "lognormal-p10p50p90": {"dist": "lognormal", "p10": 1.0, "p50": 2.0, "p90": 5.0},
    "lognormal-mirrored": {"p10": -3.0, "p50": 2.0, "p90": 3.0},
    "triangular": {"dist": "triangular", "min": 0.0, "mode": 1.0, "max": 5.0},
    "triangular-right-mode": {"dist": "triangular", "min": 2.0, "mode": 4.0, "max": 4.0},
    "pert": {"dist": "pert", "min": 0.0, "mode": 1.0, "max": 5.0},
    "pert-lambda-mode-at-min": {"min": 0.0, "mode": 0.0, "max": 5.0, "lambda": 2.0},
    "beta": {"dist": "beta", "a": 2.0, "b": 5.0},
    "beta-a-b-below-1": {"dist": "beta", "a": 0.5, "b": 0.7, "loc": 1.0, "scale": 3.0},
    "beta-a-below-1": {"dist": "beta", "a": 0.3, "b": 3.0},
    "gamma-0.5": {"dist": "gamma", "a": 0.5},
    "gamma-2": {"dist": "gamma", "a": 2.0, "scale": 3.0},
    "gamma-30": {"dist": "gamma", "a": 30.0, "loc": 1.0},
    "discrete": {"dist": "discrete", "values": [3.0, 1.0, 2.5, -4.0],
                 "weights": [0.2, 0.5, 0.25, 0.05]},
    "constant": {"dist": "constant", "value": 4.5},
}
TABULATED = {"pert", "beta", "gamma"}
ATOMIC = {"discrete", "constant"}
CONTINUOUS = [name for name in CASES if D.from_spec(CASES[name]).family not in ATOMIC]

def dist(name: str) -> D.Distribution:
    return D.from_spec(CASES[name])


def spread(d: D.Distribution) -> float:
    """The p1-p99 width: the scale that kernel errors are measured against."""
    width = float(d.ppf(0.99) - d.ppf(0.01))
    return width if width > 0 else 1.0


# ---------------------------------------------------------------- kernel helpers

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1_INV = pow(0xBF58476D1CE4E5B9, -1, 1 << 64)
_M2_INV = pow(0x94D049BB133111EB, -1, 1 << 64)


def _unxorshift(z: int, s: int) -> int:
    x = z
    for _ in range(64 // s + 1):
        x = z ^ (x >> s)
    return x & _MASK


def key_for_uniform(u: float) -> np.uint64:
    """A stream key whose draw 0 is the kernel uniform nearest ``u`` (SplitMix64 inverted)."""
    m = min(max(int(u * 2.0**52), 0), 2**52 - 1)
    z = _unxorshift(m << 12, 31)
    z = _unxorshift((z * _M2_INV) & _MASK, 27)
    z = _unxorshift((z * _M1_INV) & _MASK, 30)
    return np.uint64((z - _GAMMA) & _MASK)


def _kernel_args(d: D.Distribution) -> tuple[int, np.ndarray, np.ndarray]:
    spec = d.kernel_spec()
    table = spec.table if spec.table.size else np.zeros(1)
    return spec.family, np.asarray(spec.params, dtype=np.float64), table


def kernel_at(d: D.Distribution, us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's x at (the kernel uniforms nearest to) ``us``, and those exact uniforms."""
    family, params, table = _kernel_args(d)
    out = np.empty(1)
    xs = np.empty(len(us))
    exact = np.empty(len(us))
    for i, u in enumerate(us):
        key = key_for_uniform(float(u))
        K.sample_into(out, family, params, 0, key, table, 0, 1)
        xs[i] = out[0]
        exact[i] = K.uniform01(key, 0)
    return xs, exact


def kernel_uniforms(key: np.uint64, k0: int, n: int) -> np.ndarray:
    """Uniforms ``k0 .. k0+n-1`` of stream ``key`` (a zero-based, unit-width uniform is exact)."""
    out = np.empty(n)
    K.sample_into(out, K.F_UNIFORM, np.array([0.0, 1.0]), 0, key, np.zeros(1),
                  k0, n)
    return out


def kernel_draws(d: D.Distribution, key: np.uint64, k0: int, n: int) -> np.ndarray:
    family, params, table = _kernel_args(d)
    out = np.empty(n)
    K.sample_into(out, family, params, 0, key, table, k0, n)
    return out


N_DRAWS = 200_000


@functools.cache
def scenario_draws(name: str, n: int = N_DRAWS, seed: int | None = None) -> np.ndarray:
    """``n`` draws of the case through the whole engine: one input, output = that input.

    The default seed differs per case: with one seed every family would transform the same
    uniforms, and KS statistics (invariant under monotone maps) would all coincide.
    """
    seed = zlib.crc32(name.encode()) if seed is None else seed
    spec = {**CASES[name], "unit": "u", "source": "test"}
    s = scenario_from_dict({"schema": 1, "inputs": {"x": spec}, "outputs": {"y": "x"}})
    frame = engine.sample(s, n, seed=seed)
    np.testing.assert_array_equal(frame["x"].to_numpy(), frame["y"].to_numpy())
    return frame["y"].to_numpy()


def test_key_for_uniform_places_the_uniform():
    """The SplitMix64 inversion really gives the requested uniform (to its 2**-52 grid)."""
    for u in [2.0**-53, 1e-12, 0.3, 0.5, 1 - 1e-12, 1 - 2.0**-53]:
        assert abs(K.uniform01(key_for_uniform(u), 0) - u) <= 2.0**-53


# ---------------------------------------------------------------- draws vs scipy


@pytest.mark.parametrize("name", CONTINUOUS)
def test_draws_pass_ks_against_reference_cdf(name):
    """200,000 engine draws are indistinguishable from scipy's distribution (KS)."""
    d = dist(name)
    x = scenario_draws(name)
    assert np.all(np.isfinite(x))
    assert stats.kstest(x, d.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", CONTINUOUS)
def test_draw_quantiles_match_reference_ppf(name):
    """Empirical quantiles lie within 5 Monte Carlo standard errors of the exact ones."""
    d = dist(name)
    x = scenario_draws(name)
    n = x.size
    p = np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    h = np.minimum(p, 1 - p) / 10
    density = 2 * h / (d.ppf(p + h) - d.ppf(p - h))
    se = np.sqrt(p * (1 - p) / n) / density
    err = np.abs(np.quantile(x, p) - d.ppf(p))
    assert np.all(err < 5 * se), dict(zip(p, err / se, strict=True))


def test_discrete_frequencies_pass_chi_square():
    d = dist("discrete")
    x = scenario_draws("discrete")
    values = np.asarray(d.params["values"])
    observed = np.array([(x == v).sum() for v in values])
    assert observed.sum() == x.size  # nothing outside the support
    expected = np.asarray(d.params["weights"]) * x.size
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_constant_draws_are_the_value():
    assert np.all(scenario_draws("constant") == 4.5)


# ---------------------------------------------------------------- the kernel's inverse CDF

U_GRID = np.unique(np.concatenate([
    np.logspace(-12, -1, 250), np.linspace(0.01, 0.99, 250), 1 - np.logspace(-1, -12, 250),
]))
U_EXTREME = np.concatenate([2.0 ** -np.arange(53, 39, -1), 1 - 2.0 ** -np.arange(53, 39, -1)])


def _tolerance(d: D.Distribution) -> float:
    return (1e-6 if d.family in TABULATED else 1e-9) * spread(d)


def _inverse_cdf_cases():
    for name in CASES:
        yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(_inverse_cdf_cases()))
def test_kernel_inverse_cdf_on_a_grid(name):
    """At u in [1e-12, 1 - 1e-12] and at the kernel's extreme uniforms, x(u) = ppf(u).

    Closed forms to 1e-9 and tables (pert, beta, gamma) to 1e-6 of the p1-p99 spread.
    """
    d = dist(name)
    xs, u = kernel_at(d, np.concatenate([U_GRID, U_EXTREME]))
    err = np.abs(xs - d.ppf(u))
    worst = int(np.argmax(err))
    assert err[worst] <= _tolerance(d), (
        f"worst |x - ppf| = {err[worst] / spread(d):.3g} of the spread at u = {u[worst]!r}")


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_inverse_cdf_on_its_own_uniforms(name):
    """``sample_into`` output equals ppf of the uniforms ``uniform01`` gave those draws."""
    d = dist(name)
    key, k0, n = np.uint64(0xD1B54A32D192ED03), 10**12, 20_000
    u = kernel_uniforms(key, k0, n)
    x = kernel_draws(d, key, k0, n)
    err = np.abs(x - d.ppf(u))
    assert err.max() <= _tolerance(d)
    if d.family in ATOMIC:
        np.testing.assert_array_equal(x, d.ppf(u))


def test_kernel_uniforms_helper_matches_uniform01():
    key = np.uint64(12345)
    u = kernel_uniforms(key, 7, 2000)
    np.testing.assert_array_equal(u, [K.uniform01(key, k) for k in range(7, 2007)])


@pytest.mark.parametrize("name", sorted(n for n in CASES if dist(n).family in TABULATED))
def test_table_interpolation_error_is_tiny(name):
    """The cubic Hermite tables reach 1e-7 of the spread (the module docstring's promise),
    everywhere: centre, the seams, and every tail octave down to the smallest uniforms."""
    d = dist(name)
    xs, u = kernel_at(d, np.concatenate([np.linspace(1e-6, 1 - 1e-6, 20001), U_GRID,
                                         U_EXTREME]))
    assert np.max(np.abs(xs - d.ppf(u))) <= 1e-7 * spread(d)


# ---------------------------------------------------------------- ndtri and the uniforms


def test_ndtri_matches_scipy_to_the_tails():
    p = np.concatenate([
        np.logspace(-300, -1, 3000), np.linspace(0.1, 0.9, 2001), 1 - np.logspace(-1, -16, 3000),
        [2.0**-53, 1 - 2.0**-53, 0.075, 0.925, 0.425, 0.575],
    ])
    ours = np.array([K.ndtri(x) for x in p])
    ref = special.ndtri(p)
    away = np.abs(p - 0.5) > 1e-6
    rel = np.abs(ours[away] - ref[away]) / np.abs(ref[away])
    assert rel.max() < 1e-14
    np.testing.assert_allclose(ours[~away], ref[~away], rtol=0, atol=1e-20)
    assert K.ndtri(0.5) == 0.0


def test_ndtri_is_odd_and_monotone():
    p = np.logspace(-300, np.log10(0.5), 4000)
    lower = np.array([K.ndtri(x) for x in p])
    assert np.all(np.diff(lower) > 0)
    dyadic = np.concatenate([2.0 ** -np.arange(1, 54), np.arange(1, 512) / 1024])  # 1 - p exact
    np.testing.assert_array_equal([K.ndtri(1 - x) for x in dyadic],
                                  [-K.ndtri(x) for x in dyadic])


N_UNIFORM = 1_000_000


@functools.cache
def _uniforms(key: int) -> np.ndarray:
    return kernel_uniforms(np.uint64(key), 0, N_UNIFORM)


def test_uniform01_stays_strictly_inside_the_unit_interval():
    u = _uniforms(1)
    assert u.min() > 0.0 and u.max() < 1.0
    assert K.uniform01(np.uint64(0), 0) > 0.0
    # odd multiples of 2**-53: 1 - u is exact and never 0
    scaled = u * 2.0**53
    np.testing.assert_array_equal(scaled, np.round(scaled))
    assert np.all(np.round(scaled) % 2 == 1)


def test_uniform01_moments_and_ks():
    u = _uniforms(1)
    n = u.size
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)  # var of (u - 1/2)**2 is 1/180
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_uniform01_streams_with_different_keys_are_uncorrelated():
    a = _uniforms(1)
    bound = 5 / math.sqrt(a.size)
    for other in (2, 3, 2**63 + 1):
        b = _uniforms(other)
        assert abs(np.corrcoef(a, b)[0, 1]) < bound
    # nor is a stream correlated with itself one draw later
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < bound


def test_uniform01_is_a_pure_function_of_key_and_counter():
    key = np.uint64(99)
    np.testing.assert_array_equal(kernel_uniforms(key, 500, 100),
                                  kernel_uniforms(key, 0, 600)[500:])


# ---------------------------------------------------------------- elicitation round trips


PROPERTY = settings(derandomize=True, deadline=None, max_examples=300)


def _close(actual, expected, tol):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert np.all(np.abs(actual - expected) <= tol), (actual, expected, tol)


@PROPERTY
@given(mst.increasing(mst.positives(), 2))
def test_lognormal_from_interval_round_trips(p):
    """Round trip to 1e-9; neighbouring floats whose logs are equal are a SpecError."""
    p5, p95 = p
    if math.log(p5) == math.log(p95):
        with pytest.raises(SpecError):
            D.lognormal_from_interval(p5, p95)
        return
    d = D.lognormal_from_interval(p5, p95)
    _close(d.ppf([0.05, 0.95]), [p5, p95], 1e-9 * np.array([p5, p95]))
    assert D.from_spec({"p5": p5, "p95": p95}) == d


@PROPERTY
@given(mst.increasing(mst.reals(), 2))
def test_normal_from_interval_round_trips(p):
    """Any reals: agreement to 1e-9 of max(|value|, p95 - p5)."""
    p5, p95 = p
    d = D.normal_from_interval(p5, p95)
    _close(d.ppf([0.05, 0.95]), [p5, p95], 1e-9 * np.maximum(np.abs([p5, p95]), p95 - p5))


@PROPERTY
@given(mst.increasing(mst.reals(1e12), 3))
def test_p10_p50_p90_round_trip(p):
    """Symmetric gives a normal, skewed a (mirrored) shifted lognormal: all three come back.

    Within 1e-7 of p90 - p10, however nearly symmetric (see also
    ``test_p10_p50_p90_round_trip_near_symmetric``).
    """
    p10, p50, p90 = p
    d = D.from_p10_p50_p90(p10, p50, p90)
    _close(d.ppf([0.1, 0.5, 0.9]), [p10, p50, p90], 1e-7 * (p90 - p10))


def test_p10_p50_p90_round_trip_near_symmetric():
    p10, p50, p90 = 0.0, 1.0, 2.000000003
    d = D.from_p10_p50_p90(p10, p50, p90)
    _close(d.ppf([0.1, 0.5, 0.9]), [p10, p50, p90], 1e-7 * (p90 - p10))


def test_p10_p50_p90_shapes():
    assert D.from_spec({"p10": 1, "p50": 2, "p90": 3}).family == "normal"
    right = D.from_spec({"p10": 1, "p50": 2, "p90": 5})
    left = D.from_spec({"p10": -3, "p50": 2, "p90": 3})
    assert right.family == left.family == "lognormal"
    assert right.params["sign"] == 1.0 and left.params["sign"] == -1.0
    # a mirrored lognormal is bounded above, a right-skewed one below
    assert left.ppf(1.0) == pytest.approx(left.params["median"] + left.params["scale"])
    assert right.ppf(0.0) == pytest.approx(right.params["median"] - right.params["scale"])


@PROPERTY
@given(mst.min_mode_max())
def test_triangular_and_pert_span_min_to_max(t):
    """ppf(0) = min and ppf(1) = max, up to rounding of min + (max - min)."""
    lo, mode, hi = t
    tol = 1e-12 * (hi - lo) + 4 * np.spacing(max(abs(lo), abs(hi)))
    for d in (D.triangular(lo, mode, hi), D.pert(lo, mode, hi)):
        _close(d.ppf([0.0, 1.0]), [lo, hi], tol)
    assert D.from_spec({"min": lo, "mode": mode, "max": hi}).family == "pert"


@settings(derandomize=True, deadline=None, max_examples=50)
@given(mst.min_mode_max())
def test_triangular_kernel_spans_min_to_max(t):
    """The kernel's closed form reaches min and max at its extreme uniforms (up to rounding:
    with min = mode, b - sqrt((1 - u) (b - a)**2) can land an ulp of max below min)."""
    lo, mode, hi = t
    xs, _ = kernel_at(D.triangular(lo, mode, hi), np.array([2.0**-53, 1 - 2.0**-53]))
    ulp = 4 * np.spacing(max(abs(lo), abs(hi)))
    assert lo - ulp <= xs[0] <= lo + 1e-7 * (hi - lo) + ulp
    assert hi - 1e-7 * (hi - lo) - ulp <= xs[1] <= hi + ulp


# ---------------------------------------------------------------- impossible specifications

BAD_SPECS = {
    "p5 = p95": {"p5": 10, "p95": 10},
    "p5 > p95": {"dist": "lognormal", "p5": 12000, "p95": 8000},
    "normal p5 > p95": {"dist": "normal", "p5": 3, "p95": -3},
    "uniform p5 > p95": {"dist": "uniform", "p5": 3, "p95": 1},
    "loguniform p5 > p95": {"dist": "loguniform", "p5": 3, "p95": 1},
    "lognormal through 0": {"dist": "lognormal", "p5": 0, "p95": 10},
    "lognormal through negative": {"dist": "lognormal", "p5": -5, "p95": 10},
    "loguniform through 0": {"dist": "loguniform", "min": 0, "max": 10},
    "loguniform p5 negative": {"dist": "loguniform", "p5": -1, "p95": 10},
    "lognormal p10/p50/p90 left skew": {"dist": "lognormal", "p10": 1, "p50": 4, "p90": 5},
    "normal p10/p50/p90 skewed": {"dist": "normal", "p10": 1, "p50": 2, "p90": 5},
    "p10 > p50": {"p10": 3, "p50": 2, "p90": 5},
    "p50 = p90": {"p10": 1, "p50": 5, "p90": 5},
    "weights sum to 0.9": {"dist": "discrete", "values": [1, 2], "weights": [0.5, 0.4]},
    "weights sum to 1.1": {"dist": "discrete", "values": [1, 2], "weights": [0.6, 0.5]},
    "negative weight": {"dist": "discrete", "values": [1, 2, 3], "weights": [1.2, -0.2, 0]},
    "weights too short": {"dist": "discrete", "values": [1, 2], "weights": [1.0]},
    "repeated value": {"dist": "discrete", "values": [1, 1], "weights": [0.5, 0.5]},
    "empty values": {"dist": "discrete", "values": [], "weights": []},
    "values not a list": {"dist": "discrete", "values": 3, "weights": [1.0]},
    "weights missing": {"dist": "discrete", "values": [1, 2]},
    "normal negative scale": {"dist": "normal", "loc": 0, "scale": -1},
    "normal zero scale": {"dist": "normal", "loc": 0, "scale": 0},
    "truncnormal negative scale": {"dist": "truncnormal", "loc": 0, "scale": -1, "min": 0},
    "truncnormal no mass": {"dist": "truncnormal", "loc": 0, "scale": 1, "min": 40, "max": 50},
    "lognormal negative sigma": {"dist": "lognormal", "mu": 0, "sigma": -1},
    "lognormal negative scale": {"dist": "lognormal", "s": 1, "scale": -2},
    "beta negative scale": {"dist": "beta", "a": 1, "b": 1, "scale": -1},
    "beta zero a": {"dist": "beta", "a": 0, "b": 1},
    "gamma negative scale": {"dist": "gamma", "a": 2, "scale": -1},
    "gamma negative shape": {"dist": "gamma", "a": -2},
    "uniform negative scale": {"dist": "uniform", "loc": 0, "scale": -1},
    "triangular negative scale": {"dist": "triangular", "c": 0.5, "loc": 0, "scale": -1},
    "triangular c outside": {"dist": "triangular", "c": 1.5, "loc": 0, "scale": 1},
    "pert negative lambda": {"min": 0, "mode": 1, "max": 2, "lambda": -1},
    "uniform min = max": {"dist": "uniform", "min": 2, "max": 2},
    "uniform min > max": {"dist": "uniform", "min": 3, "max": 2},
    "loguniform min > max": {"dist": "loguniform", "min": 3, "max": 2},
    "truncnormal min > max": {"dist": "truncnormal", "loc": 0, "scale": 1, "min": 1, "max": 0},
    "triangular min = max": {"dist": "triangular", "min": 1, "mode": 1, "max": 1},
    "pert min > max": {"min": 5, "mode": 4, "max": 3},
    "mode below min": {"dist": "triangular", "min": 0, "mode": -1, "max": 5},
    "mode above max": {"min": 0, "mode": 6, "max": 5},
    "unknown dist": {"dist": "weibull", "a": 1},
    "dist not a string": {"dist": 3, "a": 1},
    "unknown parameter set": {"dist": "normal", "mu": 0, "sigma": 1},
    "extra parameter": {"dist": "normal", "loc": 0, "scale": 1, "p5": 3},
    "missing parameter": {"dist": "gamma", "scale": 1},
    "no parameters": {"dist": "beta"},
    "discrete extra parameter": {"dist": "discrete", "values": [1], "weights": [1], "loc": 0},
    "cannot infer family": {"mu": 1, "sigma": 2},
    "empty table": {},
    "string value": {"dist": "normal", "loc": "zero", "scale": 1},
    "bool value": {"dist": "normal", "loc": True, "scale": 1},
    "nan value": {"dist": "normal", "loc": float("nan"), "scale": 1},
    "infinite value": {"p5": 1, "p95": float("inf")},
    "list value": {"dist": "constant", "value": [1, 2]},
    "string weight": {"dist": "discrete", "values": [1, 2], "weights": ["a", 1]},
}


@pytest.mark.parametrize("spec", list(BAD_SPECS.values()), ids=list(BAD_SPECS))
def test_impossible_specifications_raise_spec_error(spec):
    with pytest.raises(SpecError) as info:
        D.from_spec(spec)
    assert type(info.value) is SpecError and info.value.message


def test_typo_in_dist_suggests_the_family():
    with pytest.raises(SpecError, match="did you mean 'lognormal'") as info:
        D.from_spec({"dist": "lognorml", "p5": 1, "p95": 2})
    assert info.value.key == "dist"


def test_unknown_parameter_set_lists_the_accepted_forms():
    with pytest.raises(SpecError, match="p5 \\+ p95") as info:
        D.from_spec({"dist": "lognormal", "loc": 1, "scale": 2})
    assert "got loc, scale" in str(info.value)


def test_errors_name_the_offending_key():
    cases = {
        "p5": {"p5": 10, "p95": 1},
        "weights": {"dist": "discrete", "values": [1, 2], "weights": [0.5, 0.4]},
        "scale": {"dist": "normal", "loc": 0, "scale": -1},
        "mode": {"min": 0, "mode": 6, "max": 5},
        "loc": {"dist": "normal", "loc": "x", "scale": 1},
    }
    for key, spec in cases.items():
        with pytest.raises(SpecError) as info:
            D.from_spec(spec)
        assert info.value.key == key, (spec, str(info.value))


@settings(derandomize=True, deadline=None, max_examples=1000)
@given(mst.spec_dicts())
def test_from_spec_returns_a_distribution_or_raises_spec_error(spec):
    """Arbitrary tables: a Distribution or a SpecError, never anything else.

    Values keep to magnitudes in [1e-100, 1e100] (and 0, nan, +-inf); the overflow corners
    beyond are tested below.
    """
    try:
        d = D.from_spec(spec)
    except SpecError:
        return
    assert isinstance(d, D.Distribution) and d.family in D.FAMILIES


OVERFLOW_SPECS = {
    "p10/p50/p90 ratio overflows": {"p10": 0.0, "p50": 1e-300, "p90": 1e10},
    "loguniform p5/p95 padding overflows": {"dist": "loguniform", "p5": 1e-300, "p95": 1e300},
    "integer beyond float range": {"dist": "normal", "loc": 1, "scale": 10**400},
}


@pytest.mark.parametrize("spec", list(OVERFLOW_SPECS.values()), ids=list(OVERFLOW_SPECS))
def test_from_spec_overflow_raises_spec_error(spec):
    with pytest.raises(SpecError):
        D.from_spec(spec)


@pytest.mark.parametrize("loc, scale, lo, hi", [
    (10, 2, 8, np.inf), (0, 1, 3, 6), (0, 1, -np.inf, -2), (5, 3, 0, 12)])
def test_truncnormal_reference_agrees_with_scipy_where_scipy_is_accurate(loc, scale, lo, hi):
    """Our reference ppf (both tails through ndtri) equals scipy.stats.truncnorm's on
    u in [1e-9, 1 - 1e-9]; beyond that scipy loses digits and ours is the one to trust."""
    d = D.truncnormal(loc, scale, lo, hi)
    u = np.concatenate([np.logspace(-9, -1, 50), np.linspace(0.1, 0.9, 50),
                        1 - np.logspace(-1, -9, 50)])
    scipy_ppf = stats.truncnorm((lo - loc) / scale, (hi - loc) / scale, loc, scale).ppf(u)
    np.testing.assert_allclose(d.ppf(u), scipy_ppf, rtol=1e-9, atol=1e-9 * scale)


def test_wide_lognormal_keeps_relative_precision_in_its_lower_tail():
    """A plain lognormal with sigma = 5 reaches 1e-18 of its median: never rounded to 0."""
    d = D.lognormal(0.0, 5.0)
    u = np.array([2.0**-53, 1e-12, 1e-6])
    expected = np.exp(5.0 * special.ndtri(u))
    np.testing.assert_allclose(d.ppf(u), expected, rtol=1e-12)
    assert np.all(d.ppf(u) > 0)

