"""The DeepSeek scenarios: headline medians pinned loosely, ratios consistent draw by draw."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mcsim.engine import sample, simulate
from mcsim.scenario import builtin_scenarios, load_scenario

VIEWS = ["deepseek", "semianalysis-view", "sceptical", "epoch-conventions"]

# Medians at 200k draws, seed 1, when the priors were last reviewed, and a loose band: a test
# that catches an accidental edit of a prior (a slipped digit, a swapped bound), not noise.
PINNED = {
    "deepseek": {"capex_servers": 1.57e9, "opex_hosted_total": 6.98e8,
                 "ratio_server_capex_to_6m": 261, "ratio_server_tco_to_6m": 379,
                 "ratio_tco_to_6m": 417, "v3_run_cost_owned": 3.97e6},
    "semianalysis-view": {"ratio_server_capex_to_6m": 268, "ratio_server_tco_to_6m": 395},
    "sceptical": {"ratio_server_capex_to_6m": 113, "ratio_server_tco_to_6m": 170},
    "epoch-conventions": {"ratio_server_capex_to_6m": 261, "v3_run_cost_owned": 5.49e6},
}
BAND = 0.15

# output = numerator / denominator, for every ratio the scenario reports
RATIOS = {
    "ratio_server_capex_to_claimed": ("capex_servers", "claimed_cost"),
    "ratio_server_capex_to_6m": ("capex_servers", "press_denominator"),
    "ratio_server_capex_ex_h100_to_6m": ("capex_servers_ex_h100", "press_denominator"),
    "ratio_capex_to_6m": ("capex", "press_denominator"),
    "ratio_server_tco_to_claimed": ("server_tco", "claimed_cost"),
    "ratio_server_tco_to_6m": ("server_tco", "press_denominator"),
    "ratio_server_tco_owned_to_6m": ("server_tco_owned", "press_denominator"),
    "ratio_server_tco_staff_to_6m": ("server_tco_staff", "press_denominator"),
    "ratio_tco_to_6m": ("tco", "press_denominator"),
    "ratio_deepseek_tco_to_6m": ("deepseek_tco", "press_denominator"),
    "ratio_v3_run_owned_to_claimed": ("v3_run_cost_owned", "claimed_cost"),
}

# SemiAnalysis's $944M, and the 400x / 424x built on it: one claim per reading of its scope
READINGS = {"": "opex_hosted_total", "_owned": "opex_owned_total",
            "_with_staff": "opex_hosted_staff_total"}


@pytest.fixture(scope="module", params=VIEWS)
def view(request):
    return load_scenario(request.param)


def test_views_ship_with_the_package():
    assert set(VIEWS) <= set(builtin_scenarios())


def test_every_input_has_a_source_and_is_used(view):
    for inp in view.inputs:
        assert inp.source.strip() and inp.unit.strip(), inp.name
    assert view.unused_inputs() == []


def test_claims_name_their_sources(view):
    names = {c.name for c in view.claims}
    assert {"press_216x", "press_266x", "sa_capex_1_6b", "sa_capex_1_3b",
            "deepseek_claim_5_576m", "deepseek_claim_5_576m_epoch", "epoch_v3_5_39m",
            "deepseek_r1_rl_294k", "deepseek_r1_5_87m", "press_r1_5m", "epoch_r1_6_77m"} <= names
    assert all(c.source.strip() and c.scope.strip() for c in view.claims)


def test_every_scope_reading_of_the_opex_claims_is_audited(view):
    """Each reading of SemiAnalysis's $944M (and the 400x / 424x on it) is a line of its own,
    against the output of that scope, labelled so that a reader can tell them apart."""
    claims = {c.name: c for c in view.claims}
    ratio_of = {"opex_hosted_total": "ratio_server_tco_to_6m",
                "opex_owned_total": "ratio_server_tco_owned_to_6m",
                "opex_hosted_staff_total": "ratio_server_tco_staff_to_6m"}
    for suffix, opex in READINGS.items():
        assert claims[f"sa_opex_944m{suffix}"].output == opex
        for press in ("press_400x", "press_424x"):
            assert claims[f"{press}{suffix}"].output == ratio_of[opex]
    scopes = {claims[f"sa_opex_944m{s}"].scope for s in READINGS}
    assert len(scopes) == 3 and "hosted, no staff (headline)" in scopes


def test_opex_readings_differ_only_in_their_terms():
    """hosted = owned - running an owned datacenter + rent; with staff = hosted + staff."""
    names = ("opex_hosted_total", "opex_owned_total", "opex_hosted_staff_total",
             "opex_facility_per_year", "opex_rent_per_year", "opex_staff_per_year",
             "ownership_years")
    df = sample(load_scenario("deepseek"), 5_000, seed=3, names=names)
    years = df["ownership_years"]
    np.testing.assert_allclose(
        df["opex_hosted_total"],
        df["opex_owned_total"] + (df["opex_rent_per_year"] - df["opex_facility_per_year"]) * years,
        rtol=1e-12)
    np.testing.assert_allclose(df["opex_hosted_staff_total"],
                               df["opex_hosted_total"] + df["opex_staff_per_year"] * years,
                               rtol=1e-12)


def test_medians_stay_in_their_pinned_band(view):
    sim = simulate(view, 200_000, seed=1)
    for output, pinned in PINNED[view.name].items():
        median = sim.quantile(output, 0.5)[0]
        assert abs(median / pinned - 1) < BAND, (output, median, pinned)


def test_ratios_equal_ratios_of_totals_draw_by_draw(view):
    """Each reported ratio is computed per draw from the totals (never a ratio of medians)."""
    names = tuple(dict.fromkeys([*RATIOS, *(x for pair in RATIOS.values() for x in pair)]))
    df = sample(view, 20_000, seed=5, names=names)
    assert df["claimed_cost"].eq(5.576e6).all() and df["press_denominator"].eq(6e6).all()
    for ratio, (num, den) in RATIOS.items():
        np.testing.assert_allclose(df[ratio], df[num] / df[den], rtol=1e-15, err_msg=ratio)
    # the ratio's quantiles are those of its own draws (the priors': ``sample`` weighs nothing)
    sim = simulate(view.without_evidence(), 20_000, seed=5)
    for ratio in ("ratio_server_capex_to_6m", "ratio_tco_to_6m"):
        q = np.quantile(df[ratio], [0.05, 0.5, 0.95], method="interpolated_inverted_cdf")
        np.testing.assert_allclose(sim.quantile(ratio, [0.05, 0.5, 0.95]), q, rtol=2e-3)


def test_totals_add_up_draw_by_draw(view):
    cols = ("capex", "capex_servers", "capex_datacenter", "tco", "server_tco", "server_tco_owned",
            "server_tco_staff", "opex_hosted_total", "opex_owned_total", "opex_hosted_staff_total",
            "opex_staff_total", "capex_h800", "capex_h100", "capex_h20", "capex_a100",
            "capex_network", "capex_servers_ex_h100", "network_overhead")
    df = sample(view, 5_000, seed=2, names=cols)
    np.testing.assert_allclose(df["capex"], df["capex_servers"] + df["capex_datacenter"],
                               rtol=1e-12)
    np.testing.assert_allclose(df["tco"], df["capex"] + df["opex_owned_total"]
                               + df["opex_staff_total"], rtol=1e-12)
    for tco, opex in (("server_tco", "opex_hosted_total"), ("server_tco_owned", "opex_owned_total"),
                      ("server_tco_staff", "opex_hosted_staff_total")):
        np.testing.assert_allclose(df[tco], df["capex_servers"] + df[opex], rtol=1e-12)
    parts = df[["capex_h800", "capex_h100", "capex_h20", "capex_a100", "capex_network"]]
    np.testing.assert_allclose(df["capex_servers"], parts.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(df["capex_servers_ex_h100"], df["capex_servers"]
                               - df["capex_h100"] * (1 + df["network_overhead"]), rtol=1e-9)


def test_run_costs_follow_the_published_gpu_hours(view):
    """V3: 2.788M GPU-hours; R1: V3-Base (pre-training + context extension) + 147K of RL; the
    claimed costs at $2/h are V3's $5.576M and R1's RL's $294K."""
    names = ("claimed_gpu_hours", "claimed_cost", "r1_gpu_hours", "h800_cost_per_hour",
             "h800_cost_per_hour_epoch", "v3_run_cost_owned", "v3_run_cost_epoch",
             "r1_run_cost_owned", "r1_run_cost_epoch", "r1_rl_cost_owned", "rental_price",
             "r1_rl_gpu_hours")
    df = sample(view, 2_000, seed=4, names=names)
    assert df["claimed_gpu_hours"].eq(2_788_000).all() and df["claimed_cost"].eq(5.576e6).all()
    assert df["r1_gpu_hours"].eq(2_664_000 + 119_000 + 147_000).all()
    assert (df["r1_rl_gpu_hours"] * df["rental_price"]).eq(294_000).all()
    for run, hours in (("v3", "claimed_gpu_hours"), ("r1", "r1_gpu_hours")):
        np.testing.assert_allclose(df[f"{run}_run_cost_owned"],
                                   df[hours] * df["h800_cost_per_hour"], rtol=1e-12)
        np.testing.assert_allclose(df[f"{run}_run_cost_epoch"],
                                   df[hours] * df["h800_cost_per_hour_epoch"], rtol=1e-12)


