"""Any scenario written in numpy, as a user would: the baselines that the kernel must beat.

``run_plain`` is what most users write: every input drawn for all draws at once with numpy's
Generator (``rng.lognormal``, ``rng.beta`` for PERT, ...), formulas as whole-array expressions,
``np.quantile`` over every draw. ``run_tuned`` is the best a numpy user could reasonably write:
chunks of 64k draws that stay in cache, in-place ufuncs into reused buffers,
``standard_normal`` + ``np.exp`` instead of ``lognormal``, both cores (numpy releases the GIL),
moments and a fixed-bin histogram per chunk instead of storing the draws. Used by ``bench``.

Correlated inputs (``[[correlations]]``) are drawn as a user of numpy and scipy would build a
Gaussian copula: correlated standard normals from the Cholesky factor, ``scipy.special.ndtr``
to uniforms, then each prior's inverse CDF (numpy has no sampler that takes given uniforms).
The plain baseline calls scipy's exact inverse (``betaincinv`` for PERT and beta); the tuned one
interpolates a table of it with ``np.interp`` (4,097 knots, built once: ~50x faster, and less
accurate in the tails than mcsim's tables, so it flatters the baseline). So both baselines
compute the same model as mcsim, correlations included.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from scipy import special

from .correlation import Group
from .distributions import Distribution, pert_shape
from .formula import CHAINS, Name, Node, Num, Op, evaluate, fold_steps
from .scenario import Scenario

CHUNK = 65536


def draw_plain(prior: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws of ``prior`` with the Generator method a user would reach for."""
    p, f = prior.params, prior.family
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
        return loc + p["sign"] * rng.lognormal(math.log(p["scale"]), p["sigma"], n)
    if f == "triangular":
        return rng.triangular(p["min"], p["mode"], p["max"], n)
    if f in ("pert", "beta"):
        a, b, lo, width = _beta_form(prior)
        return lo + width * rng.beta(a, b, n)
    if f == "gamma":
        return p["loc"] + rng.gamma(p["a"], p["scale"], n)
    if f == "discrete":
        return rng.choice(np.asarray(p["values"]), size=n, p=np.asarray(p["weights"]))
    return prior.ppf(rng.random(n))  # truncnormal: inverse CDF, as scipy users do


