"""Summaries and claims: intervals nest and hold the median; claims match the histogram."""

from __future__ import annotations

import warnings

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


# ---------------------------------------------------------------- honest extremes (issue 16)

EDGES = make_scenario({"u": {"dist": "uniform", "min": 0, "max": 1}}, {"y": "u"},
                      claims={"above_all": {"output": "y", "value": 2.0, "source": "s"},
                              "below_all": {"output": "y", "value": -1.0, "source": "s"},
                              "inside": {"output": "y", "value": 0.25, "source": "s"}})


@pytest.mark.parametrize("draws, bound", [(1_000, "0.4%"), (1_000_000, "0.1%"),
                                          (10_000_000, "0.1%")])
def test_a_claim_no_draw_reaches_is_bounded_not_certain(draws, bound):
    """No draw exceeds 2 (every draw exceeds -1): the table printed 0.0% / 100.0% with a
    standard error of 0; it gives the exact 95% bound, the same way at every count."""
    from mcsim.render import claims_text

    claims = simulate(EDGES, draws, seed=1).claims().set_index("claim")
    above, below = claims.loc["above_all"], claims.loc["below_all"]
    assert above["p_exceed"] == 0 and below["p_exceed"] == 1
    bound_p = -np.expm1(np.log(0.025) / draws)  # P(no hit in n draws) = 2.5%
    assert above["p_exceed_high"] == pytest.approx(bound_p, rel=1e-9)
    assert bound_p == pytest.approx(3.69 / draws, rel=0.01)
    assert (above["p_exceed_low"], below["p_exceed_high"]) == (0.0, 1.0)
    assert below["p_exceed_low"] == pytest.approx(1 - bound_p, rel=1e-9)
    for row in (above, below):  # Jeffreys' posterior sd at no hits, about 0.71 / n
        assert row["p_exceed_se"] == pytest.approx(np.sqrt(0.5 * (1 - 0.5 / draws)) / draws)
        assert row["percentile_se"] == pytest.approx(100 * row["p_exceed_se"])
    lines = {line.split()[0]: line.split() for line in claims_text(claims.reset_index())
             .splitlines()[2:]}
    assert lines["above_all"][-2:] == [f">{100 - float(bound[:-1]):.1f}%", f"<{bound}"]
    assert lines["below_all"][-2:] == [f"<{bound}", f">{100 - float(bound[:-1]):.1f}%"]
    assert "0.0%" not in " ".join(lines["above_all"] + lines["below_all"])


def test_claim_intervals_inside_the_range_are_clopper_pearson():
    from scipy import stats

    n = 100_000
    claim = simulate(EDGES, n, seed=2).claims().set_index("claim").loc["inside"]
    k = round(claim["p_exceed"] * n)
    assert claim["p_exceed"] * n == pytest.approx(k, abs=1e-6)  # 0.25 is a bin edge
    exact = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    assert (claim["p_exceed_low"], claim["p_exceed_high"]) == pytest.approx(
        (exact.low, exact.high), rel=1e-9)
    f = claim["percentile"] / 100
    assert claim["p_exceed_se"] == pytest.approx(np.sqrt(f * (1 - f) / n))


@pytest.mark.parametrize("n", [1, 7, 50])
def test_claim_intervals_cover_at_least_95_percent_at_every_p(n):
    """Exact coverage, summed over the binomial: Wald's p +- 1.96 se covers nothing when no
    draw hits, whatever the truth."""
    from scipy import stats

    from mcsim.reduce import binomial_interval

    bounds = np.array([binomial_interval(k, n) for k in range(n + 1)])
    for p in np.linspace(1e-6, 1 - 1e-6, 997):
        held = (bounds[:, 0] <= p) & (p <= bounds[:, 1])
        assert stats.binom.pmf(np.arange(n + 1), n, p)[held].sum() >= 0.95 - 1e-9, p


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_replicated_designs_bound_a_claim_no_draw_reaches(sampler):
    """Every replicate agrees that no draw exceeds 2, so their spread is 0: the interval is
    still at least the iid bound over all the draws, and the error is not 0."""
    from mcsim.render import claims_text

    sim = simulate(EDGES, 10 * 4096, seed=3, sampler=sampler)
    claims = sim.claims().set_index("claim")
    above, below = claims.loc["above_all"], claims.loc["below_all"]
    iid = -np.expm1(np.log(0.025) / sim.draws)
    assert above["p_exceed"] == 0 and above["p_exceed_se"] > 0
    assert above["p_exceed_high"] >= iid * (1 - 1e-9)
    assert below["p_exceed_low"] <= 1 - iid * (1 - 1e-9)
    inside = claims.loc["inside"]
    assert inside["p_exceed_low"] < inside["p_exceed"] < inside["p_exceed_high"]
    text = claims_text(claims.reset_index())
    assert "0.0%" not in text and "<0.1%" in text and ">99.9%" in text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.floats(-5, 5, allow_nan=False)),
                min_size=3, max_size=40))
def test_spearman_equals_scipys_with_ties(pairs):
    """The numpy Spearman (average ranks for ties) is scipy's, without importing scipy.stats."""
    from scipy import stats

    from mcsim.reduce import average_ranks, spearman

    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs])
    with np.errstate(all="ignore"), warnings.catch_warnings():  # scipy warns on a constant x
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        expected = stats.spearmanr(x, y)[0]
    np.testing.assert_allclose(average_ranks(x), stats.rankdata(x))
    if np.isnan(expected):  # a constant column: no correlation to speak of, in both
        assert np.isnan(spearman(x, y))
    else:
        assert spearman(x, y) == pytest.approx(expected, abs=1e-12)