def test_epochs_v3_estimate_falls_inside_the_epoch_conventions_interval():
    """Epoch AI's $5.39M for the V3 run is inside the 90% interval of the run cost when the
    hardware is valued by Epoch's conventions; under the default's straight-line depreciation
    it is far out in the tail (the two conventions differ by ~40%)."""
    epoch = simulate(load_scenario("epoch-conventions"), 200_000, seed=1)
    low, high = epoch.quantile("v3_run_cost_owned", [0.05, 0.95])
    assert low < 5.39e6 < high
    default = simulate(load_scenario("deepseek"), 200_000, seed=1).claims().set_index("claim")
    assert default.loc["epoch_v3_5_39m", "percentile"] > 95
    assert 5 < default.loc["deepseek_claim_5_576m_epoch", "percentile"] < 95
    # Epoch's conventions, computed alongside in the default, equal the view's own run cost
    np.testing.assert_allclose(epoch.quantile("v3_run_cost_owned", [0.05, 0.5, 0.95]),
                               epoch.quantile("v3_run_cost_epoch", [0.05, 0.5, 0.95]))


def test_default_correlations_are_achieved():
    sc = load_scenario("deepseek")
    assert sc.correlations and all(c.source for c in sc.correlations)
    names = tuple(dict.fromkeys(x for c in sc.correlations for x in (c.a, c.b)))
    ranks = sample(sc, 100_000, seed=9, names=names).rank()
    for c in sc.correlations:
        achieved = np.corrcoef(ranks[c.a], ranks[c.b])[0, 1]
        assert abs(achieved - c.spearman) < 0.015, (c, achieved)


