"""Tornado sensitivity of one output, by every convention users expect, from one run.

Methods, with their sources:

- ``binned``: @RISK's "change in output statistic" (Palisade, *@RISK User's Guide*,
  sensitivity analysis): the mean of the output in each of ``bins`` equal-probability bins of
  an input; the bar spans the lowest to the highest bin mean.
- ``swing``: the decision analyst's tornado (Clemen & Reilly, *Making Hard Decisions*, ch. 5;
  Crystal Ball's tornado chart): every input at its median, one moved to its ``p_low`` and
  ``p_high`` percentiles; the bar spans the output at those two points. Three interior points
  test whether the effect is monotonic.
- ``spearman``: rank correlation of input and output (Iman & Conover 1979, *Technometrics*
  21(4); the sensitivity charts of Crystal Ball and @RISK).
- ``ctv``: contribution to variance as Crystal Ball reports it (Oracle, *Crystal Ball User's
  Guide*, sensitivity charts): the normalised squared rank correlation, signed. It sums to
  100% by construction; it is not a variance decomposition.
- ``s1``: first-order variance share Var(E[Y | X_i]) / Var(Y) (the correlation ratio; Saltelli
  et al. 2008, *Global Sensitivity Analysis: The Primer*, ch. 4), from ``10 * bins`` fine
  bins, bias-corrected for their number.
- ``tail``: for draws where the output exceeds its P90, how far the input's median moves, in
  percentile points of the input's own distribution (and in its units): Monte Carlo
  filtering (Saltelli et al. 2008, ch. 5).
- ``st``: Sobol' total-effect index E[Var(Y | X_~i)] / Var(Y), all of an input's effect,
  interactions included, by pick-freeze (Jansen's estimator; Saltelli et al. 2010, *Computer
  Physics Communications* 181). Not from the same pass: the "B" sample is every input's
  stream re-keyed, and input i's column of B is swapped in by re-keying its stream alone,
  inside the kernel, so it costs (d + 2) x N evaluations and no stored draws.

All but ``swing`` and ``st`` come from the same Monte Carlo draws, in bounded memory: an
input's uniform is already its rank, so bins and rank statistics need neither sorting nor stored
draws. Errors are batch means over up to 16 interleaved batches of iid draws (blocks of 256
draws, so runs under 512 draws get no error bars; ``st`` likewise); ``swing`` is exact. A
statistic within 3 standard errors of zero is marked negligible and ranks last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, special

from . import _kernels as K
from ._codes import BLOCK
from .engine import Progress, evaluate_at, new_seed, simulate, using_threads
from .errors import McsimError, did_you_mean
from .executors import Executor
from .histogram import Histogram
from .program import compile_program, stream_key
from .scenario import Scenario

METHODS = ("binned", "swing", "spearman", "ctv", "s1", "tail", "st")
DEFAULT_METHODS = METHODS[:-1]  # st costs (d + 2) passes more: asked for by name only
# under evidence, why a method has no weighted form (the others weight every draw)
UNWEIGHTED = {
    "swing": "it moves inputs over their prior percentiles",
    "st": "pick-freeze mixes inputs from two independent draws, and a weight belongs to one "
          "whole draw",
}
WEIGHTED_METHODS = tuple(m for m in DEFAULT_METHODS if m not in UNWEIGHTED)
BATCHES = 16  # batch-means batches (fewer when there are fewer blocks of draws)
NEGLIGIBLE_SE = 3  # a statistic within this many standard errors of zero counts as zero
FINE_PER_BIN = 10
TAIL_QUANTILE = 0.90
COLUMNS = ["output", "input", "method", "low", "high", "value", "se", "negligible", "rank",
           "rank_spread", "disagrees", "monotonic", "detail", "p_low", "p_high", "bins",
           "tail_quantile", "tail_threshold", "draws", "seed"]


@dataclass(frozen=True)
class Tornado:
    """Sensitivity of ``output`` to every sampled input, by each method in ``methods``."""

    scenario: str
    output: str
    unit: str
    draws: int
    seed: int
    methods: tuple[str, ...]
    percentiles: tuple[float, float]
    bins: int
    baseline: float  # the output with every input at its median (the swing's base case)
    median: float  # the output's median over the draws
    mean: float  # the output's mean over the draws (what the binned means scatter around)
    tail_quantile: float  # the tail method looks at draws above this quantile of the output
    tail_threshold: float  # ... which is this value
    table: pd.DataFrame
    notes: tuple[str, ...]

    def __repr__(self) -> str:
        top = ", ".join(self.ranking()[:3])
        return (f"<Tornado of {self.output!r} in {self.scenario!r}: {self.draws:,} draws, seed "
                f"{self.seed}; by {self.methods[0]}: {top}, ...; .to_frame()>")

    def _repr_html_(self) -> str:
        """A notebook's view: inputs in rank order, one column per method."""
        from html import escape

        wide = self.table.pivot(index="input", columns="method", values="value")
        wide = wide.loc[self.ranking(), list(self.methods)]
        return f"<p>{escape(repr(self))}</p>\n{wide.to_html()}"

    def to_frame(self) -> pd.DataFrame:
        """One row per input and method (tidy), with the run's settings repeated per row."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "output": self.output, "draws": self.draws,
                "seed": self.seed, "methods": list(self.methods), "notes": list(self.notes),
                "rows": self.table.to_dict(orient="records")}

    def ranking(self) -> list[str]:
        """Inputs from most to least influential by the first method."""
        first = self.table[self.table["method"] == self.methods[0]]
        return first.sort_values("rank")["input"].tolist()


def check_settings(methods: tuple[str, ...], percentiles: tuple[float, float],
                   bins: int) -> None:
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise McsimError(f"--methods: unknown {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(METHODS)}")
    lo, hi = percentiles
    if not 0 < lo < 50 < hi < 100:
        raise McsimError(f"--percentiles: need 0 < low < 50 < high < 100 (got {lo:g}, {hi:g})")
    if not 2 <= bins <= 100:
        raise McsimError(f"--bins: must be between 2 and 100 (got {bins})")


def methods_for(scenario: Scenario, methods: tuple[str, ...] | None) -> tuple[str, ...]:
    """``methods``, or by default ``DEFAULT_METHODS`` (``WEIGHTED_METHODS`` under evidence);
    under evidence, a method asked for by name that has no weighted form is refused."""
    if methods is None:
        return WEIGHTED_METHODS if scenario.evidence else DEFAULT_METHODS
    refused = [m for m in methods if m in UNWEIGHTED] if scenario.evidence else []
    if refused:
        why = "; ".join(f"{m} has no weighted form under evidence ({UNWEIGHTED[m]})"
                        for m in refused)
        raise McsimError(f"--methods: {why}; use {', '.join(WEIGHTED_METHODS)}, or "
                         "--no-evidence")
    return methods


def tornado(scenario: Scenario, output: str, draws: int, seed: int | None,
            methods: tuple[str, ...] | None = None,
            percentiles: tuple[float, float] = (10, 90), bins: int = 10, threads: int | None = None,
            progress: Progress | None = None, inputs: tuple[str, ...] | None = None, *,
            executor: Executor | None = None) -> Tornado:
    """Rank the inputs of ``scenario`` (or only ``inputs``) by their influence on ``output``.

    The methods but ``st`` cost two passes of ``draws``; ``st`` adds (d + 2) more, for the
    d inputs ranked. Under evidence every statistic is of the posterior (the draws weighted by
    the evidence); ``methods`` defaults to those that have a weighted form (``methods_for``).
    ``executor`` (``executors.py``) runs the first pass (the moments and histogram of
    ``output``); the other passes run on this machine's ``threads``: their kernels keep
    per-tile sums of every input's bins, which would make a task's result hundreds of
    kilobytes per tile.
    """
    methods = methods_for(scenario, methods)
    check_settings(methods, percentiles, bins)
    seed = new_seed() if seed is None else seed
    out = scenario.output(output)
    single = scenario.only(output)
    inputs = uncertain_inputs(scenario, inputs)
    passes = 2 + (len(inputs) + 2 if "st" in methods else 0)
    first = simulate(single, draws, seed=seed, threads=threads, executor=executor,
                     progress=None if progress is None else lambda d, n: progress(d, passes * n))
    stats = first.outputs[output]
    if stats.count < 2:
        raise McsimError(f"{output}: fewer than two finite draws; nothing to rank")
    if stats.minimum == stats.maximum:
        raise McsimError(f"{output}: the output is constant ({stats.minimum:g}); "
                         "nothing to rank")
    tail_at = float(stats.histogram.quantile(TAIL_QUANTILE)[0][0])
    blocks = -(-draws // BLOCK)
    second = None if progress is None else (lambda d, n: progress(n + d, passes * n))
    sums = stream_sensitivity(scenario, output, inputs, draws, seed, stats.histogram, tail_at,
                              bins * FINE_PER_BIN, max(2, min(BATCHES, blocks)), threads,
                              second)
    rows: list[dict] = []
    if "binned" in methods:
        rows += _binned(sums, inputs, bins)
    if "swing" in methods:
        swing_rows, baseline = _swing(scenario, output, inputs, percentiles, threads)
        rows += swing_rows
    else:
        baseline = math.nan
    if {"spearman", "ctv"} & set(methods):
        rows += [r for r in _rank_correlation(sums, inputs) if r["method"] in methods]
    if "s1" in methods:
        rows += _first_order(sums, inputs)
    if "tail" in methods:
        rows += _tail(scenario, sums, inputs)
    if "st" in methods:
        later = None if progress is None else (
            lambda d, n: progress(2 * n + d * (len(inputs) + 2), passes * n))
        pf = stream_pick_freeze(scenario, output, inputs, draws, seed, sums.shift,
                                max(2, min(BATCHES, blocks)), threads, later)
        rows += _total_order(scenario, pf, inputs)
    table = _rank(pd.DataFrame(rows), methods)
    for key, value in {"output": output, "p_low": percentiles[0], "p_high": percentiles[1],
                       "bins": bins, "tail_quantile": TAIL_QUANTILE, "tail_threshold": tail_at,
                       "draws": draws, "seed": seed}.items():
        table[key] = value
    table = table[COLUMNS]
    notes = _explain(table, sums, inputs, methods)
    if stats.ess is not None:
        notes.insert(0, f"Posterior: every draw weighted by the evidence (effective sample "
                        f"size {stats.ess:,.0f} of {draws:,} draws); bins, ranks and the "
                        "tail are the posterior's.")
    return Tornado(scenario=scenario.name, output=output, unit=out.unit, draws=draws,
                   seed=seed, methods=tuple(methods), percentiles=percentiles, bins=bins,
                   baseline=baseline, median=float(stats.histogram.quantile(0.5)[0][0]),
                   mean=stats.mean, tail_quantile=TAIL_QUANTILE, tail_threshold=tail_at,
                   table=table, notes=tuple(notes))


def uncertain_inputs(scenario: Scenario, names: tuple[str, ...] | None) -> tuple[str, ...]:
    """The inputs to rank: ``names`` (checked), or every input that is not a constant."""
    uncertain = tuple(i.name for i in scenario.inputs if not i.prior.is_constant)
    if names is None:
        if not uncertain:
            raise McsimError("the scenario has no uncertain inputs to rank")
        return uncertain
    if not names:
        raise McsimError("--inputs: name at least one input")
    for name in names:
        if name not in uncertain:
            what = "is a constant" if name in scenario.input_names else "is not an input"
            raise McsimError(f"--inputs: {name!r} {what}{did_you_mean(name, uncertain)}; "
                             f"uncertain inputs: {', '.join(uncertain)}")
    return tuple(dict.fromkeys(names))


# ---------------------------------------------------------------- the second pass


@dataclass(frozen=True)
class SensitivitySums:
    """Accumulators of ``_kernels.sensitivity_tiles`` (see its docstring for the layout)."""

    bins: np.ndarray  # [K, D, F, 4]: count, sum and sum of squares of y - shift, tail count
    corr: np.ndarray  # [K, D, 3]: sum u, sum u**2, sum u * rank(y)
    y: np.ndarray  # [K, 3]: count, sum rank(y), sum rank(y)**2
    shift: float
    # under evidence (counts above are then sums of weights): [K, D, F, 5] sums of w**2, w u,
    # w u**2, w rank(y), w u rank(y) per fine bin
    weights: np.ndarray | None = None

    def squares(self) -> np.ndarray | None:
        """Per fine bin, the sum of the squared weights ([K, D, F]; None: unweighted)."""
        return None if self.weights is None else self.weights[..., 0]


def stream_sensitivity(scenario: Scenario, output: str, inputs: tuple[str, ...], draws: int,
                       seed: int, histogram: Histogram, tail_at: float, fine_bins: int,
                       batches: int, threads: int | None = None,
                       progress: Progress | None = None) -> SensitivitySums:
    """Second pass over the same draws as ``simulate``: sums binned by each input's uniform.

    ``histogram`` (of ``output``, from the first pass) turns each y into its rank. Under
    evidence, each draw counts with its weight and ``histogram`` is the posterior's.
    """
    prog = compile_program(scenario.only(output), seed, keep_uniforms=True)
    weighted = prog.weight_reg >= 0
    u_regs = np.asarray([prog.uniforms.get(name, -1) for name in inputs], dtype=np.int64)
    lower, upper, before, counts = histogram.rank_table()
    shift = float(histogram.quantile(0.5)[0][0])
    s_keys = np.asarray([stream_key(seed, name) for name in inputs], dtype=np.uint64)
    bins = np.zeros((batches, len(inputs), fine_bins, 4))
    corr = np.zeros((batches, len(inputs), 3))
    y = np.zeros((batches, 3))
    weights = np.zeros((batches, len(inputs), fine_bins, 5) if weighted else (0, 0, 0, 5))
    layout = np.asarray(histogram.layout.as_row(), dtype=np.int64)
    for tile0, count, n_threads in _tile_batches(draws, threads, progress):
        K.sensitivity_tiles(*prog.kernel_args, int(prog.out_regs[0]), s_keys, u_regs, layout,
                            histogram.layout.sub_bits, lower, upper, before, counts,
                            float(histogram.total), shift, tail_at, draws, tile0, count,
                            bins, corr, y, n_threads, prog.weight_reg, weights)
    return SensitivitySums(bins=bins, corr=corr, y=y, shift=shift,
                           weights=weights if weighted else None)


def _tile_batches(draws: int, threads: int | None, progress: Progress | None):
    """``(first tile, tiles, threads)`` of each kernel call of a streaming pass (two tiles per
    thread), run inside ``using_threads``; ``progress`` is told after each call."""
    n_tiles = -(-draws // K.TILE)
    with using_threads(threads) as n_threads:
        step = 2 * n_threads
        for tile0 in range(0, n_tiles, step):
            count = min(step, n_tiles - tile0)
            yield tile0, count, n_threads
            if progress is not None:
                progress(min((tile0 + count) * K.TILE, draws), draws)


# ---------------------------------------------------------------- methods from the draws


def _moments(bins: np.ndarray, squares: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Effective count, mean and variance (about the mean) per bin, from [.., F, 4] sums; with
    the sums of squared weights ``squares`` [.., F], the weighted ones (Kish's count, the
    reliability-weights variance)."""
    n = bins[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = bins[..., 1] / n
        if squares is None:
            return n, mean, (bins[..., 2] - bins[..., 1] * mean) / (n - 1)
        var = (bins[..., 2] - bins[..., 1] * mean) / (n - squares / n)
        return n * n / squares, mean, var


def expected_range(n: int) -> float:
    """Mean range of ``n`` iid standard normals: the spread of bin means from noise alone."""
    def integrand(x: float) -> float:
        p = special.ndtr(x)
        return 1.0 - p**n - (1.0 - p) ** n

    return float(integrate.quad(integrand, -np.inf, np.inf)[0])


def _binned(sums, inputs, n_bins: int) -> list[dict]:
    total = sums.bins.sum(axis=0)  # [D, F, 4]
    coarse = total.reshape(len(inputs), n_bins, -1, 4).sum(axis=2)  # [D, B, 4]
    squares = sums.squares()
    if squares is not None:
        squares = squares.sum(axis=0).reshape(len(inputs), n_bins, -1).sum(axis=2)
    n, mean, var = _moments(coarse, squares)
    se = np.sqrt(var / n)
    noise = expected_range(n_bins)
    rows = []
    for i, name in enumerate(inputs):
        lo, hi = int(np.nanargmin(mean[i])), int(np.nanargmax(mean[i]))
        direction = 1.0 if mean[i, -1] >= mean[i, 0] else -1.0
        spread = float(mean[i, hi] - mean[i, lo])
        spread_se = float(np.hypot(se[i, lo], se[i, hi]))
        rows.append({"input": name, "method": "binned", "low": mean[i, lo] + sums.shift,
                     "high": mean[i, hi] + sums.shift, "value": direction * spread,
                     "se": spread_se,
                     "negligible": spread <= noise * float(np.nanmean(se[i]))
                     + NEGLIGIBLE_SE * spread_se,
                     "detail": f"{n_bins} equal-probability bins; low/high = lowest/highest "
                               f"bin mean (bins {lo + 1} and {hi + 1}); sign: whether the "
                               "top bin's mean exceeds the bottom bin's"})
    return rows


def _first_order_share(bins: np.ndarray, squares: np.ndarray | None = None) -> np.ndarray:
    """Bias-corrected correlation ratio per input from [.., D, F, 4] sums (weighted, with
    the sums of squared weights ``squares`` [.., D, F])."""
    n = bins[..., 0]
    s1 = bins[..., 1]
    s2 = bins[..., 2]
    n_tot = n.sum(axis=-1)
    grand = s1.sum(axis=-1) / n_tot
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.where(n > 0, s1 * s1 / n, 0.0).sum(axis=-1) - n_tot * grand**2
        total = s2.sum(axis=-1) - n_tot * grand**2
        raw = between / total
        if squares is None:  # E[raw] = S1 + k (1 - S1) under noise
            k = (np.count_nonzero(n, axis=-1) - 1) / n_tot
        else:  # E[between] = var (sum_f W2_f / W_f - W2 / W) under noise: 0/1 weights
            w2 = squares.sum(axis=-1)  # give the unweighted k of the kept draws
            k = (np.where(n > 0, squares / n, 0.0).sum(axis=-1) - w2 / n_tot) / n_tot
        return (raw - k) / (1 - k)


def _first_order(sums, inputs) -> list[dict]:
    squares = sums.squares()
    point = _first_order_share(sums.bins.sum(axis=0),
                               None if squares is None else squares.sum(axis=0))
    per_batch = _first_order_share(sums.bins, squares)  # [K, D]
    se = per_batch.std(axis=0, ddof=1) / math.sqrt(per_batch.shape[0])
    fine = sums.bins.shape[2]
    return [{"input": name, "method": "s1", "low": np.nan, "high": np.nan,
             "value": float(point[i]), "se": float(se[i]),
             "detail": f"Var(E[Y|X]) / Var(Y) from {fine} equal-probability bins, "
                       "bias-corrected; batch-means error"}
            for i, name in enumerate(inputs)]


def _spearman(corr: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rank correlation per input from [.., D, 3] and [.., 3] sums."""
    n = y[..., 0][..., None]
    su, suu, sur = corr[..., 0], corr[..., 1], corr[..., 2]
    sr, srr = y[..., 1][..., None], y[..., 2][..., None]
    cov = sur / n - (su / n) * (sr / n)
    var_u = suu / n - (su / n) ** 2
    var_r = srr / n - (sr / n) ** 2
    return cov / np.sqrt(var_u * var_r)


def _rank_correlation(sums, inputs) -> list[dict]:
    """Spearman's rho per input, and ctv, its normalised square, with batch-means errors.

    ctv carries rho's error too: it is zero exactly when rho is, so it is negligible when rho
    is; and its error is never below that of rho**2 for rho ~ N(rho, se**2), sqrt(4 rho**2
    se**2 + 2 se**4), over the normaliser. Near rho = 0 the batches' squares all sit near 0
    and their spread says nothing (ctv of 56% was shown for an input whose rho was 0).
    """
    corr = sums.corr if sums.weights is None else _posterior_rank_sums(sums)
    rho = _spearman(corr.sum(axis=0), sums.y.sum(axis=0))
    rho_b = _spearman(corr, sums.y)  # [K, D]
    k = rho_b.shape[0]
    norm = np.sum(rho**2)
    ctv = np.sign(rho) * rho**2 / norm
    ctv_b = np.sign(rho_b) * rho_b**2 / np.sum(rho_b**2, axis=1, keepdims=True)
    se_rho = rho_b.std(axis=0, ddof=1) / math.sqrt(k)
    se_square = np.sqrt(4 * rho**2 * se_rho**2 + 2 * se_rho**4)
    se_ctv = np.maximum(ctv_b.std(axis=0, ddof=1) / math.sqrt(k), se_square / norm)
    rho_negligible = np.abs(rho) <= NEGLIGIBLE_SE * se_rho
    rows = []
    for i, name in enumerate(inputs):
        rows.append({"input": name, "method": "spearman", "low": np.nan, "high": np.nan,
                     "value": float(rho[i]), "se": float(se_rho[i]),
                     "detail": "Spearman rank correlation; batch-means error"})
        rows.append({"input": name, "method": "ctv", "low": np.nan, "high": np.nan,
                     "value": float(ctv[i]), "se": float(se_ctv[i]),
                     "negligible": bool(rho_negligible[i]),
                     "detail": "normalised squared rank correlation, signed; sums to 100% "
                               "by construction, not a variance decomposition"})
    return rows


def _rank_lines(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The posterior CDF G of each input's uniform, linear within each of its F fine bins
    (as F(y) is within a histogram bin), from the bins' weights [D, F]: per bin, the
    intercept and slope of G in u ([D, F] each)."""
    fine = weights.shape[-1]
    total = weights.sum(axis=-1, keepdims=True)
    slope = weights / total * fine
    start = (np.cumsum(weights, axis=-1) - weights) / total  # G at each bin's left edge
    return start - slope * np.arange(fine) / fine, slope


def _posterior_rank(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """G(u) (see ``_rank_lines``) at uniforms ``u`` [.., D]."""
    intercept, slope = _rank_lines(weights)
    f = np.minimum((u * weights.shape[-1]).astype(np.int64), weights.shape[-1] - 1)
    d = np.arange(weights.shape[0])
    return intercept[d, f] + slope[d, f] * u


def _posterior_rank_sums(sums: SensitivitySums) -> np.ndarray:
    """Under evidence, the ``corr`` sums [K, D, 3] with each input's posterior rank G(u) in
    place of its prior rank u: weighted sums of G, G**2 and G r, exact for G linear within
    each fine bin (from the per-bin sums of w, w u, w u**2, w r, w u r)."""
    assert sums.weights is not None
    w = sums.bins[..., 0]
    a, g = _rank_lines(w.sum(axis=0))
    _, su, suu, sr, sur = np.moveaxis(sums.weights, -1, 0)
    return np.stack([(a * w + g * su).sum(axis=-1),
                     (a * a * w + 2 * a * g * su + g * g * suu).sum(axis=-1),
                     (a * sr + g * sur).sum(axis=-1)], axis=-1)


def _tail_median_u(tail_counts: np.ndarray) -> np.ndarray:
    """Median of an input's uniform among tail draws, from counts in F fine bins [.., F]."""
    fine = tail_counts.shape[-1]
    cum = np.cumsum(tail_counts, axis=-1)
    half = cum[..., -1:] / 2
    idx = np.minimum((cum < half).sum(axis=-1), fine - 1)
    before = np.where(idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None],
                                                  axis=-1)[..., 0], 0.0)
    inside = np.take_along_axis(tail_counts, idx[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(inside > 0, (half[..., 0] - before) / inside, 0.5)
    return (idx + frac) / fine


def _tail(scenario, sums, inputs) -> list[dict]:
    u_med = _tail_median_u(sums.bins[..., 3].sum(axis=0))  # [D]
    u_b = _tail_median_u(sums.bins[..., 3])  # [K, D]
    u_mid = np.full(len(inputs), 0.5)  # the input's median, as its prior uniform
    whose = "the input"
    if sums.weights is not None:  # percentile points of the input's posterior
        weights = sums.bins[..., 0].sum(axis=0)
        u_mid = _tail_median_u(weights)
        point = _posterior_rank(weights, u_med)
        u_b = _posterior_rank(weights, u_b)
        whose = "the input's posterior"
    else:
        point = u_med
    se = 100 * u_b.std(axis=0, ddof=1) / math.sqrt(u_b.shape[0])
    rows = []
    for i, name in enumerate(inputs):
        prior = scenario.input(name).prior
        base, moved = (float(v) for v in prior.ppf([u_mid[i], u_med[i]]))
        rows.append({"input": name, "method": "tail", "low": base, "high": moved,
                     "value": float(100 * (point[i] - 0.5)), "se": float(se[i]),
                     "detail": f"median of the input when the output exceeds its "
                               f"P{100 * TAIL_QUANTILE:g}, in percentile points of {whose} "
                               "(low/high: its overall and its tail median, in its units)"})
    return rows


# ---------------------------------------------------------------- total effects (pick-freeze)


@dataclass(frozen=True)
class PickFreezeSums:
    """Accumulators of ``_kernels.pick_freeze_tiles`` (see its docstring for the layout)."""

    y: np.ndarray  # [K, 5]: count, sum a, sum a**2, sum b, sum b**2 (a, b: y_A, y_B - shift)
    pf: np.ndarray  # [K, D, 3]: count, sum (y_A - y_i)**2, sum b * (y_i - y_A)


def resampled_key(seed: int, name: str) -> np.uint64:
    """The key of input ``name``'s stream in the pick-freeze "B" sample: independent of every
    stream of the run (no input's name holds a NUL)."""
    return stream_key(seed, f"{name}\x00resampled")


def stream_pick_freeze(scenario: Scenario, output: str, inputs: tuple[str, ...], draws: int,
                       seed: int, shift: float, batches: int, threads: int | None = None,
                       progress: Progress | None = None) -> PickFreezeSums:
    """A pass of (2 + len(inputs)) x ``draws`` evaluations: the run's draws (A), the same with
    every stream re-keyed (B), and A with each input's stream taken from B."""
    prog = compile_program(scenario.only(output), seed)
    b_keys = np.asarray([resampled_key(seed, name) for name in prog.streams], dtype=np.uint64)
    studied = np.asarray([prog.streams.index(n) if n in prog.streams else -1 for n in inputs],
                         dtype=np.int64)
    y = np.zeros((batches, 5))
    pf = np.zeros((batches, len(inputs), 3))
    for tile0, count, n_threads in _tile_batches(draws, threads, progress):
        K.pick_freeze_tiles(*prog.kernel_args, int(prog.out_regs[0]), b_keys, studied,
                            shift, draws, tile0, count, y, pf, n_threads)
    return PickFreezeSums(y=y, pf=pf)


def _pick_freeze_indices(y: np.ndarray, pf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total-effect (Jansen) and first-order (Saltelli 2010) indices from [.., 5] and
    [.., D, 3] sums; Var(Y) from the A and B samples pooled."""
    n = 2 * y[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (y[..., 1] + y[..., 3]) / n
        var = ((y[..., 2] + y[..., 4]) - n * mean**2) / (n - 1)
        count = pf[..., 0]
        total = pf[..., 1] / (2 * count) / var[..., None]
        first = pf[..., 2] / count / var[..., None]
    return total, first


def _total_order(scenario: Scenario, sums: PickFreezeSums, inputs) -> list[dict]:
    total, first = _pick_freeze_indices(sums.y.sum(axis=0), sums.pf.sum(axis=0))
    total_b, first_b = _pick_freeze_indices(sums.y, sums.pf)  # [K, D]
    k = total_b.shape[0]
    se = total_b.std(axis=0, ddof=1) / math.sqrt(k)
    se_first = first_b.std(axis=0, ddof=1) / math.sqrt(k)
    correlated = {name for g in scenario.groups for name in g.inputs}
    rows = []
    for i, name in enumerate(inputs):
        detail = (f"total effect E[Var(Y|X~i)] / Var(Y), Jansen's pick-freeze estimator, "
                  f"(d + 2) x N evaluations (d = {len(inputs)}); batch-means error; "
                  f"pick-freeze first order {first[i]:.4f} +- {se_first[i]:.4f}")
        if name in correlated:
            detail += ("; correlated input: re-keying its stream moves the inputs correlated "
                       "with it too, so this is the effect of its own randomness")
        rows.append({"input": name, "method": "st", "low": np.nan, "high": np.nan,
                     "value": float(total[i]), "se": float(se[i]),
                     "negligible": bool(abs(total[i]) <= NEGLIGIBLE_SE * se[i]),
                     "detail": detail})
    return rows


# ---------------------------------------------------------------- swing (one at a time)


def _swing(scenario, output, inputs, percentiles, threads) -> tuple[list[dict], float]:
    lo, hi = percentiles
    points = np.array([lo, (lo + 50) / 2, 50, (50 + hi) / 2, hi]) / 100
    medians = {i.name: float(i.prior.ppf(0.5)) for i in scenario.inputs}
    design = [dict(medians)]
    for name in inputs:
        values = scenario.input(name).prior.ppf(points)
        for v in values:
            design.append({**medians, name: float(v)})
    y = evaluate_at(scenario, pd.DataFrame(design), names=(output,), threads=threads)[output]
    y = y.to_numpy()
    baseline = float(y[0])
    rows = []
    for i, name in enumerate(inputs):
        ys = y[1 + 5 * i: 6 + 5 * i]
        steps = np.diff(ys)
        tol = 1e-12 * max(np.max(np.abs(ys)), 1e-300)
        monotonic = bool(np.all(steps >= -tol) or np.all(steps <= tol))
        rows.append({"input": name, "method": "swing", "low": float(ys[0]),
                     "high": float(ys[-1]), "value": float(ys[-1] - ys[0]), "se": 0.0,
                     "negligible": bool(np.all(np.abs(ys - baseline) <= tol)),
                     "monotonic": monotonic,
                     "detail": f"others at their medians; this input at P{percentiles[0]:g} "
                               f"and P{percentiles[1]:g}"
                               + ("" if monotonic else "; NOT monotonic between them")})
    return rows, baseline


# ---------------------------------------------------------------- ranks and explanations


def _rank(table: pd.DataFrame, methods: tuple[str, ...]) -> pd.DataFrame:
    """Rank inputs within each method by |value|; values indistinguishable from zero tie last.

    ``rank_spread`` is the largest difference between an input's ranks over the methods that
    tell any input from zero: a method that finds every value negligible (every swing 0 when
    all the medians sit where the output is flat) ranks nothing, and its tie would otherwise
    put every input first.
    """
    table = table.copy()
    if "monotonic" not in table:
        table["monotonic"] = np.nan
    table["monotonic"] = table["monotonic"].astype(object)
    statistical = table["method"].isin(["spearman", "ctv", "s1", "tail"])
    within_error = statistical & (table["value"].abs() <= NEGLIGIBLE_SE * table["se"])
    flagged = table["negligible"] if "negligible" in table else pd.Series(False, table.index)
    table["negligible"] = flagged.fillna(False).astype(bool) | within_error
    size = table["value"].abs().where(~table["negligible"], 0.0)
    table["rank"] = (table.assign(size=size).groupby("method")["size"]
                     .rank(ascending=False, method="min").astype(int))
    informative = ~table.groupby("method")["negligible"].transform("all")
    spread = (table[informative].groupby("input")["rank"].agg(lambda r: int(r.max() - r.min()))
              .reindex(table["input"].unique(), fill_value=0))
    table["rank_spread"] = table["input"].map(spread)
    n_inputs = table["input"].nunique()
    table["disagrees"] = table["rank_spread"] >= max(3, math.ceil(n_inputs / 4))
    order = {m: k for k, m in enumerate(methods)}
    first = table[table["method"] == methods[0]].set_index("input")["rank"]
    table["_m"] = table["method"].map(order)
    table["_r"] = table["input"].map(first)
    return table.sort_values(["_r", "input", "_m"]).drop(columns=["_m", "_r"]).reset_index(
        drop=True)


def _explain(table: pd.DataFrame, sums, inputs, methods) -> list[str]:
    """Plain-language reasons where the methods disagree."""
    notes = []
    value = table.pivot(index="input", columns="method", values="value")
    se = table.pivot(index="input", columns="method", values="se")
    negligible = table.pivot(index="input", columns="method", values="negligible")
    for method in [m for m in methods if negligible[m].all()]:
        notes.append(f"{method}: no input's value is distinguishable from zero"
                     + (" (the output does not move when one input moves with the others at "
                        "their medians)" if method == "swing" else "")
                     + "; its ranks are left out of the comparison between methods.")
    if "s1" in value:
        total = float(value["s1"].sum())
        if total < 0.9:
            notes.append(f"First-order shares sum to {total:.0%}: the other {1 - total:.0%} of "
                         "the output's variance comes from interactions between inputs, which "
                         "one-at-a-time bars cannot show.")
    for name in table.loc[table["disagrees"], "input"].unique():
        reasons = []
        if {"s1", "spearman"} <= set(value) and (
                value.at[name, "s1"] - value.at[name, "spearman"] ** 2
                > 3 * se.at[name, "s1"] + 0.02):
            reasons.append("its effect is not monotonic, so rank correlation understates it")
        if "swing" in value and table.loc[(table["input"] == name)
                                          & (table["method"] == "swing"), "monotonic"].eq(
                                              False).any():
            reasons.append("the swing is not monotonic between its percentiles")
        if {"swing", "binned"} <= set(value):
            ranks = table[table["input"] == name].set_index("method")["rank"]
            if ranks["swing"] + 2 < ranks["binned"] and not negligible.at[name, "swing"]:
                reasons.append("its swing around the base case is large but its average "
                               "effect is small: it matters mostly in combination with "
                               "other inputs (interaction) or at the base case only")
            elif ranks["binned"] + 2 < ranks["swing"] and not negligible.at[name, "binned"]:
                reasons.append("its average effect exceeds its swing at the base case: the "
                               "effect grows when other inputs move (interaction) or lies "
                               "outside the P-low/P-high range")
        if not reasons:
            reasons.append("the methods weigh nonlinearity and interactions differently")
        notes.append(f"{name}: ranks differ between methods; " + "; ".join(reasons) + ".")
    return notes
