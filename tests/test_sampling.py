"""Sampling designs: Latin hypercube and scrambled Sobol' against their definitions and scipy,
their errors measured from replicates, and their advantage over plain Monte Carlo."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import qmc

from builders import make_scenario, run_main
from mcsim import _kernels as K
from mcsim import sampling
from mcsim.engine import sample, simulate
from mcsim.errors import McsimError
from mcsim.reduce import replicate_se
from mcsim.scenario import scenario_from_dict


def _uniforms(sampler: str, m: int, replicates: int, streams: int, seed: int = 7,
              chunk: int = 613) -> np.ndarray:
    """Every stream's uniforms of a whole design, drawn in odd-sized chunks: [draws, streams]."""
    p = sampling.Plan(sampler, replicates, m, replicates * m)
    design = sampling.design(p, seed, list(range(streams)), streams)
    keys = np.arange(1, streams + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    out = np.empty((p.draws, streams))
    for s in range(streams):
        for k0 in range(0, p.draws, chunk):
            n = min(chunk, p.draws - k0)
            buf = np.empty(n)
            K.stream_uniforms(buf, design, keys, s, k0, n)
            out[k0:k0 + n, s] = buf
    return out


def test_sobol_points_are_scipys_scrambled_sobol_bit_for_bit():
    m, reps, d = 4096, 3, 5
    u = _uniforms("sobol", m, reps, d, seed=11)
    for r in range(reps):
        rng = np.random.default_rng(np.random.SeedSequence([11, r, 0x50B01]))
        ref = qmc.Sobol(d, scramble=True, bits=32, rng=rng).random(m)
        np.testing.assert_array_equal(np.floor(u[r * m:(r + 1) * m] * 2.0**32), ref * 2.0**32)
    assert 0.0 < u.min() and u.max() < 1.0


def test_chunked_uniforms_equal_the_one_draw_reference():
    for sampler in ("lhs", "sobol"):
        p = sampling.Plan(sampler, 3, 1000 if sampler == "lhs" else 1024, 0)
        design = sampling.design(p, 3, [0, 1], 2)
        u = _uniforms(sampler, p.replicate_draws, 3, 2, seed=3, chunk=97)
        keys = np.arange(1, 3, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        ref = [[K.design_uniform(design, keys, s, k) for s in range(2)]
               for k in range(3 * p.replicate_draws)]
        np.testing.assert_array_equal(u, ref)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 5000), key=st.integers(0, 2**64 - 1))
def test_lhs_permutation_is_a_bijection(m, key):
    image = [K.lhs_permute(i, m, np.uint64(key)) for i in range(m)]
    assert sorted(image) == list(range(m))


@pytest.mark.parametrize("m", [1000, 4096, 65537])
def test_lhs_draws_every_cell_once_per_replicate_and_input(m):
    u = _uniforms("lhs", m, 3, 3)
    for r in range(3):
        cells = np.floor(u[r * m:(r + 1) * m] * m).astype(np.int64)
        for s in range(3):
            np.testing.assert_array_equal(np.sort(cells[:, s]), np.arange(m))


def test_lhs_cells_are_uniform_over_keys_even_for_tiny_replicates():
    """A Feistel network alone favours some cells when m is small; the keyed cyclic shift
    makes every draw's cell exactly uniform, and two inputs' cells independent."""
    counts = np.zeros((5, 5))
    for key in range(10_000):
        a = K.lhs_permute(0, 5, np.uint64(key), 0)
        b = K.lhs_permute(0, 5, np.uint64(key + 2**40), 0)
        counts[a, b] += 1
    assert stats.chisquare(counts.sum(axis=1)).pvalue > 1e-3
    assert stats.chisquare(counts.ravel()).pvalue > 1e-3


@pytest.mark.parametrize("sampler, m", [("lhs", 3 * 2**12 + 7), ("sobol", 2**14)])
def test_design_uniforms_are_uniform_and_inputs_independent(sampler, m):
    u = _uniforms(sampler, m, 4, 4)
    for s in range(4):
        assert stats.kstest(u[:, s], "uniform").pvalue > 1e-3
    rho = stats.spearmanr(u).statistic
    assert np.abs(rho[np.triu_indices(4, 1)]).max() < 4 / math.sqrt(len(u))