def draw_inputs(scenario: Scenario, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` draws of every input: independent ones by ``draw_plain``, correlated ones through
    a Gaussian copula (``draw_group``)."""
    grouped = {name: g for g in scenario.groups for name in g.inputs}
    out = {i.name: draw_plain(i.prior, rng, n) for i in scenario.inputs
           if i.name not in grouped}
    priors = {i.name: i.prior for i in scenario.inputs}
    for group in scenario.groups:
        out.update(draw_group(group, priors, rng, n))
    return {i.name: out[i.name] for i in scenario.inputs}


def draw_group(group: Group, priors: dict[str, Distribution], rng: np.random.Generator,
               n: int, tables: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
               ) -> dict[str, np.ndarray]:
    """Correlated inputs: normals through the copula's Cholesky factor, then inverse CDFs
    (interpolated in ``tables`` where one is given)."""
    z = rng.standard_normal((n, len(group.inputs))) @ np.asarray(group.cholesky).T
    u = special.ndtr(z)
    tables = tables or {}
    return {name: np.interp(u[:, k], *tables[name]) if name in tables
            else _inverse_cdf(priors[name], u[:, k]) for k, name in enumerate(group.inputs)}


def _inverse_cdf(prior: Distribution, u: np.ndarray) -> np.ndarray:
    if prior.family in ("pert", "beta"):
        a, b, lo, width = _beta_form(prior)
        return lo + width * special.betaincinv(a, b, u)
    return prior.ppf(u)


def _inverse_cdf_table(prior: Distribution) -> tuple[np.ndarray, np.ndarray]:
    """Knots of a bounded prior's inverse CDF for ``np.interp`` (the tuned baseline)."""
    u = np.linspace(0.0, 1.0, 4097)
    return u, _inverse_cdf(prior, u)


def _beta_form(prior: Distribution) -> tuple[float, float, float, float]:
    p = prior.params
    if prior.family == "beta":
        return p["a"], p["b"], p["loc"], p["scale"]
    a, b = pert_shape(p["min"], p["mode"], p["max"], p["lambda"])
    return a, b, p["min"], p["max"] - p["min"]


def run_plain(scenario: Scenario, draws: int, seed: int, ci: float = 0.9) -> dict:
    """Mean, median and equal-tailed interval of every output, all draws held in memory."""
    rng = np.random.default_rng(seed)
    env = draw_inputs(scenario, rng, draws)
    out = {}
    with np.errstate(all="ignore"):
        for name, formula in scenario.derived:
            env[name] = evaluate(formula.tree, env)
        for o in scenario.outputs:
            x = np.broadcast_to(evaluate(o.formula.tree, env), (draws,))
            x = x[np.isfinite(x)]
            q = np.quantile(x, [0.5, (1 - ci) / 2, (1 + ci) / 2])
            out[o.name] = {"mean": float(x.mean()), "median": float(q[0])}
    return out


# ---------------------------------------------------------------- tuned


def _draw_into(prior: Distribution, rng: np.random.Generator, buf: np.ndarray) -> None:
    p, f = prior.params, prior.family
    if f == "normal":
        rng.standard_normal(out=buf)
        np.multiply(buf, p["scale"], out=buf)
        np.add(buf, p["loc"], out=buf)
    elif f == "lognormal":
        rng.standard_normal(out=buf)
        np.multiply(buf, p["sigma"], out=buf)
        np.add(buf, math.log(p["scale"]), out=buf)
        np.exp(buf, out=buf)
        if not (p["median"] == p["scale"] and p["sign"] > 0):
            np.multiply(buf, p["sign"], out=buf)
            np.add(buf, p["median"] - p["sign"] * p["scale"], out=buf)
    elif f == "uniform":
        rng.random(out=buf)
        np.multiply(buf, p["max"] - p["min"], out=buf)
        np.add(buf, p["min"], out=buf)
    else:
        buf[:] = draw_plain(prior, rng, buf.size)


_UFUNC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "pow": np.power, "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
          "abs": np.abs, "min": np.fmin, "max": np.fmax}


def _eval_into(node: Node, env: dict, pool: list[np.ndarray], out: np.ndarray) -> np.ndarray:
    """Evaluate ``node`` into ``out`` with in-place ufuncs; temporaries come from ``pool``."""
    if isinstance(node, Num):
        out.fill(node.value)
        return out
    if isinstance(node, Name):
        np.copyto(out, env[node.id])
        return out
    assert isinstance(node, Op)
    if node.name not in _UFUNC:
        out[:] = evaluate(node, env)
        return out
    if node.name in CHAINS:  # the left fold, accumulated in ``out``
        first, steps = fold_steps(node)
        acc = _operand(first, env, pool, out)
        for name, term in steps:
            _apply(_UFUNC[name], [acc, _operand(term, env, pool, out)], env, pool, out)
            acc = out
        return out
    _apply(_UFUNC[node.name], [_operand(a, env, pool, out) for a in node.args], env, pool, out)
    return out


def _operand(node: Node, env: dict, pool: list[np.ndarray], like: np.ndarray):
    """A ufunc operand: a number, an input's array, or a temporary from ``pool``."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return env[node.id]
    return _eval_into(node, env, pool, pool.pop() if pool else np.empty_like(like))


def _apply(ufunc, args: list, env: dict, pool: list[np.ndarray], out: np.ndarray) -> None:
    """``ufunc(*args)`` into ``out``; temporaries among ``args`` go back to ``pool``."""
    ufunc(*args, out=out)
    for a in args:
        if isinstance(a, np.ndarray) and a is not out and not any(a is v for v in env.values()):
            pool.append(a)


def _tuned_worker(scenario: Scenario, rng: np.random.Generator, chunks: int, edges: dict):
    grouped = {name for g in scenario.groups for name in g.inputs}
    priors = {i.name: i.prior for i in scenario.inputs}
    tables = {name: _inverse_cdf_table(priors[name]) for name in grouped
              if priors[name].family in ("pert", "beta", "uniform", "triangular")}
    buf = {i.name: np.empty(CHUNK) for i in scenario.inputs}
    buf.update({n: np.empty(CHUNK) for n, _ in scenario.derived})
    outs = {o.name: np.empty(CHUNK) for o in scenario.outputs}
    pool: list[np.ndarray] = []
    acc: dict[str, list[Any]] = {o.name: [0, 0.0, np.zeros(len(edges[o.name]) + 1,
                                                              dtype=np.int64)]
           for o in scenario.outputs}
    with np.errstate(all="ignore"):
        for _ in range(chunks):
            for inp in scenario.inputs:
                if inp.name not in grouped:
                    _draw_into(inp.prior, rng, buf[inp.name])
            for group in scenario.groups:
                for name, values in draw_group(group, priors, rng, CHUNK, tables).items():
                    buf[name][:] = values
            for name, formula in scenario.derived:
                _eval_into(formula.tree, buf, pool, buf[name])
            for o in scenario.outputs:
                x = _eval_into(o.formula.tree, buf, pool, outs[o.name])
                a = acc[o.name]
                a[0] += x.size
                a[1] += float(x.sum())
                a[2] += np.bincount(np.searchsorted(edges[o.name], x), minlength=a[2].size)
    return acc


def run_tuned(scenario: Scenario, draws: int, seed: int, threads: int = 2) -> dict:
    """Means and histogram medians of every output, in 64k chunks on ``threads`` threads."""
    pilot = run_plain_pilot(scenario, seed)
    edges = {name: np.quantile(v, np.linspace(0, 1, 4097)) for name, v in pilot.items()}
    chunks = -(-draws // CHUNK)
    per = [chunks // threads + (k < chunks % threads) for k in range(threads)]
    rngs = np.random.default_rng(seed).spawn(threads)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda k: _tuned_worker(scenario, rngs[k], per[k], edges),
                              range(threads)))
    out = {}
    for o in scenario.outputs:
        n = sum(p[o.name][0] for p in parts)
        counts = sum(p[o.name][2] for p in parts)
        i = int(np.searchsorted(np.cumsum(counts), n / 2))
        e = edges[o.name]
        out[o.name] = {"mean": sum(p[o.name][1] for p in parts) / n,
                       "median": float(e[min(i, len(e) - 1)])}
    return out


def run_plain_pilot(scenario: Scenario, seed: int, n: int = 20_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    env = draw_inputs(scenario, rng, n)
    with np.errstate(all="ignore"):
        for name, formula in scenario.derived:
            env[name] = evaluate(formula.tree, env)
        return {o.name: np.broadcast_to(evaluate(o.formula.tree, env), (n,))
                for o in scenario.outputs}
