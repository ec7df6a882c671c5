"""The streaming log-octave histogram against exact statistics of the same draws.

``simulate`` and ``sample`` with the same seed see the same draws, so everything the
histogram reports can be checked against numpy on the materialised sample.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcsim import _kernels as K
from mcsim import engine
from mcsim.histogram import SUB_BITS, Histogram, Layout, OctaveRange
from mcsim.scenario import scenario_from_dict

N = 300_000
SEED = 20240611
P = np.array([0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999])


def _input(**spec):
    return {**spec, "unit": "u", "source": "test"}


SCENARIO = {
    "schema": 1,
    "inputs": {
        "cost": _input(dist="lognormal", mu=0.0, sigma=1.0),
        "delta": _input(dist="normal", loc=0.5, scale=2.0),
        "k": _input(dist="discrete", values=[1, 2, 3, 4], weights=[0.1, 0.2, 0.3, 0.4]),
    },
    "outputs": {
        "cost_out": "cost",
        "delta_out": "delta",  # crosses zero
        "gain": "where(delta > 0, delta, 0)",  # exactly zero ~40% of the time
        "margin": "cost * delta - 1",  # both signs, heavy tails
        # +inf (1/0) for -1 < delta <= 0, nan (0/0) below
        "partly_bad": "where(delta > 0, cost, where(delta > -1, 1, 0) / (delta - delta))",
        "all_bad": "1 / (cost - cost)",
        "k_out": "k",  # atoms on bin edges
    },
}
CONTINUOUS = ["cost_out", "delta_out", "gain", "margin", "partly_bad"]


@pytest.fixture(scope="module")
def run():
    s = scenario_from_dict(SCENARIO)
    return engine.simulate(s, N, seed=SEED), engine.sample(s, N, seed=SEED)


def _finite(frame, name):
    x = frame[name].to_numpy()
    return np.sort(x[np.isfinite(x)])


def _exact_quantile(x, p):
    """The sample quantile that the histogram interpolates: the inverse of the piecewise-linear
    CDF through F(x_(k)) = k / n (Hyndman-Fan type 4). numpy's default (type 7) differs from
    it by up to one gap between order statistics (measured: up to 14% of the Monte Carlo
    error at p = 0.001, n = 3e5).
    """
    return np.quantile(x, p, method="interpolated_inverted_cdf")


def _mc_se(x, p):
    """Monte Carlo standard error of the p-quantile, sqrt(p(1-p)/n) / density (from the sample)."""
    n = x.size
    h = np.maximum(np.minimum(p, 1 - p) / 4, 50 / n)
    lo, hi = np.clip(p - h, 0, 1), np.clip(p + h, 0, 1)
    with np.errstate(divide="ignore"):
        density = (hi - lo) / (np.quantile(x, hi) - np.quantile(x, lo))
    return np.sqrt(p * (1 - p) / n) / density


def _bin_of(hist: Histogram, x: float) -> int:
    lower, upper, _ = hist.layout.edges()
    if x == 0:
        return int(np.flatnonzero((lower == 0) & (upper == 0))[0])
    inside = (lower <= x) & (x < upper) if x > 0 else (lower < x) & (x <= upper)
    return int(np.flatnonzero(inside)[0])


# ---------------------------------------------------------------- quantiles


@pytest.mark.parametrize("name", CONTINUOUS)
def test_quantiles_within_one_bin_of_the_order_statistic(run, name):
    """Deterministic: the p-quantile lies in the bin holding draw number ceil(p n), so it is
    within one bin width (at most 2**-SUB_BITS of |x|) of it; the zero bin is exact."""
    sim, frame = run
    x = _finite(frame, name)
    hist = sim.outputs[name].histogram
    lower, upper, _ = hist.layout.edges()
    order_stat = np.quantile(x, P, method="inverted_cdf")  # x_(ceil(p n))
    ours = sim.quantile(name, P)
    for q, o in zip(ours, order_stat, strict=True):
        if o == 0:
            assert q == 0
            continue
        i = _bin_of(hist, o)
        assert abs(q - o) <= upper[i] - lower[i] <= 2.0**-SUB_BITS * abs(o)


def test_quantiles_are_far_inside_the_monte_carlo_error(run):
    """|histogram - exact sample quantile| as a fraction of the quantile's Monte Carlo error.

    The brief asked for 2% everywhere; that is not reachable, for two reasons measured over
    30 seeds (n = 3e5): inside a bin the histogram spreads draws evenly, an error with an RMS
    of ~0.5 sqrt(bin mass / (p (1 - p))) of the standard error (1.6% on average, worst
    single quantile 8% for 0.01 <= p <= 0.99); and in the tails (p = 0.001, 0.999) the gap
    between neighbouring order statistics, i.e. the choice of sample-quantile definition,
    is itself ~1 / sqrt(n p) of it (worst 14%). Asserted: central RMS < 3% and worst < 12%,
    tails < 25%; the deterministic bound above is the sharp statement.
    """
    sim, frame = run
    central, tails = [], []
    for name in CONTINUOUS:
        x = _finite(frame, name)
        exact = _exact_quantile(x, P)
        ours = sim.quantile(name, P)
        keep = exact != 0  # zero atom: exact equality, checked above
        se = _mc_se(x, P)
        assert np.all(np.isfinite(se[keep]) & (se[keep] > 0))
        ratio = np.abs(ours - exact) / np.where(keep, se, 1.0)
        is_central = keep & (P >= 0.01) & (P <= 0.99)
        central.extend(ratio[is_central])
        tails.extend(ratio[keep & ~is_central])
    central, tails = np.asarray(central), np.asarray(tails)
    assert central.size >= 30 and tails.size >= 8
    assert math.sqrt(np.mean(central**2)) < 0.03
    assert central.max() < 0.12
    assert tails.max() < 0.25


def test_quantiles_of_atoms_stay_in_the_atoms_bin(run):
    sim, frame = run
    x = frame["k_out"].to_numpy()
    ours = sim.quantile("k_out", P)
    exact = np.quantile(x, P, method="inverted_cdf")
    # the atom ends its (lower, upper] bin: the quantile is within one bin below it
    assert np.all((exact * (1 - 2.0**-SUB_BITS) <= ours) & (ours <= exact))


def test_quantile_ends_are_the_exact_min_and_max(run):
    sim, frame = run
    for name in CONTINUOUS:
        x = _finite(frame, name)
        assert sim.quantile(name, [0.0, 1.0]).tolist() == [x[0], x[-1]]


# ---------------------------------------------------------------- cdf


@pytest.mark.parametrize("name", CONTINUOUS)
def test_cdf_matches_the_empirical_cdf(run, name):
    """Off by at most the mass of the bin that holds x (interpolation inside it), and tiny."""
    sim, frame = run
    x = _finite(frame, name)
    hist = sim.outputs[name].histogram
    points = np.concatenate([_exact_quantile(x, P), [x[0], x[-1]], x[:: x.size // 50] * 1.0001])
    for v in points[points != 0]:
        ecdf = np.searchsorted(x, v, side="right") / x.size
        ours = hist.cdf(float(v))
        assert abs(ours - ecdf) <= hist.counts[_bin_of(hist, v)] / x.size + 1e-12
        assert abs(ours - ecdf) < 2e-3
    assert hist.cdf(float(x[0]) - 1.0) == 0.0
    assert hist.cdf(float(x[-1])) == 1.0


@pytest.mark.parametrize("name", [*CONTINUOUS, "k_out"])
def test_cdf_at_many_points_is_the_cdf_at_each(run, name):
    sim, frame = run
    hist = sim.outputs[name].histogram
    x = _finite(frame, name)
    points = np.concatenate([x[:: x.size // 40], [x[0] - 1, x[-1], x[-1] + 1, 0.0, np.inf,
                                                  -np.inf, np.nan]])
    many = hist.cdf_at(points)
    assert many.shape == points.shape
    for v, f in zip(points, many, strict=True):
        one = hist.cdf(float(v))
        assert f == one or (np.isnan(f) and np.isnan(one))
    assert np.all(np.diff(hist.cdf_at(np.sort(x[:: x.size // 200]))) >= 0)


ATOMS = [
    pytest.param("gain", 0.0, id="zero-atom"),
    pytest.param("k_out", 1.0, id="discrete-1"),
    pytest.param("k_out", 2.0, id="discrete-2"),
    pytest.param("k_out", 3.0, id="discrete-3"),
]


@pytest.mark.parametrize(("name", "value"), ATOMS)
def test_cdf_at_an_atom_includes_the_atom(run, name, value):
    """'Fraction of finite draws at or below x' must count the draws equal to x."""
    sim, frame = run
    x = frame[name].to_numpy()
    assert sim.outputs[name].histogram.cdf(value) == pytest.approx(np.mean(x <= value), abs=1e-3)


# ---------------------------------------------------------------- moments and counts


@pytest.mark.parametrize("name", [*CONTINUOUS, "k_out"])
def test_moments_and_extremes_are_exact(run, name):
    sim, frame = run
    x = _finite(frame, name)
    st = sim.outputs[name]
    assert st.count == x.size == st.histogram.total
    assert st.mean == pytest.approx(np.mean(x), rel=1e-10)
    assert st.std == pytest.approx(np.std(x, ddof=1), rel=1e-10)
    assert st.minimum == x[0] and st.maximum == x[-1]


def test_nonfinite_draws_are_counted_and_left_out(run):
    sim, frame = run
    raw = frame["partly_bad"].to_numpy()
    bad = ~np.isfinite(raw)
    assert np.isinf(raw[bad]).any() and np.isnan(raw[bad]).any()  # 1/0 and 0/0 both occur
    st = sim.outputs["partly_bad"]
    assert st.nonfinite == bad.sum() > 0
    assert st.count + st.nonfinite == N
    assert st.mean == pytest.approx(raw[~bad].mean(), rel=1e-10)
    for name in ("cost_out", "gain", "margin"):
        assert sim.outputs[name].nonfinite == 0


def test_an_output_with_no_finite_draw(run):
    sim, frame = run
    assert not np.isfinite(frame["all_bad"].to_numpy()).any()
    st = sim.outputs["all_bad"]
    assert (st.count, st.nonfinite) == (0, N)
    assert math.isnan(st.mean) and math.isnan(st.std)
    assert np.isnan(sim.quantile("all_bad", [0.5])).all()


def test_simulate_and_sample_see_the_same_draws(run):
    """Same seed, same draws: the extremes ``simulate`` reports are draws ``sample`` shows."""
    sim, frame = run
    for name in ("cost_out", "margin"):
        x = frame[name].to_numpy()
        assert sim.outputs[name].minimum in x and sim.outputs[name].maximum in x


# ---------------------------------------------------------------- layout and binning

LAYOUTS = {
    "both sides": Layout(pos=OctaveRange(-5, 12), neg=OctaveRange(-3, 8)),
    "positive only": Layout(pos=OctaveRange(-20, 30), neg=OctaveRange(0, 0)),
    "negative only": Layout(pos=OctaveRange(0, 0), neg=OctaveRange(4, 3)),
    "nothing": Layout(pos=OctaveRange(0, 0), neg=OctaveRange(0, 0)),
    "coarse": Layout(pos=OctaveRange(-2, 4), neg=OctaveRange(-2, 4), sub_bits=3),
    "from pilot": Layout.from_pilot(np.array([-2.5e6, -1e-3, 0.0, 3e-9, 7.0, 1e12, np.inf])),
    "near underflow": Layout.from_pilot(np.array([1e-310, 1e-300, -1e-305])),
}


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_layout_edges_ascend_and_tile_the_line(layout):
    lower, upper, fine = layout.edges()
    assert len(lower) == len(upper) == len(fine) == layout.n_bins
    assert np.all(np.diff(lower) >= 0) and np.all(np.diff(upper) >= 0)
    assert np.all(lower <= upper)
    np.testing.assert_array_equal(upper[:-1], lower[1:])  # no gaps, no overlaps
    assert lower[0] == -np.inf and upper[-1] == np.inf
    zero = np.flatnonzero((lower == 0) & (upper == 0))
    assert zero.size == 1 and not fine[zero[0] - 1] and not fine[zero[0] + 1]
    assert fine.sum() == layout.n_bins - 4
    # relative width of the regular bins: at most one 2**sub_bits-th of an octave
    regular = fine & (upper > lower)  # the zero bin is exact, with no width
    rel = (upper - lower)[regular] / np.minimum(abs(lower), abs(upper))[regular]
    assert np.all(rel <= 2.0**-layout.sub_bits * (1 + 1e-15))


def _probe_values(layout: Layout, rng: np.random.Generator) -> np.ndarray:
    lower, upper, _ = layout.edges()
    edges = np.unique(np.concatenate([lower, upper]))
    edges = edges[np.isfinite(edges)]
    random = np.exp2(rng.uniform(-40, 40, 4000)) * rng.choice([-1.0, 1.0], 4000)
    return np.concatenate([
        random, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),
        [0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 1e-300, -1e-300, 1e300, -1e300,
         np.finfo(float).max, -np.finfo(float).max, 1.0, -1.0, 0.75, -0.75],
    ])


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_histogram_index_puts_values_in_the_bin_that_holds_them(layout):
    """Every bin holds (lower, upper], on both sides of zero; the zero bin holds 0 and -0;
    under/overflow bins hold everything beyond the octaves."""
    lower, upper, _ = layout.edges()
    lo_pos, n_pos, lo_neg, n_neg = layout.as_row()
    values = _probe_values(layout, np.random.default_rng(7))
    for x in values:
        i = K.histogram_index(x, lo_pos, n_pos, lo_neg, n_neg, layout.sub_bits)
        assert 0 <= i < layout.n_bins
        if x != 0:
            assert lower[i] < x <= upper[i], (x, i, lower[i], upper[i])
        else:
            assert lower[i] == upper[i] == 0.0
    order = np.argsort(values, kind="stable")
    idx = [K.histogram_index(x, lo_pos, n_pos, lo_neg, n_neg, layout.sub_bits) for x in
           values[order]]
    assert np.all(np.diff(idx) >= 0)  # ascending in x


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_layout_edges_for_huge_values():
    layout = Layout.from_pilot(np.array([1e306, -1e306]))
    lower, upper, _ = layout.edges()
    assert upper[-1] == np.inf