ANALYTIC = dict(
    inputs={
        "a": {"dist": "normal", "loc": 1.0, "scale": 1.0},
        "b": {"dist": "uniform", "loc": 0.0, "scale": 2.0},
        "c": {"dist": "lognormal", "s": 0.5, "scale": 1.0},
        "d": {"dist": "pert", "min": 0.0, "mode": 1.0, "max": 4.0},
        "f": {"dist": "beta", "a": 2.0, "b": 5.0},  # not "e": a reserved name (Euler's e)
    },
    outputs={"y": "a + 2 * b + c * d + f ** 2"},
)
# E[a] + 2 E[b] + E[c] E[d] + E[f**2]; PERT(0, 1, 4) has mean (0 + 4 + 4) / 6
TRUE_MEAN = 1.0 + 2.0 + math.exp(0.125) * (8 / 6) + stats.beta(2, 5).moment(2)


def _mean_errors(sampler: str, seeds: range, draws: int) -> tuple[np.ndarray, np.ndarray]:
    sc = make_scenario(**ANALYTIC)
    err, se = [], []
    for seed in seeds:
        sim = simulate(sc, draws, seed=seed, sampler=sampler,
                       replicates=None if sampler == "mc" else 8)
        row = sim.summary().iloc[0]
        err.append(row["mean"] - TRUE_MEAN)
        se.append(row["mean_se"])
    return np.asarray(err), np.asarray(se)


def test_lhs_and_sobol_beat_plain_monte_carlo_on_the_error_of_the_mean():
    seeds, draws = range(20), 8 * 2**12
    rmse = {}
    for sampler in ("mc", "lhs", "sobol"):
        err, se = _mean_errors(sampler, seeds, draws)
        rmse[sampler] = math.sqrt(np.mean(err**2))
        # the reported errors are honest: |error| within the t(7) 99% bound on most seeds
        bound = 3.5 if sampler != "mc" else 2.6
        assert np.mean(np.abs(err) <= bound * se) >= 0.9, (sampler, err / se)
        assert 0.5 < rmse[sampler] / np.sqrt(np.mean(se**2)) < 2.0, sampler
    assert rmse["lhs"] < 0.5 * rmse["mc"], rmse
    assert rmse["sobol"] < 0.5 * rmse["mc"], rmse


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_marginals_keep_their_distribution(sampler):
    sc = make_scenario(**ANALYTIC)
    draws = sample(sc, 2**15, seed=5, sampler=sampler, replicates=4)
    assert len(draws) == 2**15
    assert stats.kstest(draws["c"], stats.lognorm(0.5).cdf).pvalue > 1e-3
    assert stats.kstest(draws["f"], stats.beta(2, 5).cdf).pvalue > 1e-3
    assert stats.kstest(draws["a"], stats.norm(1, 1).cdf).pvalue > 1e-3


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_replicated_runs_do_not_depend_on_threads_or_batching(sampler):
    sc = make_scenario(**ANALYTIC)
    # replicates of several tiles each, so that threads and batches both come into play
    one = simulate(sc, 600_000, seed=2, sampler=sampler, replicates=2, threads=1,
                   batch_tiles=1)
    two = simulate(sc, 600_000, seed=2, sampler=sampler, replicates=2, threads=2)
    assert one.summary().equals(two.summary())
    assert one.claims().equals(two.claims())


def test_replicate_errors_are_the_spread_of_the_replicates():
    sc = make_scenario(**ANALYTIC)
    sim = simulate(sc, 200_000, seed=4, sampler="lhs", replicates=5)
    assert sim.draws == 200_000 and len(sim.replicates) == 5
    reps = [r["y"] for r in sim.replicates]
    assert sum(r.count for r in reps) == sim.outputs["y"].count
    np.testing.assert_allclose(np.mean([r.mean for r in reps]), sim.outputs["y"].mean,
                               rtol=1e-12)
    row = sim.summary(90).iloc[0]
    assert row["mean_se"] == pytest.approx(replicate_se([r.mean for r in reps])[()])
    medians = [r.histogram.quantile(0.5)[0][0] for r in reps]
    assert row["median_se"] == pytest.approx(np.std(medians, ddof=1) / math.sqrt(5))


def test_sobol_draws_do_not_depend_on_what_the_program_computes():
    sc = make_scenario(**ANALYTIC)
    whole = sample(sc, 2**12, seed=3, sampler="sobol", replicates=2)
    part = sample(sc, 2**12, seed=3, sampler="sobol", replicates=2, names=("y", "c"))
    pd.testing.assert_frame_equal(part, whole[["y", "c"]])


