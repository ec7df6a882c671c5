"""Tornado sensitivity (issue 4): analytic answers, a published benchmark, SALib, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import integrate

from builders import make_scenario, run_main
from mcsim.cli import cli
from mcsim.engine import sample
from mcsim.render import tornado_text
from mcsim.scenario import load_scenario
from mcsim.sensitivity import FINE_PER_BIN, NEGLIGIBLE_SE, tornado

STATISTICAL = ("spearman", "ctv", "s1", "tail")

# ---------------------------------------------------------------- a linear model

# Y = 3 x1 - 2 x2 + 0.5 x3 + 7 with independent inputs of three families, and one input that
# the formula does not use. Everything about its tornado is known in closed form.
LINEAR_INPUTS = {
    "x1": {"dist": "normal", "loc": 10, "scale": 2},
    "x2": {"dist": "uniform", "min": 0, "max": 6},
    "x3": {"dist": "lognormal", "mu": 1.0, "sigma": 0.5},
    "ignored": {"dist": "pert", "min": 0, "mode": 3, "max": 10},
}
COEF = {"x1": 3.0, "x2": -2.0, "x3": 0.5}
VAR = {"x1": 2.0**2, "x2": 6.0**2 / 12,
       "x3": math.expm1(0.5**2) * math.exp(2 * 1.0 + 0.5**2)}  # closed-form variances
LINEAR_DRAWS, LINEAR_SEED, BINS = 1_000_000, 3, 10


def linear_y(values: dict) -> float:
    return 3 * values["x1"] - 2 * values["x2"] + 0.5 * values["x3"] + 7


@pytest.fixture(scope="module")
def linear():
    sc = make_scenario(LINEAR_INPUTS, {"y": "3*x1 - 2*x2 + 0.5*x3 + 7"})
    tor = tornado(sc, "y", LINEAR_DRAWS, seed=LINEAR_SEED)
    return sc, tor, tor.table.set_index(["method", "input"])


def _bin_means(prior, n_bins: int) -> np.ndarray:
    """E[X | X in equal-probability bin k] = n_bins * integral of ppf over the bin."""
    ref = prior.reference()
    return np.array([n_bins * integrate.quad(lambda u: float(ref.ppf(u)), k / n_bins,
                                             (k + 1) / n_bins)[0] for k in range(n_bins)])


@pytest.fixture(scope="module")
def bin_targets(linear):
    """Per input: the spread of its coarse bin means and the variance of its fine bin means.

    In a linear model with independent inputs the mean of Y in a bin of x_i is
    E[Y] + b_i (E[x_i | bin] - E[x_i]), so both binned estimands follow from the prior alone.
    """
    sc = linear[0]
    out = {}
    for name in COEF:
        prior = sc.input(name).prior
        coarse = _bin_means(prior, BINS)
        fine = _bin_means(prior, BINS * FINE_PER_BIN)
        out[name] = {"spread": coarse[-1] - coarse[0],
                     "fine_var": float(np.mean((fine - fine.mean()) ** 2))}
    return out


def test_swing_is_exact_and_monotonic(linear):
    sc, tor, t = linear
    med = {n: float(sc.input(n).prior.ppf(0.5)) for n in LINEAR_INPUTS}
    assert tor.baseline == pytest.approx(linear_y(med), rel=1e-12)
    for name, b in COEF.items():
        p10, p90 = (float(v) for v in sc.input(name).prior.ppf([0.1, 0.9]))
        row = t.loc[("swing", name)]
        assert row["value"] == pytest.approx(b * (p90 - p10), rel=1e-9)
        assert row["low"] == pytest.approx(linear_y({**med, name: p10}), rel=1e-9)
        assert row["high"] == pytest.approx(linear_y({**med, name: p90}), rel=1e-9)
        assert row["monotonic"] is True and not row["negligible"]
    ignored = t.loc[("swing", "ignored")]
    assert ignored["value"] == 0 and ignored["monotonic"] is True


def test_an_unused_input_is_negligible_by_every_method(linear):
    _, tor, t = linear
    rows = tor.table[tor.table["input"] == "ignored"]
    assert sorted(rows["method"]) == sorted(tor.methods)
    assert rows["negligible"].all()
    assert not tor.table.loc[tor.table["input"] != "ignored", "negligible"].any()
    for method in STATISTICAL:
        row = t.loc[(method, "ignored")]
        assert row["se"] > 0
        assert abs(row["value"]) <= 3 * row["se"], method


def test_first_order_shares_equal_the_analytic_ones(linear, bin_targets):
    """S1_i = b_i^2 Var(x_i) / Var(Y). The estimator bins x_i into 100 equal-probability bins,
    which loses the within-bin variance of x_i: its target is b_i^2 Var(E[x_i|bin]) / Var(Y).
    That loss (computed from the prior: 0.0017 for the normal x1, whose outer bins are wide,
    0.0007 for the lognormal x3, 2e-5 for the uniform x2) is the only slack beyond 4 se."""
    _, _, t = linear
    var_y = sum(COEF[n] ** 2 * VAR[n] for n in COEF)
    for name, b in COEF.items():
        row = t.loc[("s1", name)]
        analytic = b**2 * VAR[name] / var_y
        binned = b**2 * bin_targets[name]["fine_var"] / var_y
        assert 0 <= analytic - binned < 0.002
        assert abs(row["value"] - binned) <= 4 * row["se"], name
        assert abs(row["value"] - analytic) <= 4 * row["se"] + (analytic - binned), name


def test_rank_correlation_signs_and_contribution_to_variance(linear):
    _, _, t = linear
    rho = t.xs("spearman")["value"]
    ctv = t.xs("ctv")["value"]
    for name, b in COEF.items():
        assert np.sign(rho[name]) == np.sign(b)
    assert ctv.abs().sum() == pytest.approx(1.0, abs=1e-9)
    influential = list(COEF)
    assert (np.sign(ctv[influential]) == np.sign(rho[influential])).all()


def test_binned_bars_match_the_conditional_means(linear, bin_targets):
    sc, tor, t = linear
    assert tor.methods[0] == "binned"
    for name, b in COEF.items():
        row = t.loc[("binned", name)]
        assert row["low"] < row["high"]
        assert np.sign(row["value"]) == np.sign(b)
        assert abs(row["value"] - b * bin_targets[name]["spread"]) <= 4 * row["se"], name
    assert abs(t.loc[("binned", "x1"), "value"]) > abs(t.loc[("binned", "x3"), "value"])
    expected = sorted(COEF, key=lambda n: -abs(COEF[n]) * math.sqrt(VAR[n])) + ["ignored"]
    assert expected == ["x1", "x2", "x3", "ignored"]
    assert tor.ranking() == expected


# ---------------------------------------------------------------- Sobol's G-function

# Y = prod_i (|4 x_i - 2| + a_i) / (1 + a_i), x_i ~ U(0, 1): S1_i = V_i / V with
# V_i = 1 / (3 (1 + a_i)^2) and V = prod(1 + V_i) - 1 (Saltelli et al. 2010).
G_A = (0, 1, 4.5, 9, 99)
G_NAMES = [f"x{i + 1}" for i in range(len(G_A))]


def g_function():
    formula = " * ".join(f"((abs(4 * {n} - 2) + {a}) / {1 + a})" for n, a in zip(G_NAMES, G_A,
                                                                                  strict=True))
    return make_scenario({n: {"dist": "uniform", "min": 0, "max": 1} for n in G_NAMES},
                         {"g": formula})


def g_analytic_s1() -> np.ndarray:
    v = np.array([1 / (3 * (1 + a) ** 2) for a in G_A])
    return v / (np.prod(1 + v) - 1)


def test_g_function_first_order_shares():
    """Slack beyond 4 se: 0.002. Binning x_i into 100 bins loses 4e-4 of S1 at most here (g_i
    is linear within each bin: a loss of 16 * 0.01^2 / 12 of Var g_1 = 1/3), and the batch-means
    se has only 15 degrees of freedom, so 4 se alone is not a 1-in-10,000 bound."""
    tor = tornado(g_function(), "g", 2_000_000, seed=11)
    s1 = tor.table[tor.table["method"] == "s1"].set_index("input").loc[G_NAMES]
    analytic = g_analytic_s1()
    for name, est, se, want in zip(G_NAMES, s1["value"], s1["se"], analytic, strict=True):
        assert abs(est - want) <= 4 * se + 0.002, (name, est, se, want)
    assert list(s1["rank"]) == [1, 2, 3, 4, 5]  # x5 (S1 = 7e-5) is last, tied or not
    assert s1["negligible"].tolist()[:4] == [False] * 4


def test_g_function_agrees_with_salib_on_the_same_draws():
    rbd_fast = pytest.importorskip("SALib.analyze.rbd_fast")
    sc, n, seed = g_function(), 100_000, 12
    draws = sample(sc, n, seed)
    tor = tornado(sc, "g", n, seed=seed)
    t = tor.table.set_index(["method", "input"])
    # the same draws: tornado's binned bars are bin means of exactly these outputs
    # (x_i = u_i for U(0, 1), and tornado bins by floor(100 u) then in groups of 10)
    for name in G_NAMES:
        fine = np.minimum((draws[name].to_numpy() * 100).astype(int), 99)
        means = draws["g"].groupby(fine // 10).mean()
        assert t.loc[("binned", name), "low"] == pytest.approx(means.min(), rel=1e-9)
        assert t.loc[("binned", name), "high"] == pytest.approx(means.max(), rel=1e-9)
    problem = {"num_vars": len(G_NAMES), "names": G_NAMES, "bounds": [[0, 1]] * len(G_NAMES)}
    si = rbd_fast.analyze(problem, draws[G_NAMES].to_numpy(), draws["g"].to_numpy(), seed=seed)
    for i, name in enumerate(G_NAMES):
        ours = t.loc[("s1", name)]
        # S1_conf is SALib's 95% bootstrap half-width (on half-samples, so generous); 3 se is
        # ours; 0.001 covers RBD-FAST's truncation at M = 10 harmonics (the zig-zag ordering
        # makes E[Y | x_i] a triangle wave: the harmonics it drops hold 7e-4 of its power).
        tol = si["S1_conf"][i] + 3 * ours["se"] + 0.001
        assert abs(ours["value"] - si["S1"][i]) <= tol, (name, ours["value"], si["S1"][i], tol)


# ---------------------------------------------------------------- total effects (st)

# Ishigami (a = 7, b = 0.1), x_i ~ U(-pi, pi): S1 = 0.3139, 0.4424, 0 and
# S_T = 0.5576, 0.4424, 0.2437 (Saltelli et al. 2008, sec. 4.4; closed forms below).
ISHIGAMI = "sin(x1) + 7 * sin(x2) ** 2 + 0.1 * x3 ** 4 * sin(x1)"
ISHIGAMI_NAMES = ["x1", "x2", "x3"]


def ishigami_exact() -> tuple[np.ndarray, np.ndarray]:
    a, b = 7.0, 0.1
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0]) / v, np.array([v1 + v13, v2, v13]) / v


def ishigami():
    return make_scenario({n: {"dist": "uniform", "min": -math.pi, "max": math.pi}
                          for n in ISHIGAMI_NAMES}, {"y": ISHIGAMI})


def by_method(tor, method: str, names) -> pd.DataFrame:
    return tor.table[tor.table["method"] == method].set_index("input").loc[names]


def assert_near(rows: pd.DataFrame, exact, slack: float = 0.002):
    """Each estimate within 4 of its standard errors of the exact value; ``slack`` allows for
    the batch-means se's own error (15 degrees of freedom)."""
    for name, est, se, want in zip(rows.index, rows["value"], rows["se"], exact, strict=True):
        assert abs(est - want) <= 4 * se + slack, (name, est, se, want)


