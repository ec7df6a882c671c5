"""Sweeps and break-even solving: common random numbers, exact agreement with constant
inputs, known break-evens, and the CLI's one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import make_scenario, run_main, write_scenario
from mcsim import sweep as S
from mcsim.engine import simulate
from mcsim.errors import McsimError
from mcsim.reduce import audit_claims, summarize
from mcsim.scenario import load_scenario

# A fleet: a count (ungrouped PERT) times a correlated price, plus a correlated cost.
FLEET = """
schema = 1
title = "Fleet"
[inputs.count]
{count}
unit = "GPU"
source = "test"
[inputs.price]
p5 = 20000
p95 = 40000
unit = "USD"
source = "test"
[inputs.power]
dist = "pert"
min = 1
mode = 2
max = 4
unit = "kW"
source = "test"
[[correlations]]
inputs = ["price", "power"]
spearman = 0.5
[derived]
capex = "count * price"
[outputs.capex]
formula = "capex"
unit = "USD"
label = "Capex"
[outputs.power_only]
formula = "power * 2"
unit = "kW"
label = "Power"
[outputs.total]
formula = "capex + count * power * 1000"
unit = "USD"
label = "Total"
[claims.big]
output = "total"
value = 3e8
source = "someone"
[claims.capex_1b]
output = "capex"
value = 1e9
source = "someone"
"""
PERT_COUNT = 'dist = "pert"\nmin = 1000\nmode = 10000\nmax = 40000'


def fleet(tmp_path, count: str = PERT_COUNT, name: str = "fleet.toml"):
    return load_scenario(write_scenario(tmp_path, FLEET.format(count=count), name))


def test_a_held_input_equals_that_input_as_a_constant_bit_for_bit(tmp_path):
    sc = fleet(tmp_path)
    sw = S.sweep(sc, set=["count=5000,25000"], draws=70_000, seed=11)
    assert sw.outputs == ("capex", "total")  # power_only does not move with count
    for (pt, value) in zip(sw.points, (5000, 25000), strict=True):
        held = fleet(tmp_path, f'dist = "constant"\nvalue = {value}', f"c{value}.toml")
        sim = simulate(held, 70_000, seed=11)
        want = summarize(sim, 0.9).set_index("output").loc[list(sw.outputs)].reset_index()
        pd.testing.assert_frame_equal(pt.summary, want, check_exact=True)
        pd.testing.assert_frame_equal(pt.claims, audit_claims(sim), check_exact=True)


@pytest.mark.parametrize("axis", ["price=25000,30000", "power=1.5,3", "price.scale"])
def test_a_point_lowered_once_equals_the_scenario_compiled_there(tmp_path, axis):
    """The sweep writes each point's value into one program (a constant register, or the
    sampler of a correlated input): the same as compiling the scenario at that point."""
    sc = fleet(tmp_path)
    how, text = ("scale", "price=0.5,2") if axis == "price.scale" else ("set", axis)
    sw = S.sweep(sc, **{how: [text]}, output="total", draws=70_000, seed=2)
    for pt in sw.points:
        (name, _, value), = pt.moves
        sim = simulate(S.at(sc.only("total"), {name: (how, value)}), 70_000, seed=2)
        pd.testing.assert_frame_equal(pt.summary, summarize(sim, 0.9), check_exact=True)


@settings(max_examples=8, deadline=None)
@given(start=st.floats(1000, 30000), steps=st.lists(st.floats(0.001, 0.2), min_size=2,
                                                     max_size=4))
def test_common_random_numbers_make_a_monotone_model_sweep_monotone(tmp_path_factory, start,
                                                                    steps):
    sc = fleet(tmp_path_factory.mktemp("crn"))
    values = list(start * np.cumprod([1.0, *(1 + s for s in steps)]))
    frame = S.sweep(sc, set=[S.Axis("count", "set", tuple(values))], output="total",
                    draws=20_000, seed=3).to_frame()
    for stat in ("median", "ci_low", "ci_high", "mean", "p_exceed"):
        series = frame[frame["statistic"] == stat].sort_values("count")["value"].to_numpy()
        assert np.all(np.diff(series) >= 0), (stat, series)


def test_without_common_random_numbers_the_same_sweep_is_not_monotone(tmp_path):
    """The property above is not vacuous: a seed per point breaks it at small steps."""
    sc = fleet(tmp_path)
    medians = [simulate(S.at(sc, {"count": ("set", v)}), 20_000, seed=k)
               .quantile("total", 0.5)[0] for k, v in enumerate(np.linspace(10000, 10100, 6))]
    assert np.any(np.diff(medians) < 0)


def test_scale_moves_the_centre_and_keeps_the_uncertainty(tmp_path):
    sc = fleet(tmp_path)
    frame = S.sweep(sc, scale=["price=1,2"], output="capex", draws=50_000, seed=5).to_frame()
    stats = frame.pivot_table(index="statistic", columns="price.scale", values="value")
    for stat in ("median", "ci_low", "ci_high", "mean"):
        assert stats.loc[stat, 2.0] == pytest.approx(2 * stats.loc[stat, 1.0], rel=1e-9)
    assert stats.loc["ci_high", 2.0] - stats.loc["ci_low", 2.0] > 0


def test_a_solution_is_printed_to_the_precision_of_its_error():
    assert S.with_error(30916.3, 10.2) == "30,916 +- 10"
    assert S.with_error(2954363.0, 2823.0) == "2,954,400 +- 2,800"
    assert S.with_error(2.00031, 0.0114) == "2.000 +- 0.011"
    assert S.with_error(5.0, math.inf) == "5 +- inf"


def test_values_ranges_and_log_ranges():
    assert S.parse_values("0,10_000,3e4", "k") == ((0.0, 10000.0, 30000.0), False)
    assert S.parse_values("0:50000:11", "k")[0][1] == 5000.0
    values, log = S.parse_values("log:1000:64000:7", "k")
    assert log and values[0] == pytest.approx(1000) and values[1] == pytest.approx(2000)


LOGNORMAL_COUNT = make_scenario(
    {"cost": {"p5": 1.0, "p95": 9.0}, "count": {"dist": "uniform", "min": 1, "max": 100}},
    {"total": "cost * count"}, claims={"c": {"output": "total", "value": 120.0,
                                             "source": "t"}})


@pytest.mark.parametrize("percentile", [50, 90])
def test_solve_recovers_an_exact_break_even_within_its_error(percentile):
    # total = count * lognormal with median 3 and sigma ln(3)/z95; its p-quantile is
    # count * 3 * exp(sigma z_p), so the claim sits at percentile p where count = 120 / that.
    sigma = math.log(3.0) / 1.6448536269514722
    z = {50: 0.0, 90: 1.2815515655446004}[percentile]
    exact = 120.0 / (3.0 * math.exp(sigma * z))
    result = S.solve(LOGNORMAL_COUNT, "c", "count", percentile=percentile, draws=400_000,
                     seed=8)
    root = result.roots[0]
    assert root.found and 0 < root.se < 0.01 * exact
    assert abs(root.value - exact) < 3 * root.se
    assert root.simulations == result.simulations > 3


def test_solve_by_probability_of_exceeding_is_the_same_root():
    by_median = S.solve(LOGNORMAL_COUNT, "c", "count", draws=100_000, seed=2).roots[0]
    by_exceed = S.solve(LOGNORMAL_COUNT, "c", "count", exceed=0.5, draws=100_000,
                        seed=2).roots[0]
    assert by_exceed.value == pytest.approx(by_median.value, rel=1e-4)


def test_no_solution_in_the_bracket_is_a_result_with_both_ends(scenario_file, monkeypatch,
                                                              capsys):
    result = S.solve(LOGNORMAL_COUNT, "c", "count", bracket=(1, 10), draws=20_000, seed=1)
    root = result.roots[0]
    assert not root.found and root.at_lo == 100 and root.at_hi > 90
    code, out, err = run_main(["solve", str(scenario_file), "--claim", "big", "--vary", "x",
                               "--range", "1:2", "-n", "10k", "--seed", "1"],
                              monkeypatch, capsys)
    assert code == 0 and "x: no solution in [1, 2]: the claim sits at p100 at 1" in out


def test_cli_prints_what_the_library_returns(scenario_file, tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "sw"
    code, out, _ = run_main(["sweep", str(scenario_file), "--set", "y=0.5,1,2", "-n", "20k",
                             "--seed", "4", "--out", str(out_dir), "-q"], monkeypatch, capsys)
    assert code == 0
    sw = S.sweep(load_scenario(scenario_file), set=["y=0.5,1,2"], draws=20_000, seed=4)
    pd.testing.assert_frame_equal(pd.read_csv(out_dir / "sweep.csv", keep_default_na=False),
                                  pd.read_csv(pd.io.common.StringIO(
                                      sw.to_frame().to_csv(index=False)),
                                      keep_default_na=False))
    assert (out_dir / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = run_main(["solve", str(scenario_file), "--claim", "big", "--vary", "x",
                             "-n", "20k", "--seed", "4"], monkeypatch, capsys)
    result = S.solve(load_scenario(scenario_file), "big", "x", draws=20_000, seed=4)
    assert code == 0 and all(f"  {line}" in out.splitlines() for line in result.lines())


def test_a_two_input_sweep_draws_a_heatmap(tmp_path):
    from mcsim.plot import figure_bytes, sweep_figure

    sw = S.sweep(fleet(tmp_path), set=["count=5000,20000,40000"], scale=["price=0.5,1"],
                 output="total", draws=10_000, seed=1)
    assert len(sw.points) == 6
    assert figure_bytes(sweep_figure(sw), "png")[:4] == b"\x89PNG"
    unclaimed = S.sweep(fleet(tmp_path), set=["count=5000,20000"], scale=["power=0.5,1"],
                        output="power_only", draws=2_000, seed=1)  # a median heatmap
    assert figure_bytes(sweep_figure(unclaimed), "png")[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["sweep", "--set", "nope=1,2"], "--set nope: unknown input"),
    (["sweep", "--set", "capex=1,2"], "capex: is a derived quantity, computed from the inputs"),
    (["sweep", "--set", "total=1,2"], "total: is an output"),
    (["sweep", "--set", "count=-5,10"], "--set count=-5: refused"),
    (["sweep", "--set", "count=0:100:0"], "is an empty range"),
    (["sweep", "--set", "count="], "is empty"),
    (["sweep", "--set", "count=1:2:101", "--set", "price=1:2:100"], "10,100 points, over"),
    (["sweep", "--scale", "price=0,1"], "a scale factor must be above 0"),
    (["solve", "--claim", "bigg", "--vary", "count"], "--claim bigg: fleet has no such claim "
                                                      "(did you mean 'big'?)"),
    (["solve", "--claim", "big", "--vary", "capex"], "--vary capex: is a derived quantity"),
    (["solve", "--claim", "big", "--vary", "count", "--range", "-10:5"],
     "--vary count=-10: refused"),
    (["solve", "--claim", "big", "--vary", "count", "--range", "5:5"], "is empty"),
])
def test_cli_errors_are_one_line_and_exit_2(args, message, tmp_path, monkeypatch, capsys):
    path = write_scenario(tmp_path, FLEET.format(count=PERT_COUNT), "fleet.toml")
    command, *rest = args
    code, out, err = run_main([command, str(path), *rest, "-n", "1000", "--seed", "1"],
                              monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.glob("results*"))


def test_a_value_outside_the_support_with_its_sign_is_kept_with_a_warning(tmp_path):
    warnings: list[str] = []
    sw = S.sweep(fleet(tmp_path), set=["count=50000"], draws=1000, seed=1,
                 warn=warnings.append)
    assert len(sw.points) == 1 and "outside the prior's support, kept" in warnings[0]
    with pytest.raises(McsimError, match="over 10,000"):
        S.sweep(fleet(tmp_path), set=["count=1:2:10001"], draws=1000, seed=1)


def test_solve_for_a_scale_factor_on_a_prior():
    # total = count * cost, cost's median 3: with cost scaled by f, the median of total is
    # count * 3 * f, so a claim of 60 at count 10 is the median at f = 2
    sc = make_scenario({"cost": {"p5": 1.0, "p95": 9.0}, "count": {"value": 10}},
                       {"total": "cost * count"},
                       claims={"c": {"output": "total", "value": 60.0, "source": "t"}})
    root = S.solve(sc, "c", "cost", how="scale", draws=200_000, seed=4).roots[0]
    assert root.found and root.how == "scale" and abs(root.value - 2.0) < 3 * root.se < 0.03
