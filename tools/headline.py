"""Refresh the headline tables (README.md, priors/README.md) and priors/SOURCES.md.

    python tools/headline.py                     # print the tables (10M draws, seed 1)
    python tools/headline.py --write             # ... and write them between the markers
    python tools/headline.py --sources           # regenerate priors/SOURCES.md from sources.toml

Every shipped view is simulated with the same seed (common random numbers), and each cell
gives the median and the 90% equal-tailed interval, or a claim's percentile: the posterior
(under the view's evidence) above the prior (the same draws, unweighted). A second table
(README.md only) shows how each piece of the default's evidence moves the headline alone and
how all of it does together.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

from mcsim.bibliography import to_markdown
from mcsim.engine import simulate
from mcsim.scenario import builtin_bibliography, load_scenario
from mcsim.units import format_percentile, format_value, parse_count

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ["deepseek", "semianalysis-view", "sceptical", "epoch-conventions"]
ROWS = [  # (output, what it is)
    ("capex_servers", "server capex (SemiAnalysis: $1.6B)"),
    ("opex_hosted_total", "opex, hosted, no staff (headline; SemiAnalysis: $944M)"),
    ("opex_owned_total", "opex, owned datacenter, no staff"),
    ("opex_hosted_staff_total", "opex, hosted + DeepSeek staff"),
    ("ratio_server_capex_to_6m", "server capex / $6M (press: 266x)"),
    ("ratio_server_tco_to_6m", "server TCO / $6M, hosted (press: 400x, 424x)"),
    ("ratio_server_tco_owned_to_6m", "server TCO / $6M, owned datacenter"),
    ("ratio_server_tco_staff_to_6m", "server TCO / $6M, hosted + staff"),
    ("v3_run_cost_owned", "V3 run on owned H800s, the view's convention (claim: $5.576M)"),
    ("v3_run_cost_epoch", "V3 run on owned H800s, Epoch's conventions (Epoch: $5.39M)"),
    ("r1_run_cost_owned", "R1 (V3-Base + RL) on owned H800s, the view's convention"),
]
BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"
EVIDENCE_BEGIN, EVIDENCE_END = "<!-- evidence:begin -->", "<!-- evidence:end -->"
EVIDENCE_ROWS = ["capex_servers", "opex_hosted_total", "ratio_server_capex_to_6m",
                 "ratio_server_tco_to_6m", "deepseek_tco", "v3_run_cost_owned"]
EVIDENCE_CLAIMS = ["press_266x", "sa_opex_944m", "press_400x", "press_424x",
                   "deepseek_claim_5_576m"]


def _interval(r, prefix: str = "") -> str:
    return (f"{format_value(r[prefix + 'median'], r['unit'])} "
            f"({format_value(r[prefix + 'ci_low'], r['unit'])} to "
            f"{format_value(r[prefix + 'ci_high'], r['unit'])})")


def _ess(sim) -> str:
    w = sim.weights
    return "no evidence" if w is None else f"{w.ess:,.0f} ({100 * w.share:.3g}%)"


def tables(draws: int, seed: int) -> str:
    sims = [simulate(load_scenario(v), draws, seed=seed) for v in VIEWS]
    summaries = [s.summary(0.9).set_index("output") for s in sims]
    claims = [s.claims().set_index("claim") for s in sims]
    head = "| | " + " | ".join(f"`{v}`" for v in VIEWS) + " |\n|---|" + "---|" * len(VIEWS)
    lines = [f"Median and 90% interval; {draws:,} draws per view, seed {seed}, same draws for "
             "the inputs the views share. Each cell: the posterior (the draws weighted by the "
             "view's evidence), then the prior (the same draws, unweighted).", "", head,
             "| effective sample size (share of draws) | "
             + " | ".join(_ess(s) for s in sims) + " |"]
    for output, label in ROWS:
        cells = []
        for s in summaries:
            r = s.loc[output]
            cell = _interval(r)
            if "prior_median" in r:
                cell += f"<br>prior {_interval(r, 'prior_')}"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Percentile of each claim in the distribution of the output with its scope "
              "(P(true > claimed) is 100% minus it), posterior then prior:", "",
              "| claim | scope | claimed | " + " | ".join(f"`{v}`" for v in VIEWS) + " |",
              "|---|---|---|" + "---|" * len(VIEWS)]
    for name, r in claims[0].iterrows():
        cells = []
        for c in claims:
            cell = format_percentile(*c.loc[name, ["p_exceed", "p_exceed_low", "p_exceed_high"]])
            if "prior_p_exceed" in c:
                cell += " (prior " + format_percentile(*c.loc[name, [
                    "prior_p_exceed", "prior_p_exceed_low", "prior_p_exceed_high"]]) + ")"
            cells.append(cell)
        lines.append(f"| `{name}` | {r['scope']} | {format_value(r['value'], r['unit'])} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def evidence_table(draws: int, seed: int) -> str:
    """The default view under no evidence, each piece alone, and all of it: medians and 90%
    intervals of the headline outputs, the claims' percentiles, the effective sample size."""
    full = load_scenario()
    runs = [("priors alone", full.without_evidence())]
    runs += [(f"only `{ev.name}`", replace(full, evidence=(ev,))) for ev in full.evidence]
    runs += [("all the evidence", full)]
    sims = [simulate(sc, draws, seed=seed) for _, sc in runs]
    summaries = [s.summary(0.9).set_index("output") for s in sims]
    claims = [s.claims().set_index("claim") for s in sims]
    cols = [*EVIDENCE_ROWS, *EVIDENCE_CLAIMS]
    lines = [f"`deepseek`, {draws:,} draws, seed {seed}: median and 90% interval (posterior), "
             "and each claim's percentile.", "",
             "| | ESS (share) | " + " | ".join(f"`{c}`" for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for (label, _), sim, summ, cl in zip(runs, sims, summaries, claims, strict=True):
        cells = [_interval(summ.loc[o]) for o in EVIDENCE_ROWS]
        cells += [format_percentile(*cl.loc[c, ["p_exceed", "p_exceed_low", "p_exceed_high"]])
                  for c in EVIDENCE_CLAIMS]
        lines.append(f"| {label} | {_ess(sim)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replace_block(path: Path, block: str, begin: str = BEGIN, end: str = END) -> None:
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"{path}: no {begin} ... {end} markers")
    path.write_text(pattern.sub(lambda _: f"{begin}\n{block}\n{end}", text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", default="10M")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write the tables into the READMEs")
    parser.add_argument("--sources", action="store_true", help="regenerate priors/SOURCES.md")
    args = parser.parse_args()
    if args.sources:
        (ROOT / "priors" / "SOURCES.md").write_text(to_markdown(builtin_bibliography()),
                                                    encoding="utf-8")
        return
    block = tables(parse_count(args.draws), args.seed)
    print(block)
    evidence = evidence_table(parse_count(args.draws), args.seed)
    print("\n" + evidence)
    if args.write:
        for path in (ROOT / "README.md", ROOT / "priors" / "README.md"):
            replace_block(path, block)
        replace_block(ROOT / "README.md", evidence, EVIDENCE_BEGIN, EVIDENCE_END)


if __name__ == "__main__":
    main()