# Numbers that the scenario notes state about their own priors: a note must not drift from
# the prior it describes. (scenario, input, text in the note, statistic, value, rel. tolerance)
NOTE_FIGURES = [
    ("deepseek", "top_pay_count", "18% chance of fewer than one", "cdf(1)", 0.18, 0.02),
    ("deepseek", "top_pay_count", "median 3.5", "median", 3.5, 0.02),
    ("deepseek", "top_pay_count", "5% chance of more than 15", "sf(15)", 0.05, 0.02),
    ("semianalysis-view", "network_share", "1.117 = 1 / (1 - 0.105)", "median", 0.105, 0.01),
    ("sceptical", "h100_count", "Mean 3,333", "mean", 3_333, 0.001),
    ("sceptical", "h20_count", "Mean ~11.7k", "mean", 11_700, 0.01),
    ("sceptical", "deepseek_share", "mean 0.36", "mean", 0.36, 0.01),
    ("sceptical", "deepseek_share", "mode 0.28", "mode", 0.28, 0.01),
    ("sceptical", "top_pay_count", "52% chance of fewer than half", "cdf(0.5)", 0.52, 0.01),
]


@pytest.mark.parametrize(("view_name", "name", "text", "stat", "stated", "rtol"), NOTE_FIGURES)
def test_figures_stated_in_notes_match_the_priors(view_name, name, text, stat, stated, rtol):
    sc = load_scenario(view_name)
    inp = sc.input(name)
    where = inp.note + sc.description
    assert text in where, f"{view_name}: the note of {name} no longer says {text!r}"
    u = (np.arange(400_000) + 0.5) / 400_000
    draws = np.asarray(inp.prior.ppf(u), dtype=float)  # a stratified sample of the prior
    actual = {"median": lambda: np.median(draws), "mean": draws.mean,
              "cdf(1)": lambda: np.mean(draws < 1), "cdf(0.5)": lambda: np.mean(draws < 0.5),
              "sf(15)": lambda: np.mean(draws > 15),
              # the mode is where the quantile function is flattest (the density peaks)
              "mode": lambda: draws[1:][np.argmin(np.diff(draws))]}[stat]()
    assert actual == pytest.approx(stated, rel=rtol), (name, stat, actual)


def test_headline_table_gives_bounds_where_no_draw_reaches_a_claim():
    """tools/headline.py printed "100.0%" for sceptical's press_266x and "0.0%" for
    sa_gpu_investment_500m, as if certain; it prints the bound the draws give, as `run` does."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "headline.py"
    spec = importlib.util.spec_from_file_location("headline", path)
    assert spec is not None and spec.loader is not None
    headline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(headline)
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")[3:]
            for line in headline.tables(20_000, 1).splitlines() if line.startswith("| `")}
    # each cell: the posterior's percentile, then the prior's
    assert rows["press_266x"][2].startswith(">99.9% (prior >99.9%)")
    assert rows["sa_gpu_investment_500m"][1].startswith("<0.1% (prior <0.1%)")
    cells = " ".join(c.strip(" |") for row in rows.values() for c in row)
    assert not re.findall(r"(?<![\d.])(?:100\.0|0\.0)%", cells)