def test_replicate_errors_never_fall_below_one_draw_per_replicate():
    """y = a: under LHS every replicate counts the same number of draws below a claim, so
    the replicates' spread is 0; the reported error is the resolution floor instead."""
    sc = make_scenario({"a": {"dist": "uniform", "loc": 0, "scale": 1}}, {"y": "a"},
                       claims={"half": {"output": "y", "value": 0.3, "source": "t"}})
    sim = simulate(sc, 10 * 4096, seed=1, sampler="lhs")
    claim = sim.claims().iloc[0]
    assert claim["p_exceed_se"] == pytest.approx(1 / (4096 * math.sqrt(120)))
    assert abs(claim["p_exceed"] - 0.7) <= 3 * claim["p_exceed_se"]
    row = sim.summary().iloc[0]
    assert 0 < row["median_se"] and abs(row["median"] - 0.5) <= 3 * row["median_se"] + 1e-3


def test_correlations_hold_under_lhs_and_sobol():
    sc = scenario_from_dict({
        "schema": 1,
        "inputs": {k: {"unit": "u", "source": "t", **v} for k, v in ANALYTIC["inputs"].items()},
        "outputs": {"y": {"formula": "a + c"}},
        "correlations": [{"inputs": ["a", "c"], "spearman": 0.6}]})
    for sampler in ("lhs", "sobol"):
        draws = sample(sc, 2**15, seed=1, sampler=sampler, names=("a", "c"))
        rho = stats.spearmanr(draws["a"], draws["c"]).statistic
        assert abs(rho - 0.6) < 0.02, (sampler, rho)


def test_plans_round_and_explain():
    p = sampling.plan("sobol", 10_000_000)
    assert (p.replicates, p.replicate_draws, p.draws) == (10, 2**20, 10 * 2**20)
    assert "2^20" in p.note() and "10,000,000" in p.note()
    p = sampling.plan("lhs", 999_999, replicates=4)
    assert p.draws == 1_000_000 and "250,000" in p.note()
    assert sampling.plan("mc", 123).note() is None
    with pytest.raises(McsimError, match="--replicates: only for"):
        sampling.plan("mc", 100, replicates=4)
    with pytest.raises(McsimError, match="at least 20 draws"):
        sampling.plan("lhs", 10)
    with pytest.raises(McsimError, match="between 2 .* and 50"):
        sampling.plan("lhs", 1000, replicates=51)
    with pytest.raises(McsimError, match="at most 2\\^32 draws; use more --replicates"):
        sampling.plan("lhs", 2**34, replicates=2)
    with pytest.raises(McsimError, match="--until: works with --sampler mc only"):
        sampling.plan("sobol", 1000, auto_stop=True)


def _uniform_scenario(folder):
    """A scenario file of one uniform input, doubled."""
    sc = folder / "s.toml"
    sc.write_text('schema = 1\n[inputs.x]\ndist = "uniform"\nloc = 0\nscale = 1\nunit = "u"\n'
                  'source = "t"\n[outputs.y]\nformula = "x * 2"\n')
    return sc


def test_cli_sampler_note_header_and_manifest(tmp_path, monkeypatch, capsys):
    sc = _uniform_scenario(tmp_path)
    code, out, err = run_main(["run", str(sc), "--draws", "100k", "--seed", "1", "-q",
                               "--sampler", "sobol", "--out", str(tmp_path / "r")],
                              monkeypatch, capsys)
    assert code == 0, err
    assert "note: sobol: 81,920 draws (10 replicates of 2^13" in out
    assert "errors from their spread" in out
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["sampler"] == "sobol" and manifest["replicates"] == 10
    assert manifest["draws"] == 81_920
    for args, message in ((["--sampler", "mc", "--replicates", "3"], "--replicates: only for"),
                          (["--sampler", "lhs", "--until", "mean:1%"], "--until: works with")):
        code, out, err = run_main(["run", str(sc), "-q", *args], monkeypatch, capsys)
        assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("missing", ["_sv", "_shift"])
def test_a_scipy_without_sobols_internals_gives_one_line(missing, tmp_path, monkeypatch,
                                                         capsys):
    """The Sobol' design reads scipy's private direction words: a scipy that lacks them is
    named in a one-line error, not an AttributeError traceback."""
    import scipy

    class Changed(qmc.Sobol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            delattr(self, missing)

    monkeypatch.setattr(qmc, "Sobol", Changed)
    with pytest.raises(McsimError, match=f"scipy {scipy.__version__} changed"):
        sampling.sobol_scramble(3, seed=1, replicate=0)
    sc = _uniform_scenario(tmp_path)
    code, out, err = run_main(["run", str(sc), "--draws", "10k", "--seed", "1", "-q",
                               "--sampler", "sobol", "--out", str(tmp_path / "r")],
                              monkeypatch, capsys)  # as the test above, with scipy changed
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"scipy {scipy.__version__}" in err
    assert not (tmp_path / "r").exists()