def test_total_effects_of_ishigami_match_exact_values_and_salib():
    salib_sample = pytest.importorskip("SALib.sample.sobol")
    salib_analyze = pytest.importorskip("SALib.analyze.sobol")
    from SALib.test_functions import Ishigami

    s1_exact, st_exact = ishigami_exact()
    assert np.round(st_exact, 4).tolist() == [0.5576, 0.4424, 0.2437]
    tor = tornado(ishigami(), "y", 400_000, seed=5, methods=("st", "s1"))
    st_rows = by_method(tor, "st", ISHIGAMI_NAMES)
    assert_near(st_rows, st_exact)
    assert_near(by_method(tor, "s1", ISHIGAMI_NAMES), s1_exact)
    assert tor.ranking() == ["x1", "x2", "x3"]
    assert (st_rows["se"] > 0).all() and (st_rows["se"] < 0.005).all()
    problem = {"num_vars": 3, "names": ISHIGAMI_NAMES, "bounds": [[-math.pi, math.pi]] * 3}
    x = salib_sample.sample(problem, 2**14, calc_second_order=False, seed=5)
    si = salib_analyze.analyze(problem, Ishigami.evaluate(x), calc_second_order=False, seed=5)
    for i, name in enumerate(ISHIGAMI_NAMES):  # ST_conf: SALib's 95% bootstrap half-width
        tol = si["ST_conf"][i] + 4 * st_rows.at[name, "se"]
        assert abs(st_rows.at[name, "value"] - si["ST"][i]) <= tol, (name, si["ST"][i])


