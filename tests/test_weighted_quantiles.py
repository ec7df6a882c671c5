"""Weighted quantiles under evidence: refined into the exact weighted type-4 sample quantiles
of the draws (the definition in ``quantiles.py``), checked against a slow reference on the
same draws materialised, for the shapes a histogram gets wrong."""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcsim import engine, quantiles
from mcsim.evidence import weight_tree, weight_units
from mcsim.formula import evaluate
from mcsim.scenario import scenario_from_dict

PROBS = np.array([0.001, 0.01, 0.05, 0.3, 0.5, 0.95, 0.99, 0.999])
U = {"unit": "u", "source": "t"}
INPUTS = {
    "x": {"dist": "normal", "loc": 0.0, "scale": 1.0, **U},
    "v": {"dist": "uniform", "min": 0.0, "max": 2.0, **U},
    "k": {"dist": "discrete", "values": [1, 2, 5, 10], "weights": [0.1, 0.2, 0.4, 0.3], **U},
    "z": {"dist": "truncnormal", "loc": 1000, "scale": 1, "min": 1000.5, "max": 1001, **U},
}
OUTPUTS = {
    "y": "x",  # smooth
    "d": "k",  # atoms (a discrete input)
    "t1": "z + x * 1e-6",  # a narrow spread far from zero
    "cut": "x * v",  # cut inside a bin by the condition below
    "a1": "max(x, 0.3)",  # an atom at the bottom
}
CUT = 1.2345


def _scenario(evidence: list, outputs: dict | None = None) -> object:
    data = {"schema": 1, "inputs": INPUTS, "evidence": evidence,
            "outputs": {k: {"formula": f} for k, f in (outputs or OUTPUTS).items()},
            "claims": {"c": {"output": "d", "value": 4.0, "source": "t"}}}
    return scenario_from_dict(data, name="wq")


MEASURE = {"name": "m", "quantity": "x", "observed": 1.0, "likelihood": "normal", "sd": 0.5,
           "source": "t"}
CONDITION = {"name": "c", "condition": f"x * v < {CUT}", "source": "t"}
# prior N(0, 1), observed 2.5 with sd 0.3: weights from ~1e-30 (quantised: a few units, or
# none) to 1: a mix of tiny and large weights
SHARP = {"name": "s", "quantity": "x", "observed": 2.5, "likelihood": "normal", "sd": 0.3,
         "source": "t"}


def reference(x: np.ndarray, units: np.ndarray, probs) -> np.ndarray:
    """The weighted type-4 quantiles, slowly: a stable sort, exact cumulative weights as
    Python integers, the interpolation weight as an exact fraction rounded once."""
    keep = np.isfinite(x) & (units > 0)
    order = np.argsort(x[keep], kind="stable")
    xs, us = x[keep][order], [int(u) for u in units[keep][order]]
    cum, s = [], 0
    for u in us:
        s += u
        cum.append(s)
    out = []
    for p in probs:
        t = p * float(cum[-1])
        i = min(bisect.bisect_right(cum, t), len(cum) - 1)  # S_i <= t < S_(i+1)
        before = cum[i - 1] if i else 0
        previous = xs[i - 1] if i else xs[i]
        g = min(max((Fraction(t) - before) / us[i], Fraction(0)), Fraction(1))
        out.append(previous + float(g) * (xs[i] - previous))
    return np.array(out)


