"""The DeepSeek scenarios: headline medians pinned loosely, ratios consistent draw by draw."""

from __future__ import annotations

import numpy as np
import pytest

from mcsim.engine import sample, simulate
from mcsim.scenario import builtin_scenarios, load_scenario

VIEWS = ["deepseek", "semianalysis-view", "sceptical"]

# Medians at 200k draws, seed 1, when the priors were last reviewed, and a loose band: a test
# that catches an accidental edit of a prior (a slipped digit, a swapped bound), not noise.
PINNED = {
    "deepseek": {"capex_servers": 1.57e9, "opex_total": 6.6e8, "ratio_server_capex_to_6m": 262,
                 "ratio_tco_to_6m": 428, "v3_run_cost_owned": 3.9e6},
    "semianalysis-view": {"ratio_server_capex_to_6m": 268, "ratio_tco_to_6m": 439},
    "sceptical": {"ratio_server_capex_to_6m": 113, "ratio_tco_to_6m": 202},
}
BAND = 0.15

# output = numerator / denominator, for every ratio the scenario reports
RATIOS = {
    "ratio_server_capex_to_claimed": ("capex_servers", "claimed_cost"),
    "ratio_server_capex_to_6m": ("capex_servers", "press_denominator"),
    "ratio_capex_to_claimed": ("capex", "claimed_cost"),
    "ratio_capex_to_6m": ("capex", "press_denominator"),
    "ratio_server_tco_to_claimed": ("server_tco", "claimed_cost"),
    "ratio_server_tco_to_6m": ("server_tco", "press_denominator"),
    "ratio_tco_to_claimed": ("tco", "claimed_cost"),
    "ratio_tco_to_6m": ("tco", "press_denominator"),
    "ratio_deepseek_tco_to_6m": ("deepseek_tco", "press_denominator"),
    "ratio_v3_run_owned_to_claimed": ("v3_run_cost_owned", "claimed_cost"),
}


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
    assert {"press_266x", "press_400x", "press_424x", "sa_capex_1_6b", "sa_opex_944m",
            "deepseek_claim_5_576m"} <= names
    assert all(c.source.strip() for c in view.claims)


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
    # the ratio's quantiles are those of its own draws
    sim = simulate(view, 20_000, seed=5)
    for ratio in ("ratio_server_capex_to_6m", "ratio_tco_to_6m"):
        q = np.quantile(df[ratio], [0.05, 0.5, 0.95], method="interpolated_inverted_cdf")
        np.testing.assert_allclose(sim.quantile(ratio, [0.05, 0.5, 0.95]), q, rtol=2e-3)


def test_totals_add_up_draw_by_draw(view):
    cols = ("capex", "capex_servers", "capex_datacenter", "tco", "opex_total", "server_tco",
            "capex_h800", "capex_h100", "capex_h20", "capex_a100", "capex_network")
    df = sample(view, 5_000, seed=2, names=cols)
    np.testing.assert_allclose(df["capex"], df["capex_servers"] + df["capex_datacenter"],
                               rtol=1e-12)
    np.testing.assert_allclose(df["tco"], df["capex"] + df["opex_total"], rtol=1e-12)
    np.testing.assert_allclose(df["server_tco"], df["capex_servers"] + df["opex_total"],
                               rtol=1e-12)
    parts = df[["capex_h800", "capex_h100", "capex_h20", "capex_a100", "capex_network"]]
    np.testing.assert_allclose(df["capex_servers"], parts.sum(axis=1), rtol=1e-12)
