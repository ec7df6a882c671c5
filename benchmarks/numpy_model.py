"""The same scenario written in plain vectorised numpy: what most users would write.

Inputs come from numpy's Generator (``rng.lognormal``, ``rng.beta`` for PERT, ...), formulas
are evaluated with whole-array numpy operations, and quantiles come from ``np.quantile`` over
every draw. Used only by the benchmarks, as the baseline that mcsim must beat.
"""

from __future__ import annotations

import math

import numpy as np

from mcsim.formula import evaluate
from mcsim.scenario import Scenario


def draw_input(prior, rng: np.random.Generator, n: int) -> np.ndarray:
    p = prior.params
    f = prior.family
    if f == "constant":
        return np.full(n, p["value"])
    if f == "uniform":
        return rng.uniform(p["min"], p["max"], n)
    if f == "loguniform":
        return np.exp(rng.uniform(math.log(p["min"]), math.log(p["max"]), n))
    if f == "normal":
        return rng.normal(p["loc"], p["scale"], n)
    if f == "lognormal":
        loc = p["median"] - p["sign"] * p["scale"]
        return loc + p["sign"] * rng.lognormal(np.log(p["scale"]), p["sigma"], n)
    if f == "triangular":
        return rng.triangular(p["min"], p["mode"], p["max"], n)
    if f == "pert":
        lo, mode, hi, lam = p["min"], p["mode"], p["max"], p["lambda"]
        a = 1 + lam * (mode - lo) / (hi - lo)
        b = 1 + lam * (hi - mode) / (hi - lo)
        return lo + (hi - lo) * rng.beta(a, b, n)
    if f == "beta":
        return p["loc"] + p["scale"] * rng.beta(p["a"], p["b"], n)
    if f == "gamma":
        return p["loc"] + rng.gamma(p["a"], p["scale"], n)
    if f == "discrete":
        return rng.choice(np.asarray(p["values"]), size=n, p=np.asarray(p["weights"]))
    if f == "truncnormal":
        rv = prior.reference()
        return rv.ppf(rng.random(n))
    raise ValueError(f)


def run_numpy(scenario: Scenario, draws: int, seed: int, ci: float = 0.9) -> dict:
    """Medians and equal-tailed intervals of every output, all draws held in memory."""
    rng = np.random.default_rng(seed)
    env = {i.name: draw_input(i.prior, rng, draws) for i in scenario.inputs}
    with np.errstate(all="ignore"):
        for name, formula in scenario.derived:
            env[name] = evaluate(formula.tree, env)
        out = {}
        for o in scenario.outputs:
            x = np.broadcast_to(evaluate(o.formula.tree, env), (draws,))
            x = x[np.isfinite(x)]
            q = np.quantile(x, [0.5, (1 - ci) / 2, (1 + ci) / 2])
            out[o.name] = {"mean": float(x.mean()), "median": q[0], "ci_low": q[1],
                           "ci_high": q[2]}
    return out


