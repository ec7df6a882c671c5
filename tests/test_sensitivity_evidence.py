"""Sensitivity under evidence: the given-data methods weight every draw, against a slow numpy
reference on the same draws; the methods without a weighted form are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from builders import run_main
from mcsim import _kernels as K
from mcsim import engine
from mcsim.evidence import quantise, weight_tree
from mcsim.formula import evaluate
from mcsim.program import stream_key
from mcsim.report import build_report
from mcsim.scenario import scenario_from_dict
from mcsim.sensitivity import (
    DEFAULT_METHODS,
    FINE_PER_BIN,
    TAIL_QUANTILE,
    WEIGHTED_METHODS,
    tornado,
)

INPUTS = {
    "a": {"dist": "normal", "loc": 10, "scale": 2},
    "b": {"dist": "uniform", "min": 0, "max": 6},
    "c": {"dist": "lognormal", "mu": 1.0, "sigma": 0.5},
}
FORMULA = "3*a - 2*b + 0.5*c * a / 10 + 7"
SOFT = [{"name": "m", "quantity": "a + b", "observed": 14.0, "likelihood": "normal",
         "sd": 1.5, "source": "t"},
        {"name": "t", "quantity": "c", "observed": 2.0, "likelihood": "student_t", "df": 3,
         "scale": 1.0, "source": "t"}]
HARD = [{"name": "k", "condition": "a + b > 12", "source": "t"}]
BINS = 10


def _scenario(evidence: list) -> object:
    inputs = {k: {"unit": "u", "source": "t", **v} for k, v in INPUTS.items()}
    return scenario_from_dict({"schema": 1, "inputs": inputs,
                               "outputs": {"y": {"formula": FORMULA}},
                               "evidence": evidence}, name="wsens")


def _draws(sc, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run's draws of y, each input's uniform [D, n] and each draw's quantised weight."""
    cols = engine.sample(sc.without_evidence(), n, seed=seed, names=(*INPUTS, "y"))
    env = {c: cols[c].to_numpy() for c in INPUTS}
    w = np.ones(n)
    for ev in sorted(sc.evidence, key=lambda e: e.name):
        w = w * evaluate(weight_tree(ev), env)
    u = np.empty((len(INPUTS), n))
    for i, name in enumerate(INPUTS):
        K.fill_uniforms(u[i], stream_key(seed, name), 0, n)
    return cols["y"].to_numpy(), u, quantise(w)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, cum[-1] / 2)])


