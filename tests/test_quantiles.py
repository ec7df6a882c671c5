"""Quantiles with their whole error: exact answers for the shapes a log-octave histogram gets
wrong (U-shaped betas, shifted gammas with shape < 1, narrow truncated normals far from zero,
discrete inputs, outputs with an atom), calibrated standard errors, and ``--quantiles``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from builders import make_scenario, run_main
from mcsim import engine, quantiles
from mcsim.errors import McsimError
from mcsim.reduce import QUANTILE_COLUMNS, SUMMARY_COLUMNS

PROBS = (0.001, 0.01, 0.05, 0.5, 0.95, 0.99, 0.999)
NORMAL_ATOM = 2.5  # max(n, 2.5), n ~ Normal(3, 1): an atom of mass Phi(-0.5) and a normal tail
GAMMA_CAP = 51.0  # min(g, 51), g ~ 50 + Gamma(0.4, scale 2): an atom at the top


def _discrete_ppf(values, weights):
    cum = np.cumsum(weights) / np.sum(weights)
    return lambda p: np.asarray(values, dtype=float)[np.searchsorted(cum, p)]


EXACT = {
    "u1": stats.beta(0.3, 0.4).ppf,
    "u2": stats.beta(0.5, 0.5, loc=10, scale=2).ppf,
    "g1": stats.gamma(0.4, loc=50, scale=2).ppf,
    "g2": stats.gamma(0.7, loc=-30, scale=0.5).ppf,
    "t1": stats.truncnorm(0.5, 1.0, loc=1000, scale=1).ppf,
    "t2": stats.truncnorm(-0.2, 0.1, loc=-200, scale=0.1).ppf,
    "d1": _discrete_ppf([1, 2, 5, 10], [0.1, 0.2, 0.4, 0.3]),
    "d2": _discrete_ppf([-3, 0.1, 7.25], [0.02, 0.5, 0.48]),
    "a1": lambda p: np.maximum(stats.norm(3, 1).ppf(p), NORMAL_ATOM),
    "a2": lambda p: np.minimum(stats.gamma(0.4, loc=50, scale=2).ppf(p), GAMMA_CAP),
}


@pytest.fixture(scope="module")
def shapes():
    """One scenario holding every shape class (several of each), so one run serves them."""
    return make_scenario(
        {"x1": {"dist": "beta", "a": 0.3, "b": 0.4},
         "x2": {"dist": "beta", "a": 0.5, "b": 0.5, "loc": 10, "scale": 2},
         "y1": {"dist": "gamma", "a": 0.4, "loc": 50, "scale": 2},
         "y2": {"dist": "gamma", "a": 0.7, "loc": -30, "scale": 0.5},
         "z1": {"dist": "truncnormal", "loc": 1000, "scale": 1, "min": 1000.5, "max": 1001},
         "z2": {"dist": "truncnormal", "loc": -200, "scale": 0.1, "min": -200.02,
                "max": -199.99},
         "k1": {"dist": "discrete", "values": [1, 2, 5, 10], "weights": [0.1, 0.2, 0.4, 0.3]},
         "k2": {"dist": "discrete", "values": [-3, 0.1, 7.25], "weights": [0.02, 0.5, 0.48]},
         "n": {"dist": "normal", "loc": 3, "scale": 1}},
        {"u1": "x1", "u2": "x2", "g1": "y1", "g2": "y2", "t1": "z1", "t2": "z2", "d1": "k1",
         "d2": "k2", "a1": f"max(n, {NORMAL_ATOM})", "a2": f"min(y1, {GAMMA_CAP})"})


@pytest.fixture(scope="module")
def big_run(shapes):
    return engine.simulate(shapes, 10_000_000, seed=3, quantiles=PROBS)


def test_quantiles_at_10m_draws_are_within_4_se_of_the_exact_quantiles(big_run):
    table = big_run.quantile_table()
    for name, ppf in EXACT.items():
        rows = table[table["output"] == name]
        exact = ppf(np.asarray(PROBS))
        miss = np.abs(rows["value"].to_numpy() - exact)
        assert np.all(miss <= 4 * rows["se"].to_numpy()), (name, miss / rows["se"].to_numpy())


def test_atoms_give_the_atom_exactly(big_run):
    table = big_run.quantile_table([0.05, 0.5, 0.9])
    d1 = table[table["output"] == "d1"]
    assert d1["value"].tolist() == [1.0, 5.0, 10.0]
    assert d1["se"].tolist() == [0.0, 0.0, 0.0]
    assert big_run.quantile("a1", 0.05)[0] == NORMAL_ATOM
    assert big_run.quantile("a2", 0.95)[0] == GAMMA_CAP
    assert big_run.summary().set_index("output").loc["d1", "median"] == 5.0


def test_the_summary_reports_the_same_quantiles_and_errors(big_run):
    summary = big_run.summary().set_index("output")
    table = big_run.quantile_table([0.5, 0.05, 0.95])
    for name in EXACT:
        rows = table[table["output"] == name].set_index("p")
        assert summary.loc[name, "median"] == rows.loc[0.5, "value"]
        assert summary.loc[name, "median_se"] == rows.loc[0.5, "se"]
        # the summary's ends are at (1 -+ 0.9) / 2, a rounding away from 0.05 and 0.95
        assert summary.loc[name, "ci_low"] == pytest.approx(rows.loc[0.05, "value"], rel=1e-12)
        assert summary.loc[name, "ci_high_se"] == pytest.approx(rows.loc[0.95, "se"], rel=1e-9)


@pytest.mark.parametrize("limit", [quantiles.COLLECT_LIMIT, 16])
def test_refined_quantiles_are_the_sample_quantiles_of_the_draws(shapes, monkeypatch, limit):
    """Also with a tiny collection limit, which makes every window narrow over several passes."""
    monkeypatch.setattr(quantiles, "COLLECT_LIMIT", limit)
    n = 300_000
    sim = engine.simulate(shapes, n, seed=5, quantiles=PROBS)
    table = sim.quantile_table()
    draws = engine.sample(shapes, n, seed=5, names=tuple(EXACT))
    assert table["exact"].sum() > 30
    for name in EXACT:
        rows = table[table["output"] == name]
        sample_q = np.quantile(draws[name].to_numpy(), PROBS, method="interpolated_inverted_cdf")
        exact = rows["exact"].to_numpy()
        np.testing.assert_array_equal(rows["value"].to_numpy()[exact], sample_q[exact])
        # where the histogram's interpolation was kept, its bound is in the error
        assert np.all(np.abs(rows["value"].to_numpy() - sample_q) <= rows["se"].to_numpy())


def test_reported_errors_are_calibrated_over_20_seeds(shapes):
    """The spread of each continuous output's quantiles over 20 seeds, over their mean reported
    standard error (pooled over the seven probabilities), is in [0.7, 1.4]."""
    continuous = ["u1", "u2", "g1", "g2", "t1", "t2"]
    values, ses = [], []
    for seed in range(20):
        table = engine.simulate(shapes, 50_000, seed=100 + seed).quantile_table(PROBS)
        table = table[table["output"].isin(continuous)]
        values.append(table["value"].to_numpy())
        ses.append(table["se"].to_numpy())
    spread = np.var(values, axis=0, ddof=1).reshape(len(continuous), len(PROBS))
    reported = np.mean(np.square(ses), axis=0).reshape(len(continuous), len(PROBS))
    ratio = np.sqrt((spread / reported).mean(axis=1))
    assert np.all((0.7 <= ratio) & (ratio <= 1.4)), dict(zip(continuous, ratio, strict=True))


def test_smooth_bodies_are_not_refined_and_carry_a_small_bound():
    """A lognormal's body needs no second pass: its bin's interpolation error is far below
    the Monte Carlo error (this keeps a run of smooth outputs as fast as before)."""
    sc = make_scenario({"x": {"p5": 1, "p95": 10}}, {"y": "x"})
    sim = engine.simulate(sc, 1_000_000, seed=1)
    hist = sim.outputs["y"].histogram
    probs = np.array([0.05, 0.5, 0.95])
    bound, unsure = quantiles.interpolation_error(hist, probs)
    est = quantiles.estimate(sim, {"y": probs})["y"]
    assert not unsure.any() and not est.exact.any() and not sim.refined
    assert np.all(bound < quantiles.REFINE_SHARE * est.se)


def test_the_refinement_is_the_same_on_one_or_two_threads(shapes):
    one = engine.simulate(shapes, 200_000, seed=9, threads=1).quantile_table(PROBS)
    two = engine.simulate(shapes, 200_000, seed=9, threads=2).quantile_table(PROBS)
    pd.testing.assert_frame_equal(one, two)


def test_replicated_designs_refine_the_pooled_quantile(shapes):
    sim = engine.simulate(shapes, 2**16, seed=2, sampler="lhs", replicates=8)
    table = sim.quantile_table([0.5, 0.99])
    d1 = table[table["output"] == "d1"]
    assert d1["value"].tolist() == [5.0, 10.0]
    assert table["se"].notna().all()


def test_bad_probabilities_are_refused():
    sc = make_scenario({"x": {"p5": 1, "p95": 10}}, {"y": "x"})
    with pytest.raises(McsimError, match="strictly between 0 and 1"):
        engine.simulate(sc, 1000, seed=1, quantiles=[0.5, 1.0])


def test_run_quantiles_writes_a_tidy_csv_and_keeps_the_summary_columns(tmp_path, monkeypatch,
                                                                          capsys):
    path = tmp_path / "s.toml"
    path.write_text('schema = 1\n[inputs.k]\ndist = "discrete"\nvalues = [1, 5, 9]\n'
                    'weights = [0.2, 0.5, 0.3]\nunit = "u"\nsource = "test"\n'
                    '[outputs.y]\nformula = "k"\nunit = "u"\n')
    out = tmp_path / "res"
    code, text, err = run_main(["run", str(path), "-n", "100k", "--seed", "1", "-q", "--out",
                                str(out), "--quantiles", "0.001,0.01,0.5,0.99"],
                               monkeypatch, capsys)
    assert code == 0, err
    table = pd.read_csv(out / "quantiles.csv")
    assert table.columns.tolist() == QUANTILE_COLUMNS
    assert table["p"].tolist() == [0.001, 0.01, 0.5, 0.99]
    assert table["value"].tolist() == [1.0, 1.0, 5.0, 9.0]
    assert pd.read_csv(out / "summary.csv").columns.tolist() == SUMMARY_COLUMNS
    assert "p0.1" in text and "p99" in text and "quantiles.csv" in text


@pytest.mark.parametrize("value", ["0.5,1", "a", ","])
def test_run_refuses_bad_quantiles_in_one_line(tmp_path, monkeypatch, capsys, value):
    code, _, err = run_main(["run", "-n", "1k", "-q", "--out", str(tmp_path / "r"),
                             "--quantiles", value], monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("mcsim: error: --quantiles")
    assert not (tmp_path / "r").exists()


def test_a_refinement_pass_computes_only_what_its_outputs_need(deepseek):
    """Regenerating a few outputs runs the pruned program: bit for bit the same draws as the
    whole program gives them, with far fewer instructions."""
    from mcsim.engine import _pilot_values, simulate
    from mcsim.program import prune

    sim = simulate(deepseek, 70_000, seed=4)
    names = [o.name for o in deepseek.outputs]
    for wanted in (["capex_h800"], ["ratio_server_tco_to_6m", "v3_run_cost_epoch"]):
        rows = sim.program.out_regs[[names.index(o) for o in wanted]]
        small = prune(sim.program, rows)
        assert len(small.code) < len(sim.program.code)
        whole = _pilot_values(sim.program, 70_000, 2)[[names.index(o) for o in wanted]]
        np.testing.assert_array_equal(np.vstack(list(sim.regenerate(wanted, 65_536 * 2))), whole)
    h800 = prune(sim.program, sim.program.out_regs[[names.index("capex_h800")]])
    assert len(h800.code) < len(sim.program.code) // 4  # its inputs, their copula, 3 ops