def draws_and_units(sc, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The run's draws (the same scenario without evidence, same seed) and each draw's
    weight in the units the kernel counts."""
    names = tuple(dict.fromkeys([*INPUTS, *(o.name for o in sc.outputs)]))
    draws = engine.sample(sc.without_evidence(), n, seed=seed, names=names)
    env = {c: draws[c].to_numpy() for c in INPUTS}
    w = np.ones(n)
    for ev in sc.evidence:
        w = w * evaluate(weight_tree(ev), env)
    return draws, weight_units(w)


@pytest.mark.parametrize("evidence", [[MEASURE, CONDITION], [SHARP]], ids=["cut", "sharp"])
@pytest.mark.parametrize("limit", [quantiles.COLLECT_LIMIT, 16])
def test_refined_weighted_quantiles_are_the_exact_ones(monkeypatch, evidence, limit):
    """Every output's weighted quantiles, refined (forced), equal the reference exactly; a
    tiny collection limit makes windows narrow over several passes and meet atoms."""
    monkeypatch.setattr(quantiles, "COLLECT_LIMIT", limit)
    sc = _scenario(evidence)
    n = 200_000
    sim = engine.simulate(sc, n, seed=5)
    draws, units = draws_and_units(sc, n, 5)
    forced = quantiles.weighted_quantiles(sim, {o.name: list(PROBS) for o in sc.outputs})
    estimated = quantiles.estimate(sim, {o.name: PROBS for o in sc.outputs})
    refined = 0
    for out in sc.outputs:
        exact = reference(draws[out.name].to_numpy(), units, PROBS)
        got = np.array([forced[out.name, p] for p in PROBS])
        np.testing.assert_array_equal(got, exact, err_msg=out.name)
        est = estimated[out.name]
        np.testing.assert_array_equal(est.value[est.exact], exact[est.exact])
        # where the histogram's interpolation is kept, its bound is within the error
        assert np.all(np.abs(est.value - exact) <= est.se), out.name
        refined += int(est.exact.sum())
    assert refined >= 10
    assert set(sim.refined) >= {("d", p) for p in (0.5, 0.95)}


def test_atoms_and_the_cut_are_exact_where_the_histogram_is_not():
    sc = _scenario([MEASURE, CONDITION])
    sim = engine.simulate(sc, 300_000, seed=2)
    draws, units = draws_and_units(sc, 300_000, 2)
    d = quantiles.estimate(sim, {"d": PROBS, "cut": np.array([0.999])})
    assert d["d"].exact.all() and set(d["d"].value) <= {1.0, 2.0, 5.0, 10.0}
    np.testing.assert_array_equal(d["d"].value, reference(draws["d"].to_numpy(), units, PROBS))
    # the condition ends the distribution at CUT, inside a bin: the top quantile is refined
    assert d["cut"].exact[0] and d["cut"].value[0] < CUT
    assert d["cut"].value[0] == reference(draws["cut"].to_numpy(), units, [0.999])[0]


@pytest.mark.parametrize("limit", [quantiles.COLLECT_LIMIT, 16])
def test_a_position_in_the_first_draw_of_an_atom_interpolates_from_the_draw_below(
        monkeypatch, limit):
    """Type 4 on weighted draws: a position inside the first (in draw order) draw at 5
    interpolates between 2, the largest value below, and 5; one past it is 5."""
    monkeypatch.setattr(quantiles, "COLLECT_LIMIT", limit)
    sc = _scenario([MEASURE])
    n = 100_000
    sim = engine.simulate(sc, n, seed=7)
    draws, units = draws_and_units(sc, n, 7)
    d = draws["d"].to_numpy()
    total = int(units.sum())
    below = int(units[d < 5].sum())
    first = int(units[np.flatnonzero(d == 5)[0]])
    inside = (below + first / 2) / total
    past = (below + first + 1) / total
    got = quantiles.weighted_quantiles(sim, {"d": [inside, past]})
    assert 2 < got["d", inside] < 5 and got["d", past] == 5.0
    assert got["d", inside] == reference(d, units, [inside])[0]


def test_the_summary_quantile_table_and_claims_use_them():
    sc = _scenario([MEASURE, CONDITION])
    n = 100_000
    sim = engine.simulate(sc, n, seed=8, quantiles=(0.25, 0.75))
    draws, units = draws_and_units(sc, n, 8)
    ends = [0.5, (1 - 0.9) / 2, (1 + 0.9) / 2]
    exact = reference(draws["d"].to_numpy(), units, ends)
    row = sim.summary().set_index("output").loc["d"]
    assert [row["median"], row["ci_low"], row["ci_high"]] == exact.tolist()
    assert not row["coarse"]
    assert sim.quantile("d", 0.5)[0] == exact[0]
    assert sim.claims().iloc[0]["median"] == exact[0]
    table = sim.quantile_table().set_index(["output", "p"])
    assert table.loc[("d", 0.25), "exact"]
    assert table.loc[("d", 0.25), "value"] == reference(draws["d"].to_numpy(), units,
                                                         [0.25])[0]
    # the prior beside it is the unweighted run's, refined as before
    plain = engine.simulate(sc.without_evidence(), n, seed=8)
    assert row["prior_median"] == plain.summary().set_index("output").loc["d", "median"]


def test_equal_weights_give_the_unweighted_exact_quantiles():
    """A condition that always holds weighs every draw 1: the weighted quantiles are numpy's
    type 4 bit for bit, and where both runs refine, the unweighted run's (errors too)."""
    sc = _scenario([{"name": "all", "condition": "x > -100", "source": "t"}])
    n = 150_000
    sim = engine.simulate(sc, n, seed=4)
    draws = engine.sample(sc.without_evidence(), n, seed=4, names=tuple(OUTPUTS))
    forced = quantiles.weighted_quantiles(sim, {name: list(PROBS) for name in OUTPUTS})
    for name in OUTPUTS:
        numpy_q = np.quantile(draws[name].to_numpy(), PROBS, method="interpolated_inverted_cdf")
        np.testing.assert_array_equal([forced[name, p] for p in PROBS], numpy_q, err_msg=name)
    weighted = sim.quantile_table(PROBS)
    plain = engine.simulate(sc.without_evidence(), n, seed=4).quantile_table(PROBS)
    both = (weighted["exact"] & plain["exact"]).to_numpy()
    assert both.sum() > 10
    assert weighted["value"][both].tolist() == plain["value"][both].tolist()
    np.testing.assert_allclose(weighted["se"][both], plain["se"][both], rtol=1e-12)


def test_refined_errors_use_the_effective_sample_size():
    """The standard error of a refined weighted quantile is half the span between exact
    quantiles at the Beta probabilities for Kish's ESS."""
    sc = _scenario([SHARP])
    sim = engine.simulate(sc, 100_000, seed=6)
    hist = sim.outputs["d"].histogram
    est = quantiles.estimate(sim, {"d": np.array([0.3])})["d"]
    lo, hi = quantiles.se_probabilities(hist.n_eff, np.array([0.3]))
    q = quantiles.weighted_quantiles(sim, {"d": [float(lo[0]), float(hi[0])]})
    assert est.exact[0]
    assert est.se[0] == (q["d", float(hi[0])] - q["d", float(lo[0])]) / 2
    assert hist.n_eff < 0.2 * sim.outputs["d"].count


def test_regenerate_gives_the_weights_the_run_counted():
    sc = _scenario([MEASURE, CONDITION])
    n = 70_000
    sim = engine.simulate(sc, n, seed=3, threads=2)
    _, units = draws_and_units(sc, n, 3)
    rows = np.hstack(list(sim.regenerate(["y"], 65_536, weights=True)))
    np.testing.assert_array_equal(rows[-1], units)
    assert rows[-1].sum() * 2.0**-40 == pytest.approx(sim.weights.sum_w, rel=1e-15)


@settings(max_examples=15, deadline=None)
@given(st.integers(300, 4000), st.integers(0, 2**31 - 1), st.floats(-2, 2),
       st.floats(0.05, 3.0), st.lists(st.floats(0.0005, 0.9995), min_size=1, max_size=4),
       st.sampled_from([2, 7, 1 << 16]))
def test_small_random_cases_match_the_reference(n, seed, observed, sd, probs, limit):
    sc = _scenario([{**MEASURE, "observed": observed, "sd": sd}, CONDITION])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quantiles, "COLLECT_LIMIT", limit)
        sim = engine.simulate(sc, n, seed=seed)
        got = quantiles.weighted_quantiles(sim, {o.name: probs for o in sc.outputs})
    draws, units = draws_and_units(sc, n, seed)
    for out in sc.outputs:
        exact = reference(draws[out.name].to_numpy(), units, probs)
        np.testing.assert_array_equal([got[out.name, p] for p in probs], exact,
                                      err_msg=out.name)


def test_the_weighted_refinement_is_the_same_on_one_or_two_threads():
    sc = _scenario([SHARP, CONDITION])
    one = engine.simulate(sc, 150_000, seed=9, threads=1).quantile_table(PROBS)
    two = engine.simulate(sc, 150_000, seed=9, threads=2).quantile_table(PROBS)
    assert one["exact"].sum() > 5
    pd.testing.assert_frame_equal(one, two)
