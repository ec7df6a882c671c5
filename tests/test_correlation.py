"""Correlated inputs: a Gaussian copula on each input's own stream, marginals kept exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from builders import run_main
from mcsim.correlation import nearest_correlation, pearson_of_spearman, spearman_of_pearson
from mcsim.engine import redraw_correlated, sample, simulate
from mcsim.errors import SpecError
from mcsim.reduce import rank_correlations
from mcsim.scenario import scenario_from_dict

INPUTS = {
    "a": {"p5": 1, "p95": 10},
    "b": {"min": 0, "mode": 1, "max": 3},
    "c": {"dist": "normal", "loc": 0, "scale": 1},
    "d": {"dist": "uniform", "min": 0, "max": 1},
}
PAIRS = [(("a", "b"), 0.6), (("b", "c"), -0.3), (("a", "c"), 0.1)]


def scenario(pairs=PAIRS, inputs=INPUTS, repair=False):
    return scenario_from_dict({
        "schema": 1,
        "inputs": {k: {**v, "unit": "u", "source": "test"} for k, v in inputs.items()},
        "outputs": {"y": {"formula": " + ".join(inputs)}},
        "correlations": [{"inputs": list(p), "spearman": r} for p, r in pairs],
    }, repair=repair)


def test_achieved_rank_correlations_match_the_request():
    sc = scenario()
    df = sample(sc, 400_000, seed=3)
    for (x, y), rho in PAIRS:
        achieved = stats.spearmanr(df[x], df[y])[0]
        # se of a rank correlation at n = 4e5 is below 0.0015 for these values
        assert abs(achieved - rho) < 0.006, (x, y, achieved)
    assert abs(stats.spearmanr(df["a"], df["d"])[0]) < 0.006  # d is independent


def test_marginals_are_unchanged():
    sc = scenario()
    df = sample(sc, 200_000, seed=4)
    for name in ("a", "b", "c", "d"):
        assert stats.kstest(df[name], sc.input(name).prior.cdf).pvalue > 1e-3, name


def test_threads_and_unrelated_inputs_do_not_change_the_draws():
    sc = scenario()
    one = sample(sc, 50_000, seed=5, threads=1)
    two = sample(sc, 50_000, seed=5, threads=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    more = scenario(inputs={**INPUTS, "f": {"dist": "uniform", "min": 0, "max": 1}})
    again = sample(more, 50_000, seed=5)
    for name in INPUTS:
        np.testing.assert_array_equal(again[name], one[name])


def test_run_reports_requested_and_achieved():
    sim = simulate(scenario(), 300_000, seed=6)
    table = rank_correlations(sim, redraw_correlated(sim))
    assert list(table[["a", "b"]].itertuples(index=False, name=None)) == [p for p, _ in PAIRS]
    assert np.all(np.abs(table["achieved"] - table["requested"]) < 5 * table["se"] + 0.002)


def test_an_invalid_matrix_is_an_error_or_is_repaired():
    bad = [(("a", "b"), 0.9), (("b", "c"), 0.9), (("a", "c"), -0.9)]
    with pytest.raises(SpecError, match="correlations: the rank correlations among a, b, c "
                                        "are not a valid correlation matrix"):
        scenario(bad)
    sc = scenario(bad, repair=True)
    assert len(sc.repairs) == 3
    (group,) = sc.groups
    r = group.cholesky @ group.cholesky.T
    assert np.linalg.eigvalsh(r).min() > -1e-12 and np.allclose(np.diag(r), 1)
    df = sample(sc, 200_000, seed=7)
    for rep in sc.repairs:
        assert abs(stats.spearmanr(df[rep.a], df[rep.b])[0] - rep.repaired) < 0.01


@pytest.mark.parametrize("pairs, message", [
    ([(("a", "bb"), 0.5)], "unknown input 'bb' (did you mean 'b'?)"),
    ([(("a", "a"), 0.5)], "a pair must be two inputs"),
    ([(("a", "b"), 0.5), (("b", "a"), 0.2)], "a pair must be two inputs, given once"),
    ([(("a", "b"), 1.0)], "strictly between -1 and 1"),
    ([(("a", "k"), 0.5)], "is a constant"),
])
def test_bad_correlations(pairs, message):
    with pytest.raises(SpecError, match="correlations") as info:
        scenario(pairs, inputs={**INPUTS, "k": {"value": 3}})
    assert message in str(info.value)


def test_copula_conversions_and_nearest_matrix():
    rho = np.linspace(-0.99, 0.99, 41)
    np.testing.assert_allclose(spearman_of_pearson(pearson_of_spearman(rho)), rho, atol=1e-12)
    # the Gaussian copula's Spearman correlation: 6/pi asin(r/2) (Kruskal 1958)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200_000, 2))
    r = pearson_of_spearman(0.7)
    x = z[:, 0]
    y = r * z[:, 0] + np.sqrt(1 - r * r) * z[:, 1]
    assert abs(stats.spearmanr(x, y)[0] - 0.7) < 0.005
    m = np.array([[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1.0]])
    fixed = nearest_correlation(m)
    assert np.linalg.eigvalsh(fixed).min() > -1e-12 and np.allclose(np.diag(fixed), 1)


def test_cli_run_and_check_show_correlations(tmp_path, monkeypatch, capsys):
    path = tmp_path / "c.toml"
    path.write_text('schema = 1\n[inputs.a]\np5 = 1\np95 = 10\nunit = "u"\nsource = "s"\n'
                    '[inputs.b]\nmin = 0\nmode = 1\nmax = 3\nunit = "u"\nsource = "s"\n'
                    '[outputs.y]\nformula = "a * b"\n'
                    '[[correlations]]\ninputs = ["a", "b"]\nspearman = 0.5\nsource = "me"\n')
    code, out, _ = run_main(["run", str(path), "-n", "100k", "--seed", "1", "-q", "--out",
                             str(tmp_path / "r")], monkeypatch, capsys)
    assert code == 0 and "a ~ b" in out and "+0.500" in out
    code, out, _ = run_main(["check", str(path)], monkeypatch, capsys)
    assert code == 0 and "a ~ b: +0.500  (me)" in out


def test_sensitivity_ranks_correlated_inputs_by_their_own_values():
    """y depends on a only; b is correlated with a, so b's rank correlation with y is a~b's."""
    from mcsim.sensitivity import tornado

    sc = scenario_from_dict({
        "schema": 1,
        "inputs": {"a": {"p5": 1, "p95": 10, "unit": "u", "source": "t"},
                   "b": {"min": 0, "mode": 1, "max": 3, "unit": "u", "source": "t"},
                   "c": {"dist": "uniform", "min": 0, "max": 1, "unit": "u", "source": "t"}},
        "outputs": {"y": {"formula": "a * 2"}},
        "correlations": [{"inputs": ["a", "b"], "spearman": 0.8}]})
    table = tornado(sc, "y", 200_000, seed=2, methods=("spearman",)).to_frame()
    rho = table.set_index("input")["value"]
    assert abs(rho["a"] - 1.0) < 1e-3
    assert abs(rho["b"] - 0.8) < 0.01
    assert abs(rho["c"]) < 0.01


def _with_tables(tables):
    return scenario_from_dict({
        "schema": 1,
        "inputs": {k: {**v, "unit": "u", "source": "test"} for k, v in INPUTS.items()},
        "outputs": {"y": {"formula": " + ".join(INPUTS)}},
        "correlations": tables,
    })


def test_a_matrix_is_the_same_as_its_pairs():
    matrix = _with_tables([{"inputs": ["a", "b", "c"],
                            "matrix": [[1, 0.6, 0.1], [0.6, 1, -0.3], [0.1, -0.3, 1]]}])
    pairs = scenario()
    assert {(c.a, c.b): c.spearman for c in matrix.correlations} == {
        (c.a, c.b): c.spearman for c in pairs.correlations}
    pd.testing.assert_frame_equal(sample(matrix, 5000, seed=3), sample(pairs, 5000, seed=3))


@pytest.mark.parametrize("table, message", [
    ({"inputs": ["a", "b"], "matrix": [[1, 0.5], [0.4, 1]]},
     "correlations[0].matrix[1][0]: must equal [0][1] (0.4 != 0.5)"),
    ({"inputs": ["a", "b"], "matrix": [[1, 0.5], [0.5, 0.9]]},
     "correlations[0].matrix[1][1]: the diagonal must be 1"),
    ({"inputs": ["a", "b", "c"], "matrix": [[1, 0.5], [0.5, 1]]},
     "correlations[0].matrix: must be 3 rows of 3 numbers"),
    ({"inputs": ["a", "b"], "matrix": [[1, 1.5], [1.5, 1]]},
     "correlations[0].matrix[0][1]: must be a number strictly between -1 and 1"),
    ({"inputs": ["a", "b"], "matrix": [[1, 0.5], [0.5, 1]], "spearman": 0.5},
     "give spearman (a pair) or matrix, not both"),
    ({"inputs": ["a", "b", "a"], "matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
     "'a' is named twice"),
])
def test_bad_matrices(table, message):
    with pytest.raises(SpecError) as info:
        _with_tables([table])
    assert message in str(info.value)


def test_a_pair_given_in_a_matrix_and_again_is_an_error():
    with pytest.raises(SpecError, match="given once"):
        _with_tables([{"inputs": ["a", "b", "c"], "matrix": [[1, .2, 0], [.2, 1, 0], [0, 0, 1]]},
                      {"inputs": ["b", "a"], "spearman": 0.3}])


@pytest.mark.parametrize("cell, message", [
    (float("nan"), "correlations[0].matrix[0][1]: must be a number, got nan"),
    (True, "correlations[0].matrix[0][1]: must be a number, got True"),
])
def test_matrix_cells_must_be_numbers(cell, message):
    with pytest.raises(SpecError) as info:
        _with_tables([{"inputs": ["a", "b"], "matrix": [[1, cell], [cell, 1]]}])
    assert message in str(info.value)


def test_explicit_zeros_of_a_matrix_are_requested_and_repaired_like_any_pair():
    tables = [{"inputs": ["a", "b", "c"],
               "matrix": [[1, 0.9, 0.0], [0.9, 1, 0.9], [0.0, 0.9, 1]]}]
    sc = scenario_from_dict({
        "schema": 1,
        "inputs": {k: {**v, "unit": "u", "source": "test"} for k, v in INPUTS.items()},
        "outputs": {"y": {"formula": " + ".join(INPUTS)}},
        "correlations": tables}, repair=True)
    assert {(c.a, c.b) for c in sc.correlations} == {("a", "b"), ("a", "c"), ("b", "c")}
    assert ("a", "c") in {(r.a, r.b) for r in sc.repairs}
