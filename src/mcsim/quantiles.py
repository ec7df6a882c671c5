"""Quantiles with their whole error: the exact sample quantile where the histogram could be wrong.

The log-octave histogram (``histogram.py``) interpolates linearly inside a bin 2**-10 wide
relative to |x|. Where the density is smooth across the bin that is far inside the Monte
Carlo error; where it is not (an atom, an end of the distribution inside the bin, a density
that changes a lot from one bin to the next) it can miss by many standard errors. So:

- ``interpolation_error`` bounds what the interpolation can add, from the bin and its two
  neighbours: a density that is linear or curved at the scale of the bins moves a quantile
  by at most ``w * (|slope| + |curvature|) / 8`` (w the bin width, slope and curvature the
  relative first and second differences of the density), and where the draws sit inside the
  bin moves it by ``w * sqrt(f (1 - f) / c)`` (c draws in the bin, the quantile a fraction f
  into it).
- A quantile whose bound exceeds ``REFINE_SHARE`` of its Monte Carlo error, or whose bin holds
  the minimum or maximum, has an empty neighbour, or is not a regular bin, is *refined*:
  the streams are counter-addressed, so further passes regenerate exactly the same draws and
  keep only those inside the window that holds each wanted rank (``exact_order_statistics``).
  A window with more than ``COLLECT_LIMIT`` draws is cut into ``SUB_BINS`` finer bins, and
  the next pass narrows to the one that holds the rank; a window whose draws are all equal is
  an atom, whose value is exact. Memory stays bounded at any number of draws.
- Refined quantiles are the sample quantiles of numpy's ``interpolated_inverted_cdf``
  (Hyndman and Fan's type 4, linear interpolation of the empirical CDF: the histogram's own
  convention), and their standard error is read off exact order statistics too. Unrefined
  quantiles add the interpolation bound to their standard error, in quadrature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numba import prange
from scipy import special

from . import _kernels as K
from ._jit import jit_parallel
from .errors import McsimError
from .histogram import Histogram

REFINE_SHARE = 0.2  # refine when the interpolation could add this share of the Monte Carlo se
COLLECT_LIMIT = 1 << 16  # draws of one window kept in memory to take an order statistic
SUB_BINS = 1 << 12  # finer bins of a window that holds more draws than that
MAX_PASSES = 8  # each narrows a window 4,096-fold; a window of adjacent doubles is an atom
CHUNK_BYTES = 1 << 25  # outputs of the draws evaluated at once in a refinement pass (32 MB)


def check_probabilities(probs) -> tuple[float, ...]:
    """Probabilities strictly between 0 and 1, as floats in the order given, once each."""
    out = []
    for p in probs:
        if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) \
                or not 0 < p < 1:
            raise McsimError(f"quantiles: each must be a probability strictly between 0 and 1 "
                             f"(got {p!r})")
        out.append(float(p))
    return tuple(dict.fromkeys(out))


def parse_probabilities(text: str) -> tuple[float, ...]:
    """``0.001,0.01,0.5,0.99`` as probabilities (``--quantiles``)."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise McsimError(f"--quantiles: {text!r} is not a comma-separated list of "
                         "probabilities (e.g. 0.001,0.5,0.99)") from None
    if not values:
        raise McsimError("--quantiles: give at least one probability (e.g. 0.001,0.5,0.99)")
    try:
        return check_probabilities(values)
    except McsimError as e:
        raise McsimError(f"--{e}") from None