def test_total_effects_of_a_pure_interaction():
    """Y = x1 + x2 x3 with standard normals: Var Y = 2, S1 = (1/2, 0, 0), S_T = (1/2, 1/2, 1/2):
    x2 and x3 act only together, which first-order shares cannot see."""
    names = ["x1", "x2", "x3"]
    sc = make_scenario({n: {"dist": "normal", "loc": 0, "scale": 1} for n in names},
                       {"y": "x1 + x2 * x3"})
    tor = tornado(sc, "y", 400_000, seed=8, methods=("st", "s1"))
    assert_near(by_method(tor, "st", names), [0.5, 0.5, 0.5])
    assert_near(by_method(tor, "s1", names), [0.5, 0, 0])
    assert by_method(tor, "s1", names)["negligible"].tolist() == [False, True, True]
    assert "st" not in tornado(sc, "y", 2000, seed=1).methods  # (d + 2) passes: asked for only


def g_analytic_st(a=G_A) -> np.ndarray:
    v = np.array([1 / (3 * (1 + ai) ** 2) for ai in a])
    total = np.prod(1 + v)
    return v * (total / (1 + v)) / (total - 1)


def test_total_effects_of_the_g_function():
    salib_g = pytest.importorskip("SALib.test_functions.Sobol_G")
    st_exact = g_analytic_st()
    np.testing.assert_allclose(st_exact, salib_g.total_sensitivity_index(np.array(G_A)),
                               rtol=1e-12)
    tor = tornado(g_function(), "g", 300_000, seed=13, methods=("st",))
    rows = by_method(tor, "st", G_NAMES)
    assert_near(rows, st_exact)
    assert list(rows["rank"]) == [1, 2, 3, 4, 5]  # x5's S_T is 1e-4: small but measured


