"""Summaries and claims: intervals nest and hold the median; claims match the histogram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import make_scenario
from mcsim.engine import sample, simulate
from mcsim.errors import McsimError
from mcsim.reduce import check_level, equal_tailed

SC = make_scenario({"x": {"p5": 1, "p95": 100}, "y": {"dist": "normal", "loc": 0, "scale": 1}},
                   {"skewed": "x", "mixed": "x * y"},
                   claims={"big": {"output": "skewed", "value": 50.0, "source": "s"},
                           "zero": {"output": "mixed", "value": 0.0, "source": "s"}})
SIM = simulate(SC, 300_000, seed=3)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 0.98), st.floats(0.001, 0.019))
def test_intervals_nest_and_contain_the_median(level, step):
    for name in ("skewed", "mixed"):
        lo1, hi1 = equal_tailed(SIM, name, level)
        lo2, hi2 = equal_tailed(SIM, name, min(level + step, 0.999))
        median = SIM.quantile(name, 0.5)[0]
        assert lo2 <= lo1 <= median <= hi1 <= hi2


def test_claims_percentiles_match_the_draws():
    claims = SIM.claims().set_index("claim")
    df = sample(SC, 300_000, seed=3)
    for claim, output, value in (("big", "skewed", 50.0), ("zero", "mixed", 0.0)):
        empirical = np.mean(df[output] <= value)
        assert claims.loc[claim, "percentile"] == pytest.approx(100 * empirical, abs=0.01)
        assert claims.loc[claim, "p_exceed"] == pytest.approx(1 - empirical, abs=1e-4)


def test_summary_columns_and_level():
    s = SIM.summary(80)
    assert (s["ci_level"] == 0.8).all()
    row = s.set_index("output").loc["skewed"]
    assert row["ci_low"] < row["median"] < row["ci_high"]
    assert row["mean_se"] == pytest.approx(row["std"] / np.sqrt(300_000))


@pytest.mark.parametrize("level", [0, 100, -5, 150])
def test_bad_levels(level):
    with pytest.raises(McsimError, match="ci"):
        check_level(level)


def test_median_error_bars_cover_the_true_median():
    """Over 300 seeds, median +- 1.96 se holds the true median about 95% of the time."""
    from scipy import stats

    sc = make_scenario({"x": {"dist": "lognormal", "mu": 1.0, "sigma": 0.8}}, {"y": "x * 3"})
    truth = 3 * np.exp(1.0)
    hits = 0
    seeds = 300
    for seed in range(seeds):
        row = simulate(sc, 2_000, seed=seed).summary().iloc[0]
        hits += abs(row["median"] - truth) <= 1.96 * row["median_se"]
    assert stats.binomtest(hits, seeds, 0.95).pvalue > 0.001, hits


def test_error_columns_are_consistent():
    s = SIM.summary(0.9).set_index("output")
    n = 300_000
    for name in ("skewed", "mixed"):
        row = s.loc[name]
        assert 0 < row["median_se"] < row["ci_high"] - row["ci_low"]
        assert row["ci_low_se"] > 0 and row["ci_high_se"] > 0
    claims = SIM.claims().set_index("claim")
    for claim in ("big", "zero"):
        f = claims.loc[claim, "percentile"] / 100
        assert claims.loc[claim, "p_exceed_se"] == pytest.approx(np.sqrt(f * (1 - f) / n))
        assert claims.loc[claim, "percentile_se"] == pytest.approx(
            100 * claims.loc[claim, "p_exceed_se"])


def test_median_se_matches_the_asymptotic_formula():
    """For a normal, se(median) = sqrt(pi / 2) sigma / sqrt(n)."""
    sc = make_scenario({"x": {"dist": "normal", "loc": 0, "scale": 2}}, {"y": "x"})
    n = 400_000
    row = simulate(sc, n, seed=5).summary().iloc[0]
    assert row["median_se"] == pytest.approx(np.sqrt(np.pi / 2) * 2 / np.sqrt(n), rel=0.05)
    assert row["mean_se"] == pytest.approx(2 / np.sqrt(n), rel=0.02)


def test_auto_stop_equals_a_fixed_run_of_the_final_size():
    from mcsim.reduce import parse_target, precision, stop_when_precise

    targets = [parse_target("p95:0.4%"), parse_target("skewed.mean:0.5%@99")]
    sim = simulate(SC, 10_000_000, seed=9, batch_tiles=2, stop=stop_when_precise(targets))
    assert sim.stopped == "converged" and sim.draws % 65536 == 0 and sim.draws < 10_000_000
    fixed = simulate(SC, sim.draws, seed=9)
    pd.testing.assert_frame_equal(sim.summary(), fixed.summary(), check_exact=True)
    assert precision(sim, targets)["met"].all()
    smaller = simulate(SC, sim.draws - 2 * 65536, seed=9)
    assert not precision(smaller, targets)["met"].all()  # it stopped at the first batch that met


def test_auto_stop_reports_the_cap():
    from mcsim.reduce import parse_target, stop_when_precise

    sim = simulate(SC, 200_000, seed=1, stop=stop_when_precise([parse_target("p99:0.001%")]))
    assert sim.stopped == "max-draws" and sim.draws == 200_000


def test_a_target_met_at_the_cap_is_converged():
    """p95:50% on 1,000 draws: the only batch is also the last; its error meets the target,
    and the run said it "hit --max-draws before every target was met"."""
    from mcsim.reduce import parse_target, precision, stop_when_precise

    targets = [parse_target("p95:50%")]
    sim = simulate(SC, 1_000, seed=1, stop=stop_when_precise(targets))
    assert precision(sim, targets)["met"].all()
    assert sim.stopped == "converged" and sim.draws == 1_000


@pytest.mark.parametrize("text", ["p95", "p95:", "p95:abc", "p150:1%", "p95:150%", "mode:1%",
                                  "mean:1%@120", "mean:0"])
def test_bad_targets(text):
    from mcsim.reduce import parse_target

    with pytest.raises(McsimError, match="--until"):
        parse_target(text)


def test_targets_parse():
    from mcsim.reduce import parse_target

    t = parse_target("tco.median:0.5%@99")
    assert (t.output, t.stat, t.tolerance, t.confidence) == ("tco", "median", 0.005, 0.99)
    assert parse_target("p95:0.01").tolerance == 0.01