def _reference(y, u, w, ranks, tail_at) -> dict[str, np.ndarray]:
    """binned, s1, spearman and tail by their definitions, each draw weighted by ``w``."""
    fine = BINS * FINE_PER_BIN
    keep = (w > 0) & np.isfinite(y)
    y, u, w, r = y[keep], u[:, keep], w[keep], ranks[keep]
    out: dict[str, list] = {"low": [], "high": [], "s1": [], "spearman": [], "tail": []}
    mean_y = np.average(y, weights=w)
    var_y = np.average((y - mean_y) ** 2, weights=w)
    tail = y > tail_at
    for ui in u:
        f = np.minimum((ui * fine).astype(int), fine - 1)
        means = np.array([np.average(y[f // FINE_PER_BIN == b], weights=w[f // FINE_PER_BIN == b])
                          for b in range(BINS)])
        out["low"].append(means.min())
        out["high"].append(means.max())
        sw = np.bincount(f, w, fine)
        fine_means = np.bincount(f, w * y, fine)[sw > 0] / sw[sw > 0]
        raw = np.sum(sw[sw > 0] * (fine_means - mean_y) ** 2) / w.sum() / var_y
        w2 = np.bincount(f, w * w, fine)
        k = (np.sum(w2[sw > 0] / sw[sw > 0]) - np.sum(w * w) / w.sum()) / w.sum()
        out["s1"].append((raw - k) / (1 - k))
        # the input's posterior rank: the weighted share of draws at or below it
        order = np.argsort(ui)
        g = np.empty_like(ui)
        g[order] = np.cumsum(w[order]) / w.sum()
        cov = np.cov(g, r, aweights=w)
        out["spearman"].append(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
        out["tail"].append(100 * (_weighted_median(g[tail], w[tail]) - 0.5))
    return {k: np.asarray(v) for k, v in out.items()}


def _check(tor, ref, tail_tol: float) -> None:
    t = tor.table.set_index(["method", "input"])
    names = list(INPUTS)
    binned = t.loc["binned"].loc[names]
    np.testing.assert_allclose(binned["low"], ref["low"], rtol=1e-9)
    np.testing.assert_allclose(binned["high"], ref["high"], rtol=1e-9)
    np.testing.assert_allclose(t.loc["s1"].loc[names, "value"], ref["s1"], atol=1e-9)
    np.testing.assert_allclose(t.loc["spearman"].loc[names, "value"], ref["spearman"],
                               atol=2e-5)
    np.testing.assert_allclose(t.loc["tail"].loc[names, "value"], ref["tail"], atol=tail_tol)


def _posterior(sc, n: int, seed: int):
    """The first pass of ``tornado``: the posterior of y (its histogram ranks the draws)."""
    return engine.simulate(sc.only("y"), n, seed=seed).outputs["y"]


def test_soft_evidence_matches_the_weighted_reference_on_the_same_draws():
    sc = _scenario(SOFT)
    n, seed = 200_000, 5
    tor = tornado(sc, "y", n, seed, methods=("binned", "spearman", "s1", "tail"))
    y, u, w = _draws(sc, n, seed)
    post = _posterior(sc, n, seed)
    assert tor.tail_threshold == pytest.approx(post.histogram.quantile(TAIL_QUANTILE)[0][0])
    ref = _reference(y, u, w, post.histogram.cdf_at(y), tor.tail_threshold)
    _check(tor, ref, tail_tol=0.05)
    assert tor.notes[0].startswith("Posterior: every draw weighted by the evidence")
    # the evidence moves the answer: without it, a's bars and ranks are not the posterior's
    prior = tornado(sc.without_evidence(), "y", n, seed, methods=("binned", "s1"))
    t, p = tor.table.set_index(["method", "input"]), prior.table.set_index(["method", "input"])
    assert abs(t.at[("s1", "b"), "value"] - p.at[("s1", "b"), "value"]) > 0.05


def test_a_hard_condition_equals_the_methods_on_the_kept_draws_only():
    sc = _scenario(HARD)
    n, seed = 150_000, 8
    tor = tornado(sc, "y", n, seed, methods=("binned", "spearman", "s1", "tail"))
    y, u, w = _draws(sc, n, seed)
    assert set(np.unique(w)) == {0.0, 1.0}
    kept = w > 0
    post = _posterior(sc, n, seed)
    assert post.count == kept.sum()
    ones = np.ones(kept.sum())  # the kept draws alone, unweighted
    ref = _reference(y[kept], u[:, kept], ones, post.histogram.cdf_at(y[kept]),
                     tor.tail_threshold)
    _check(tor, ref, tail_tol=0.05)
    binned = tor.table[tor.table["method"] == "binned"].set_index("input")
    # the standard error of a bin mean of kept draws is the unweighted one
    a = u[0, kept]
    top = y[kept][np.minimum((a * BINS).astype(int), BINS - 1) == BINS - 1]
    bottom = y[kept][(a * BINS).astype(int) == 0]
    se = np.hypot(top.std(ddof=1) / np.sqrt(top.size), bottom.std(ddof=1) / np.sqrt(bottom.size))
    assert binned.at["a", "se"] == pytest.approx(se, rel=1e-9)


def test_weighted_tornado_is_the_same_on_one_and_two_threads():
    sc = _scenario(SOFT)
    n = 3 * 65_536 + 321
    one = tornado(sc, "y", n, seed=2, threads=1)
    two = tornado(sc, "y", n, seed=2, threads=2)
    pd.testing.assert_frame_equal(one.to_frame(), two.to_frame(), check_exact=True)
    assert one.notes == two.notes


def test_the_default_methods_under_evidence_are_the_weighted_ones():
    sc = _scenario(SOFT)
    tor = tornado(sc, "y", 20_000, seed=1)
    assert tor.methods == WEIGHTED_METHODS
    assert set(tor.table["method"]) == set(WEIGHTED_METHODS)
    assert tornado(sc.without_evidence(), "y", 20_000, seed=1).methods == DEFAULT_METHODS


EVIDENCE_FILE = """schema = 1
[inputs.a]
dist = "normal"
loc = 10.0
scale = 2.0
unit = "u"
source = "t"
[inputs.b]
dist = "uniform"
min = 0.0
max = 6.0
unit = "u"
source = "t"
[outputs.y]
formula = "3*a - 2*b"
[[evidence]]
name = "m"
quantity = "a + b"
observed = 14.0
likelihood = "normal"
sd = 1.5
source = "t"
"""


@pytest.mark.parametrize(("methods", "words"), [
    ("binned,swing", "swing has no weighted form under evidence (it moves inputs over their "
                     "prior percentiles)"),
    ("st", "st has no weighted form under evidence (pick-freeze"),
])
def test_a_method_without_a_weighted_form_is_refused_in_one_line(tmp_path, monkeypatch, capsys,
                                                                 methods, words):
    path = tmp_path / "ev.toml"
    path.write_text(EVIDENCE_FILE)
    code, out, err = run_main(["sensitivity", str(path), "-o", "y", "-n", "20k", "--seed", "1",
                              "-q", "--methods", methods], monkeypatch, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert words in err and "--methods" in err and "--no-evidence" in err
    code, out, err = run_main(["sensitivity", str(path), "-o", "y", "-n", "20k", "--seed", "1",
                              "-q", "--methods", methods, "--no-evidence"], monkeypatch,
                              capsys)
    assert code == 0, err


def test_the_default_command_runs_under_evidence(tmp_path, monkeypatch, capsys):
    path = tmp_path / "ev.toml"
    path.write_text(EVIDENCE_FILE)
    code, out, err = run_main(["sensitivity", str(path), "-o", "y", "-n", "20k", "--seed", "1",
                              "-q", "--csv", str(tmp_path / "t.csv")], monkeypatch, capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "t.csv")
    assert set(table["method"]) == set(WEIGHTED_METHODS)
    assert "Posterior" in out


def test_the_report_draws_tornados_under_evidence(tmp_path):
    sc = _scenario(SOFT)
    rep = build_report([sc], 30_000, seed=1, tornado_draws=30_000, replicates=4)
    html = "".join(text for name, text in rep.files().items() if name.endswith(".html"))
    assert "Posterior: every draw weighted by the evidence" in html
    # the run section says the intervals are posteriors, with the effective sample size
    assert "Evidence (<code>" in html and "effective sample size" in html