def test_total_effects_equal_a_numpy_pick_freeze_on_the_same_draws():
    """The kernel's sums against the obvious computation: A is the run's draws, B the inputs
    of the re-keyed streams, A_B^i each input of B in turn (evaluated by ``evaluate_at``);
    ``--inputs`` picks rows of the same estimate, bit for bit, on any number of threads."""
    from scipy import stats

    from mcsim import _kernels as K
    from mcsim.engine import evaluate_at
    from mcsim.sensitivity import resampled_key

    names = ["x1", "x2", "x3"]
    sc = make_scenario({"x1": {"dist": "normal", "loc": 1, "scale": 2},
                        "x2": {"dist": "uniform", "min": 0, "max": 3},
                        "x3": {"dist": "normal", "loc": 0, "scale": 1}},
                       {"y": "x1 + x2 * x3 + sin(x1 * x3)"})
    n, seed = 3 * 256 * 16, 4  # 16 batches of three blocks
    a = sample(sc, n, seed)
    u = np.empty(n)
    b = {}
    for name, dist in (("x1", stats.norm(1, 2)), ("x2", stats.uniform(0, 3)),
                       ("x3", stats.norm(0, 1))):
        K.fill_uniforms(u, resampled_key(seed, name), 0, n)
        b[name] = dist.ppf(u)
    y_a = a["y"].to_numpy()
    y_b = evaluate_at(sc, pd.DataFrame(b))["y"].to_numpy()
    y_all = np.concatenate([y_a, y_b])
    var = y_all.var(ddof=1)
    tor = tornado(sc, "y", n, seed=seed, methods=("st",), threads=2)
    rows = by_method(tor, "st", names)
    for name in names:
        y_i = evaluate_at(sc, a[names].assign(**{name: b[name]}))["y"].to_numpy()
        jansen = np.mean((y_a - y_i) ** 2) / 2 / var
        assert rows.at[name, "value"] == pytest.approx(jansen, rel=1e-9), name
    one = tornado(sc, "y", n, seed=seed, methods=("st",), threads=1, inputs=("x3",))
    assert one.table["input"].tolist() == ["x3"]
    assert one.table["value"].iloc[0] == rows.at["x3", "value"]
    assert one.table["se"].iloc[0] == pytest.approx(rows.at["x3", "se"], rel=1e-12)