def order_ranks(n: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-based ranks k and k + 1 (clipped to 1..n) and weight g of the type-4 sample quantile
    ``x_(k) + g (x_(k+1) - x_(k))`` with ``k = floor(n p)`` (numpy's
    ``interpolated_inverted_cdf``)."""
    h = n * np.asarray(p, dtype=float)
    k = np.floor(h)
    g = h - k
    return np.clip(k, 1, n).astype(np.int64), np.clip(k + 1, 1, n).astype(np.int64), g


def se_probabilities(n: float, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rank fractions one standard error either side of the p-quantile of n iid draws:
    the Beta(np + 1, n(1 - p) + 1) quantiles at Phi(-1) and Phi(+1) (as
    ``reduce.quantile_se``)."""
    a, b = n * p + 1, n * (1 - p) + 1
    return (special.betaincinv(a, b, special.ndtr(-1.0)),
            special.betaincinv(a, b, special.ndtr(1.0)))


def interpolation_error(hist: Histogram, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each p: the most the bin's linear interpolation can move the quantile, and whether
    the quantile's bin is one the bound cannot speak for (not a regular bin, holds the
    minimum or maximum, or has an empty neighbour)."""
    p = np.atleast_1d(np.asarray(p, dtype=float))
    n = hist.total
    lower, upper, fine, cum = hist._binned
    raw_lower, raw_upper, _ = hist.layout.edges()
    counts = hist.counts.astype(float)
    nonempty = np.flatnonzero(hist.counts)
    i = np.clip(np.searchsorted(cum, p * n, side="left"), nonempty[0], nonempty[-1])
    last = len(counts) - 1
    unsure = ((i <= nonempty[0]) | (i >= nonempty[-1]) | ~fine[i]
              | ~fine[np.maximum(i - 1, 0)] | ~fine[np.minimum(i + 1, last)])
    prev, nxt = np.maximum(i - 1, 0), np.minimum(i + 1, last)
    unsure |= (counts[prev] == 0) | (counts[nxt] == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        density = counts / (raw_upper - raw_lower)
        d0 = density[i]
        slope = (density[nxt] - density[prev]) / (2 * d0)
        curvature = (density[nxt] - 2 * d0 + density[prev]) / d0
        width = upper[i] - lower[i]
        before = np.where(i > 0, cum[i - 1], 0)
        f = np.clip((p * n - before) / counts[i], 0.0, 1.0)
        bound = width * ((np.abs(slope) + np.abs(curvature)) / 8
                         + np.sqrt(f * (1 - f) / counts[i]))
    return np.where(unsure, np.inf, bound), unsure


@dataclass(frozen=True)
class Quantiles:
    """Quantiles of one output: values, standard errors, and which are exact sample quantiles."""

    p: np.ndarray
    value: np.ndarray
    se: np.ndarray
    exact: np.ndarray


def estimate(sim, wanted: Mapping[str, np.ndarray]) -> dict[str, Quantiles]:
    """The ``wanted`` quantiles of each output of ``sim`` with their standard errors; the
    ones the histogram could get wrong are refined into exact sample quantiles (by further
    passes over the same draws, at most one series of passes per call; results are cached in
    ``sim``). Standard errors are the iid ones (``reduce.quantile_se``) plus any
    interpolation error, in quadrature; a caller with replicates replaces them."""
    plans: dict[str, tuple | None] = {}
    ranks: dict[str, set[int]] = {}
    for name, probs in wanted.items():
        hist = sim.outputs[name].histogram
        probs = np.atleast_1d(np.asarray(probs, dtype=float))
        n = hist.total
        if n < 2 or hist.weighted:
            plans[name] = None
            continue
        lo, hi = se_probabilities(n, probs)
        q, _ = hist.quantile(np.concatenate([probs, lo, hi]))
        se_mc = (q[2 * probs.size:] - q[probs.size:2 * probs.size]) / 2
        bound, unsure = interpolation_error(hist, probs)
        refine = unsure | (bound > REFINE_SHARE * se_mc)
        plans[name] = (probs, q[:probs.size], se_mc, bound, refine, lo, hi)
        rs = ranks.setdefault(name, set())
        for pp in (probs[refine], lo[refine], hi[refine]):
            k1, k2, _ = order_ranks(n, pp)
            rs.update(int(r) for r in k1)
            rs.update(int(r) for r in k2)
    cache = sim.refined
    missing = {name: sorted(r for r in rs if (name, r) not in cache)
               for name, rs in ranks.items()}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        cache.update(exact_order_statistics(sim, missing))
    result = {}
    for name, plan in plans.items():
        if plan is None:
            probs = np.atleast_1d(np.asarray(wanted[name], dtype=float))
            hist = sim.outputs[name].histogram
            value, _ = hist.quantile(probs)
            se = np.full(probs.shape, np.nan)
            if hist.weighted and hist.n_eff >= 2:
                se = _weighted_se(hist, probs)
            result[name] = Quantiles(probs, value, se, np.zeros(probs.shape, dtype=bool))
            continue
        probs, value, se_mc, bound, refine, lo, hi = plan
        n = sim.outputs[name].histogram.total

        def exact(pp, name=name, n=n):
            k1, k2, g = order_ranks(n, pp)
            x1 = np.array([cache[name, int(r)] for r in k1])
            x2 = np.array([cache[name, int(r)] for r in k2])
            return np.where(g > 0, x1 + g * (x2 - x1), x1)

        value = value.copy()
        se = np.hypot(se_mc, np.where(refine, 0.0, bound))
        if refine.any():
            value[refine] = exact(probs[refine])
            se[refine] = (exact(hi[refine]) - exact(lo[refine])) / 2
        result[name] = Quantiles(probs, value, se, refine.copy())
    return result


def _weighted_se(hist: Histogram, probs: np.ndarray) -> np.ndarray:
    """Standard errors of a weighted histogram's quantiles: the iid ones at its effective
    number of draws (Kish's), plus the interpolation bound in quadrature."""
    lo, hi = se_probabilities(hist.n_eff, probs)
    q, _ = hist.quantile(np.concatenate([lo, hi]))
    bound, _ = interpolation_error(hist, probs)
    return np.hypot((q[probs.size:] - q[:probs.size]) / 2, np.where(np.isfinite(bound), bound, 0))


def exact_order_statistics(sim, ranks: Mapping[str, list[int]]) -> dict[tuple[str, int], float]:
    """The draws of 1-based ``ranks`` (in ascending order of the finite draws) of each output,
    from passes over the same draws as ``sim``; memory is bounded whatever the draw count."""
    windows: dict[tuple[str, int], tuple[float, float]] = {}
    for name, rs in ranks.items():
        hist = sim.outputs[name].histogram
        lower, upper, _, cum = hist._binned
        for r in rs:
            i = int(np.searchsorted(cum, r, side="left"))
            windows[name, r] = (float(lower[i]), float(upper[i]))
    found: dict[tuple[str, int], float] = {}
    for _ in range(MAX_PASSES):
        if not windows:
            break
        tallies = _pass(sim, {(name, *w) for (name, _), w in windows.items()})
        for key, (a, b) in list(windows.items()):
            name, r = key
            t = tallies[name, a, b]
            rank = r - t.below
            if not 1 <= rank <= t.inside:  # not where the first pass said: search everywhere
                h = sim.outputs[name].histogram
                windows[key] = (h.minimum, h.maximum)
                continue
            if t.inside <= COLLECT_LIMIT:
                found[key] = float(np.partition(t.kept, rank - 1)[rank - 1])
            elif t.low == t.high:
                found[key] = t.low
            else:  # the finer bin that holds the rank, and its neighbours (rounding at edges)
                j = int(np.searchsorted(np.cumsum(t.sub), rank, side="left"))
                step = (b - a) / SUB_BINS
                windows[key] = (max(a, a + (j - 1) * step), min(b, a + (j + 2) * step))
                continue
            del windows[key]
    if windows:  # windows that narrowing cannot split further: their middle
        found.update({key: (a + b) / 2 for key, (a, b) in windows.items()})
    return found


@dataclass(frozen=True)
class _Tally:
    """What a pass learns about one window [a, b]: draws below it, draws inside it, their
    extremes, the draws themselves (when at most ``COLLECT_LIMIT``) and their counts in
    ``SUB_BINS`` finer bins."""

    below: int
    inside: int
    low: float
    high: float
    kept: np.ndarray
    sub: np.ndarray


def _pass(sim, windows: set[tuple[str, float, float]]) -> dict[tuple[str, float, float], _Tally]:
    """One pass over all the draws of ``sim``, evaluating only the outputs that have windows
    (``(output, a, b)``: the closed interval [a, b])."""
    order = sorted(windows)
    names = sorted({name for name, _, _ in order})
    rows = np.array([names.index(name) for name, _, _ in order], dtype=np.int64)
    a = np.array([w[1] for w in order])
    b = np.array([w[2] for w in order])
    n_w = len(order)
    counts = np.zeros((n_w, 2), dtype=np.int64)  # below, inside
    extremes = np.tile([np.inf, -np.inf], (n_w, 1))
    kept = np.empty((n_w, COLLECT_LIMIT))
    sub = np.zeros((n_w, SUB_BINS), dtype=np.int64)
    chunk = K.TILE * max(sim.threads, CHUNK_BYTES // (8 * K.TILE * len(names)))
    for values in sim.regenerate(names, chunk):
        _tally(values, rows, a, b, counts, extremes, kept, sub)
    return {w: _Tally(int(counts[k, 0]), int(counts[k, 1]), float(extremes[k, 0]),
                      float(extremes[k, 1]), kept[k, :min(counts[k, 1], COLLECT_LIMIT)],
                      sub[k]) for k, w in enumerate(order)}


@jit_parallel
def _tally(values, rows, a, b, counts, extremes, kept, sub):
    """Fold the draws ``values[rows[k]]`` into window k's tally: the finite draws below
    ``a[k]``, and of those in [a[k], b[k]] the count, extremes, first ``kept.shape[1]``
    values and counts in ``sub.shape[1]`` equal bins.

    Windows are sorted by row, then by ``a``: each output's row is read once, by one thread
    (so the result does not depend on the number of threads), and a draw counts the windows
    that start at or below it."""
    n_sub = sub.shape[1]
    limit = kept.shape[1]
    starts = np.flatnonzero(np.diff(rows)) + 1
    bounds = np.empty(starts.size + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1] = starts
    bounds[-1] = rows.size
    scale = np.where(b > a, n_sub / (b - a), 0.0)
    for g in prange(bounds.size - 1):
        k0, k1 = bounds[g], bounds[g + 1]
        first = a[k0:k1]
        reach = b[k0:k1].copy()  # the furthest end of windows 0..i
        for i in range(1, reach.size):
            reach[i] = max(reach[i], reach[i - 1])
        starting = np.zeros(k1 - k0 + 1, dtype=np.int64)  # draws with j window starts <= them
        for v in values[rows[k0]]:
            if not np.isfinite(v):  # not ranked (nan, or an infinity)
                continue
            j = 0  # the number of window starts <= v, without branches (few windows)
            for start in first:
                j += start <= v
            starting[j] += 1
            for i in range(j - 1, -1, -1):
                if reach[i] < v:
                    break
                k = k0 + i
                if v <= b[k]:
                    n = counts[k, 1]
                    if n < limit:
                        kept[k, n] = v
                    counts[k, 1] = n + 1
                    extremes[k, 0] = min(extremes[k, 0], v)
                    extremes[k, 1] = max(extremes[k, 1], v)
                    sub[k, min(int((v - a[k]) * scale[k]), n_sub - 1)] += 1
        below = 0
        for i in range(k1 - k0):  # v < a[k] exactly when fewer than i + 1 windows start <= v
            below += starting[i]
            counts[k0 + i, 0] += below
