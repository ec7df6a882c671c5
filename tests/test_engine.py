"""The streaming engine: reproducibility, analytic answers, non-finite draws, bounded work."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from builders import make_scenario
from mcsim.engine import sample, simulate
from mcsim.errors import McsimError

MIXED = {
    "a": {"dist": "normal", "loc": 5, "scale": 2},
    "b": {"p5": 1, "p95": 30},
    "c": {"min": 0, "mode": 2, "max": 9},
    "d": {"dist": "discrete", "values": [1, 2, 4], "weights": [0.5, 0.3, 0.2]},
}
MIXED_OUT = {"total": "a * b + c", "ratio": "b / d", "gap": "a - c"}


def _frames(sim):
    return sim.summary(0.9), sim.claims()


def test_same_seed_same_result_on_any_threads_and_batching():
    sc = make_scenario(MIXED, MIXED_OUT)
    n = 5 * 65536 + 123  # a partial last tile
    runs = [simulate(sc, n, seed=11, threads=1, batch_tiles=1),
            simulate(sc, n, seed=11, threads=2, batch_tiles=3),
            simulate(sc, n, seed=11, threads=2)]
    ref = runs[0].summary(0.9)
    for run in runs[1:]:
        pd.testing.assert_frame_equal(run.summary(0.9), ref, check_exact=True)
        for name in MIXED_OUT:
            np.testing.assert_array_equal(run.outputs[name].histogram.counts,
                                          runs[0].outputs[name].histogram.counts)



def test_int32_lane_counts_flush_before_they_could_overflow(monkeypatch):
    """Lanes count in int32 and are flushed into int64 before a lane could hold more draws
    than int32 can count: forcing a flush after every batch changes nothing."""
    import mcsim.executors as executors

    sc = make_scenario(MIXED, MIXED_OUT)
    n = 3 * 65536 + 77
    ref = simulate(sc, n, seed=5, threads=2, batch_tiles=1)
    flushes = []
    real_flush = executors.Reductions.flush
    monkeypatch.setattr(executors, "_LANE_LIMIT", 65536)
    monkeypatch.setattr(executors.Reductions, "flush",
                        lambda self: (flushes.append(self.pending), real_flush(self)))
    run = simulate(sc, n, seed=5, threads=2, batch_tiles=1)
    assert flushes and max(flushes) <= 65536
    pd.testing.assert_frame_equal(run.summary(0.9), ref.summary(0.9), check_exact=True)
    for name in MIXED_OUT:
        np.testing.assert_array_equal(run.outputs[name].histogram.counts,
                                      ref.outputs[name].histogram.counts)

def test_different_seeds_differ():
    sc = make_scenario(MIXED, MIXED_OUT)
    a = simulate(sc, 10_000, seed=1).summary()
    b = simulate(sc, 10_000, seed=2).summary()
    assert not np.array_equal(a["mean"], b["mean"])


def test_sample_is_thread_independent_and_addressable():
    sc = make_scenario(MIXED, MIXED_OUT)
    one = sample(sc, 3000, seed=5, threads=1)
    two = sample(sc, 3000, seed=5, threads=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    tail = sample(sc, 1000, seed=5, start=2000)
    pd.testing.assert_frame_equal(tail, one.iloc[2000:], check_exact=True)


def test_adding_an_input_leaves_other_draws_unchanged():
    before = make_scenario(MIXED, MIXED_OUT)
    after = make_scenario({"new": {"dist": "uniform", "min": 0, "max": 1}, **MIXED},
                          {**MIXED_OUT, "extra": "new * a"})
    x = sample(before, 2000, seed=9)
    y = sample(after, 2000, seed=9)
    for col in x.columns:
        np.testing.assert_array_equal(x[col], y[col])


def test_simulate_moments_equal_the_draws():
    sc = make_scenario(MIXED, MIXED_OUT)
    n = 200_000
    sim = simulate(sc, n, seed=4)
    df = sample(sc, n, seed=4)
    for name in MIXED_OUT:
        st = sim.outputs[name]
        assert st.count == n and st.nonfinite == 0
        assert st.mean == pytest.approx(df[name].mean(), rel=1e-12)
        assert st.std == pytest.approx(df[name].std(ddof=1), rel=1e-9)
        assert st.minimum == df[name].min() and st.maximum == df[name].max()


def test_sum_of_normals_has_the_known_distribution():
    sc = make_scenario({"x": {"dist": "normal", "loc": 3, "scale": 4},
                        "y": {"dist": "normal", "loc": -1, "scale": 3}}, {"s": "x + y"})
    n = 1_000_000
    sim = simulate(sc, n, seed=21)
    truth = stats.norm(2, 5)
    st = sim.outputs["s"]
    assert abs(st.mean - 2) < 4 * 5 / math.sqrt(n)
    assert abs(st.std - 5) < 4 * 5 / math.sqrt(2 * n)
    for p in (0.05, 0.5, 0.95):
        se = math.sqrt(p * (1 - p) / n) / truth.pdf(truth.ppf(p))
        assert abs(sim.quantile("s", p)[0] - truth.ppf(p)) < 4 * se


def test_product_of_lognormals_is_lognormal():
    sc = make_scenario({"x": {"dist": "lognormal", "mu": 1.0, "sigma": 0.3},
                        "y": {"dist": "lognormal", "mu": 2.0, "sigma": 0.4}}, {"p": "x * y"})
    n = 1_000_000
    sim = simulate(sc, n, seed=8)
    truth = stats.lognorm(s=0.5, scale=math.exp(3.0))
    for p in (0.05, 0.25, 0.5, 0.75, 0.95):
        se = math.sqrt(p * (1 - p) / n) / truth.pdf(truth.ppf(p))
        assert abs(sim.quantile("p", p)[0] - truth.ppf(p)) < 4 * se
    assert abs(sim.outputs["p"].mean - truth.mean()) < 4 * truth.std() / math.sqrt(n)


def test_nonfinite_draws_are_counted_not_averaged():
    sc = make_scenario({"x": {"dist": "discrete", "values": [0, 1, 2], "weights": [.25, .25, .5]}},
                       {"inv": "1 / x", "logx": "log(x - 1)"})
    n = 100_000
    sim = simulate(sc, n, seed=2)
    df = sample(sc, n, seed=2)
    inv = sim.outputs["inv"]
    assert inv.nonfinite == int((df["x"] == 0).sum())
    assert inv.count == n - inv.nonfinite
    assert inv.mean == pytest.approx(df.loc[df["x"] != 0, "inv"].mean(), rel=1e-12)
    logx = sim.outputs["logx"]
    assert logx.nonfinite == int((df["x"] <= 1).sum())  # log(-1) = nan and log(0) = -inf
    summary = sim.summary()
    assert summary.set_index("output").loc["inv", "nonfinite"] == inv.nonfinite


def test_constant_output_and_all_nonfinite_output():
    sc = make_scenario({"k": {"value": 7.5}, "x": {"dist": "uniform", "min": 0, "max": 1}},
                       {"k_out": "k + 0 * x", "nan_out": "(x - x) / (x - x)"})
    sim = simulate(sc, 10_000, seed=1)
    row = sim.summary().set_index("output")
    assert row.loc["k_out", "median"] == 7.5 and row.loc["k_out", "ci_low"] == 7.5
    assert row.loc["nan_out", "nonfinite"] == 10_000
    assert math.isnan(row.loc["nan_out", "median"])


@pytest.mark.parametrize("draws", [0, -5, 2.5, True, "10"])
def test_bad_draws_are_errors(draws):
    sc = make_scenario(MIXED, MIXED_OUT)
    with pytest.raises(McsimError, match="draws"):
        simulate(sc, draws, seed=1)


def test_bad_seed_and_threads_are_errors():
    sc = make_scenario(MIXED, MIXED_OUT)
    with pytest.raises(McsimError, match="seed"):
        simulate(sc, 100, seed=-1)
    with pytest.raises(McsimError, match="threads"):
        simulate(sc, 100, seed=1, threads=10_000)


def test_progress_reports_every_batch_up_to_the_total():
    sc = make_scenario(MIXED, MIXED_OUT)
    seen = []
    simulate(sc, 4 * 65536 + 1, seed=1, batch_tiles=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(131072, 262145), (262144, 262145), (262145, 262145)]