# ---------------------------------------------------------------- the command line

SCENARIO = """
schema = 1
title = "Sensitivity test"
[inputs.x]
p5 = 1
p95 = 10
unit = "USD"
source = "test"
[inputs.y]
dist = "uniform"
min = 0
max = 2
unit = "x"
source = "test"
[inputs.z]
dist = "normal"
loc = 0
scale = 1
unit = "x"
source = "test"
[outputs.cost]
formula = "x * 1e6 + 2e5 * y + 1e4 * z"
unit = "USD"
label = "Cost"
[outputs.ratio]
formula = "x / (1 + y)"
unit = "x"
label = "Ratio"
"""


@pytest.fixture()
def scenario_file(tmp_path):
    path = tmp_path / "sens.toml"
    path.write_text(SCENARIO)
    return path


def test_csv_and_chart_are_what_the_library_returns(scenario_file, tmp_path):
    mpl_image = pytest.importorskip("matplotlib.image")
    csv, png = tmp_path / "out" / "tornado.csv", tmp_path / "out" / "tornado.png"
    methods = "swing,binned,spearman,ctv,s1,tail"
    result = CliRunner().invoke(cli, [
        "sensitivity", str(scenario_file), "-o", "cost", "-n", "100k", "--seed", "5",
        "--methods", methods, "--percentiles", "5,95", "--bins", "5", "--csv", str(csv),
        "--plot", str(png), "-q"])
    assert result.exit_code == 0, result.output
    tor = tornado(load_scenario(scenario_file), "cost", 100_000, 5, tuple(methods.split(",")),
                  (5.0, 95.0), 5)
    written = pd.read_csv(csv)
    expected = tor.to_frame()
    assert list(written.columns) == list(expected.columns)
    assert len(written) == 3 * 6
    assert sorted(zip(written["input"], written["method"], strict=True)) == sorted(
        (i, m) for i in "xyz" for m in methods.split(","))
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    settings = written[["output", "method", "p_low", "p_high", "bins", "draws", "seed"]]
    assert settings.notna().all().all()
    assert (written["output"] == "cost").all()
    assert (written["p_low"] == 5).all() and (written["p_high"] == 95).all()
    assert (written["draws"] == 100_000).all() and (written["seed"] == 5).all()
    assert png.read_bytes()[:4] == b"\x89PNG"
    image = mpl_image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0
    assert not list((tmp_path / "out").glob(".*"))  # no temporary leftovers

    svg = tmp_path / "tornado.svg"
    result = CliRunner().invoke(cli, [
        "sensitivity", str(scenario_file), "-o", "ratio", "-n", "20k", "--seed", "1",
        "--methods", "spearman,binned", "--plot", str(svg), "-q"])
    assert result.exit_code == 0, result.output
    head = svg.read_text()[:200].lstrip()
    assert head.startswith("<?xml") or head.startswith("<svg")


