"""In a notebook: results show a one-line repr and, where they hold tables, an HTML view of
them (as pandas objects do), not thousands of characters of dataclass fields."""

from __future__ import annotations

import pytest

from builders import make_scenario
from mcsim.compare import compare_medians
from mcsim.engine import simulate
from mcsim.report import build_report
from mcsim.scenario import load_scenario
from mcsim.sensitivity import tornado

INPUTS = {"a": {"p5": 1, "p95": 10}, "b": {"dist": "uniform", "min": 1, "max": 2}}
OUTPUTS = {"cost": {"formula": "a * b * 1e6", "unit": "USD", "label": "Cost of it all"},
           "ratio": {"formula": "a / b", "unit": "x"}}
CLAIMS = {"big": {"output": "cost", "value": 5e6, "source": "someone"}}


@pytest.fixture(scope="module")
def sim():
    return simulate(make_scenario(INPUTS, OUTPUTS, claims=CLAIMS), 20_000, seed=3)


def test_a_simulation_shows_one_line_and_its_tables(sim):
    text = repr(sim)
    assert len(text) < 160 and "\n" not in text
    assert "20,000 draws" in text and "seed 3" in text and "2 outputs, 1 claims" in text
    page = sim._repr_html_()
    assert page.count("<table") == 2
    assert "Cost of it all" in page and ">big<" in page
    assert repr(sim.outputs["cost"]).startswith("<OutputStats cost: 20,000 draws")


def test_a_scenario_shows_one_line():
    sc = load_scenario()
    assert repr(sc) == (f"<Scenario 'deepseek': {len(sc.inputs)} inputs, {len(sc.derived)} "
                        f"derived, {len(sc.outputs)} outputs, {len(sc.claims)} claims>")


def test_a_tornado_shows_one_line_and_its_ranking():
    tor = tornado(make_scenario(INPUTS, OUTPUTS), "cost", 20_000, seed=3,
                  methods=("spearman", "swing"))
    assert repr(tor).startswith("<Tornado of 'cost'") and len(repr(tor)) < 160
    assert f"by spearman: {', '.join(tor.ranking())}" in repr(tor)
    page = tor._repr_html_()
    assert page.count("<table") == 1 and "spearman" in page and "swing" in page


def test_a_comparison_and_a_report_show_one_line():
    sims = [simulate(make_scenario(INPUTS, OUTPUTS), 5_000, seed=2),
            simulate(make_scenario({**INPUTS, "a": {"p5": 2, "p95": 10}}, OUTPUTS), 5_000,
                     seed=2)]
    comparison = compare_medians(sims, replicates=4, replicate_draws=1_000)
    assert repr(comparison).startswith("<Comparison of ") and len(repr(comparison)) < 160
    assert comparison._repr_html_().count("<table") == 1
    pytest.importorskip("matplotlib")
    report = build_report([make_scenario(INPUTS, OUTPUTS, claims=CLAIMS)], draws=5_000, seed=2,
                          tornado_draws=2_000)
    assert repr(report).startswith("<Report of ") and len(repr(report)) < 160
