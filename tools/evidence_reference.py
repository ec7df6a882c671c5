"""A slow, independent reference for the evidence of a scenario: draws weighted with numpy.

    PYTHONPATH=src python tools/evidence_reference.py [SCENARIO] [--draws 400000] [--seed 1]

Reads the ``[[evidence]]`` tables of SCENARIO (default priors/deepseek.toml) itself, loads the
rest of the file with ``scenario_from_dict`` (so a scenario that ``extends`` another is not
supported), materialises the draws with ``mcsim.engine.sample`` and evaluates each ``quantity``
or ``condition`` with ``mcsim.formula.evaluate``. A draw's weight is the product of:

    normal      exp(-0.5 ((q - observed) / sd)^2)
    lognormal   exp(-0.5 ((ln q - ln observed + mu) / sigma)^2), 0 where q <= 0; sigma, or
                p5/p95 of the ratio observed/true: mu = (ln p5 + ln p95) / 2 (0 when symmetric),
                sigma = (ln p95 - ln p5) / (2 x 1.6449)
    student_t   (1 + ((q - observed) / scale)^2 / df)^(-(df + 1) / 2)
    condition   1 where true, else 0

For the prior, each piece of evidence alone, all together and all but each measurement, it
prints the Kish effective sample size (sum w)^2 / sum w^2, the weighted median and 90% interval
of the headline outputs, and the weighted percentile of the claims (the weighted share of draws
at or below the claimed value). A weighted quantile is the smallest value whose cumulative
weight reaches that share of the total. This cross-checks the kernel's weighted reductions.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from pathlib import Path

import numpy as np

from mcsim.engine import sample
from mcsim.formula import evaluate, parse
from mcsim.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ["capex_servers", "opex_hosted_total", "ratio_server_capex_to_6m",
           "ratio_server_tco_to_6m", "v3_run_cost_owned", "ratio_deepseek_tco_to_6m"]
CLAIMS = ["press_266x", "sa_opex_944m", "press_400x", "press_424x", "deepseek_claim_5_576m"]
Z95 = 1.6448536269514722  # the standard normal's 95th percentile


def likelihood(ev: dict, q: np.ndarray) -> np.ndarray:
    """The weight of each draw under one piece of evidence, given its quantity ``q``."""
    if "condition" in ev:
        return (q != 0).astype(float)
    obs, kind = float(ev["observed"]), ev["likelihood"]
    if kind == "normal":
        return np.exp(-0.5 * ((q - obs) / ev["sd"]) ** 2)
    if kind == "student_t":
        df = float(ev["df"])
        return (1 + ((q - obs) / ev["scale"]) ** 2 / df) ** (-(df + 1) / 2)
    if kind == "lognormal":
        if "sigma" in ev:
            mu, sigma = 0.0, float(ev["sigma"])
        else:
            lo, hi = math.log(ev["p5"]), math.log(ev["p95"])
            mu, sigma = (lo + hi) / 2, (hi - lo) / (2 * Z95)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (math.log(obs) - np.log(q) - mu) / sigma
        return np.where(q > 0, np.exp(-0.5 * z**2), 0.0)
    raise SystemExit(f"evidence {ev['name']}: unknown likelihood {kind!r}")


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, q * cum[-1])])


def describe(label: str, w: np.ndarray, cols: dict[str, np.ndarray],
             claims: dict[str, tuple[str, float]]) -> list[str]:
    ess = w.sum() ** 2 / (w**2).sum() if w.any() else 0.0
    cells = [label, f"{ess:,.0f} ({ess / len(w):.1%})"]
    for name in OUTPUTS:
        x = cols[name]
        p5, p50, p95 = (weighted_quantile(x, w, q) for q in (0.05, 0.5, 0.95))
        cells.append(f"{_short(p50)} ({_short(p5)}-{_short(p95)})")
    for output, value in claims.values():
        cells.append(f"{100 * w[cols[output] <= value].sum() / w.sum():.1f}%")
    return cells


def _short(v: float) -> str:
    if abs(v) >= 1e9:
        return f"{v / 1e9:.2f}B"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.0f}M" if abs(v) >= 1e8 else f"{v / 1e6:.2f}M"
    return f"{v:.0f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "priors" / "deepseek.toml"))
    ap.add_argument("--draws", type=int, default=400_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    data = tomllib.loads(Path(args.scenario).read_text(encoding="utf-8"))
    evidence = data.pop("evidence", [])
    scenario = scenario_from_dict(data, name=Path(args.scenario).stem)
    claims = {c.name: (c.output, c.value) for c in scenario.claims if c.name in CLAIMS}
    formulas = {ev["name"]: parse(ev.get("condition") or ev["quantity"], ev["name"])
                for ev in evidence}
    needed = set(OUTPUTS) | {o for o, _ in claims.values()}
    needed |= {n for f in formulas.values() for n in f.names}
    frame = sample(scenario, args.draws, seed=args.seed, names=tuple(sorted(needed)))
    cols = {c: frame[c].to_numpy() for c in frame.columns}
    weights = {ev["name"]: likelihood(ev, evaluate(formulas[ev["name"]].tree, cols))
               for ev in evidence}

    combos = [("prior", [])] + [(f"only {n}", [n]) for n in weights]
    combos.append(("all evidence", list(weights)))
    combos += [(f"all but {ev['name']}", [n for n in weights if n != ev["name"]])
               for ev in evidence if "condition" not in ev]
    header = ["", "ESS (share)", *OUTPUTS, *(f"{c} pct" for c in claims)]
    print(f"{args.draws:,} draws, seed {args.seed}: weighted median (5%-95%); claim percentiles")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label, names in combos:
        w = np.ones(args.draws)
        for n in names:
            w = w * weights[n]
        print("| " + " | ".join(describe(label, w, cols, claims)) + " |")


if __name__ == "__main__":
    main()