@pytest.mark.parametrize("args, messages", [
    (["-o", "cots"], ["unknown output 'cots'", "did you mean 'cost'?"]),
    (["-o", "cost", "--percentiles", "90,10"], ["--percentiles", "0 < low < 50 < high < 100"]),
    (["-o", "cost", "--percentiles", "abc"], ["--percentiles", "two numbers"]),
    (["-o", "cost", "--percentiles", "0,100"], ["--percentiles"]),
    (["-o", "cost", "--methods", "binned,tornadic"], ["--methods", "tornadic", "spearman"]),
    (["-o", "cost", "--bins", "1"], ["--bins"]),
    (["-o", "cost", "--plot", "chart.jpg"], ["--plot", "chart.jpg", ".png, .svg or .pdf"]),
    (["-o", "cost", "--inputs", "x,w"], ["--inputs", "'w' is not an input", "x, y, z"]),
    (["-o", "cost", "--inputs", ","], ["--inputs", "name at least one input"]),
])
def test_bad_input_is_one_line_and_exit_2(args, messages, scenario_file, tmp_path, monkeypatch,
                                          capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["sensitivity", str(scenario_file), "-n", "5k", "--seed", "1", "-q",
                             *args], monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("mcsim: error: "), err
    assert "Traceback" not in err
    for message in messages:
        assert message in err


ISHIGAMI_FILE = """
schema = 1
title = "Ishigami"
[inputs.x1]
dist = "uniform"
min = -3.141592653589793
max = 3.141592653589793
unit = "-"
source = "Ishigami and Homma (1990)"
[inputs.x2]
dist = "uniform"
loc = -3.141592653589793
scale = 6.283185307179586
unit = "-"
source = "Ishigami and Homma (1990)"
[inputs.x3]
dist = "uniform"
min = -3.141592653589793
max = 3.141592653589793
unit = "-"
source = "Ishigami and Homma (1990)"
[outputs.y]
formula = "sin(x1) + 7 * sin(x2) ** 2 + 0.1 * x3 ** 4 * sin(x1)"
"""


def test_st_and_s1_of_ishigami_from_the_command_line(tmp_path):
    """``mcsim sensitivity --methods st,s1`` on Ishigami written as a scenario file: the table
    prints both indices with their errors, and the CSV agrees with the exact values."""
    path = tmp_path / "ishigami.toml"
    path.write_text(ISHIGAMI_FILE)
    csv = tmp_path / "t.csv"
    result = CliRunner().invoke(cli, ["sensitivity", str(path), "-o", "y", "-n", "300k",
                                      "--seed", "2", "--methods", "st,s1", "--csv", str(csv),
                                      "-q"])
    assert result.exit_code == 0, result.output
    assert "S_T (total effect)" in result.output and "S1 (var. share)" in result.output
    table = pd.read_csv(csv)
    s1_exact, st_exact = ishigami_exact()
    assert_near(table[table["method"] == "st"].set_index("input").loc[ISHIGAMI_NAMES], st_exact)
    assert_near(table[table["method"] == "s1"].set_index("input").loc[ISHIGAMI_NAMES], s1_exact)


def test_missing_matplotlib_fails_before_the_run(scenario_file, tmp_path, without_matplotlib):
    csv = tmp_path / "t.csv"
    without_matplotlib(["sensitivity", str(scenario_file), "-o", "cost", "-n", "1k", "--seed",
                        "1", "-q", "--csv", str(csv), "--plot", str(tmp_path / "x.png")])
    assert not csv.exists() and not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------- display: flags, stars, notes

UNIFORM = {"dist": "uniform", "min": -1, "max": 1}


@pytest.mark.parametrize("methods", [("spearman", "ctv"), ("ctv",)])
def test_ctv_is_negligible_where_the_rank_correlation_is(methods):
    """y = a b c d + ...: no input's rank correlation with y differs from 0 (Y is odd in
    each of them). ctv, their normalised squares, showed a +56% and a +29% as significant:
    the batches' squares sit near 0 and their spread hid the error of rho."""
    sc = make_scenario({**{n: UNIFORM for n in "abcd"}, "f": {"dist": "uniform", "min": 0,
                                                              "max": 1}},
                       {"y": "a*b*c*d + 0.1*a*b*c + 0.01*f*a*b"})
    for seed in (1, 2):
        t = tornado(sc, "y", 200_000, seed=seed, methods=methods).table
        ctv = t[t["method"] == "ctv"]
        assert ctv["negligible"].all(), ctv
        rho = t[t["method"] == "spearman"]
        assert rho["negligible"].all()
        assert (ctv["value"].abs() <= NEGLIGIBLE_SE * ctv["se"]).all(), ctv


def test_ctv_error_is_at_least_that_of_rho_squared():
    sc = make_scenario(LINEAR_INPUTS, {"y": "3*x1 - 2*x2 + 0.5*x3 + 7"})
    t = tornado(sc, "y", 20_000, seed=4, methods=("spearman", "ctv")).table
    rho = t[t["method"] == "spearman"].set_index("input")
    ctv = t[t["method"] == "ctv"].set_index("input")
    norm = float((rho["value"] ** 2).sum())
    floor = np.sqrt(4 * rho["value"] ** 2 * rho["se"] ** 2 + 2 * rho["se"] ** 4) / norm
    assert (ctv["se"] >= floor * (1 - 1e-12)).all()
    assert ctv.loc["ignored", "negligible"] and not ctv.loc["x1", "negligible"]


def test_when_every_swing_is_zero_no_input_is_starred_for_it():
    """Every input's median sits where y is flat in the others, so every swing is 0. Their tie
    ranked every input first by swing, starred four and said 'its swing around the base case
    is large' of inputs whose swing is 0."""
    sc = make_scenario({**{n: UNIFORM for n in "acdf"},
                        "g": {"dist": "uniform", "min": -0.5, "max": 0.5},
                        "h": {"dist": "uniform", "min": 0, "max": 2}},
                       {"y": "(a + 0.5*c + 0.25*d + 0.1*f) * (g * (h - 1) + (h - 1)**2)"})
    tor = tornado(sc, "y", 100_000, seed=1)
    swing = tor.table[tor.table["method"] == "swing"]
    assert (swing["value"] == 0).all() and swing["negligible"].all()
    assert not tor.table["disagrees"].any(), tor.table
    assert not any("swing around the base case is large" in n for n in tor.notes), tor.notes
    assert any(n.startswith("swing: no input's value is distinguishable from zero")
               for n in tor.notes), tor.notes
    rows = [line.split() for line in tornado_text(tor).splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 6 and not any(row[2] == "*" for row in rows), rows


# ---------------------------------------------------------------- reproducibility


def test_same_seed_same_table_on_any_number_of_threads():
    sc = make_scenario(LINEAR_INPUTS, {"y": "3*x1 - 2*x2 + 0.5*x3 + 7"})
    n = 5 * 65536 + 123  # several tiles and a partial last one
    one = tornado(sc, "y", n, seed=21, threads=1)
    two = tornado(sc, "y", n, seed=21, threads=2)
    pd.testing.assert_frame_equal(one.to_frame(), two.to_frame(), check_exact=True)
    assert (one.baseline, one.median, one.mean, one.notes) == \
        (two.baseline, two.median, two.mean, two.notes)


@pytest.mark.parametrize("methods", [("s1",), ("spearman", "ctv", "s1", "tail")])
def test_statistical_methods_alone(methods):
    sc = make_scenario(LINEAR_INPUTS, {"y": "3*x1 - 2*x2 + 0.5*x3 + 7"})
    tor = tornado(sc, "y", 20_000, seed=1, methods=methods)
    assert set(tor.table["method"]) == set(methods)
    assert tor.ranking()[0] == "x1"


def test_small_runs_still_have_finite_errors():
    sc = make_scenario(LINEAR_INPUTS, {"y": "3*x1 - 2*x2 + 0.5*x3 + 7"})
    with np.errstate(all="ignore"):
        tor = tornado(sc, "y", 2_000, seed=1)
    statistical = tor.table[tor.table["method"].isin(STATISTICAL)]
    assert np.isfinite(statistical["se"]).all()
