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

Under evidence each draw has a weight, counted as the kernel counts it: a whole number of
units of 2**-WEIGHT_BITS (``evidence.weight_units``); draws of weight zero never count. The
weighted p-quantile is type 4 on the empirical CDF of the weights: sort the finite draws of
positive weight, x_(1) <= ... <= x_(n) (ties in draw order), with weights w_(i), cumulative
weights S_i (S_0 = 0) and total W = S_n; then it is

    x_(i) + (p W - S_i) / w_(i+1) * (x_(i+1) - x_(i))    where S_i <= p W < S_(i+1)

(x_(1) when i = 0). The S_i are exact integers; p W is rounded to a double once, as numpy
rounds n p, so with equal weights it is numpy's type 4 bit for bit. It is refined like the
plain one, with windows found from the histogram's cumulative weights: a pass tallies the
weight below each window (exact integers), the largest draw below it (x_(i) when x_(i+1) is
the window's first) and inside it the draws with their weights, or their weight in finer
bins. Its standard error is read off exact quantiles at the Beta probabilities of the
effective number of draws (Kish's) in place of n.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numba import prange
from scipy import special

from . import _kernels as K
from ._jit import jit_parallel
from .errors import McsimError
from .evidence import WEIGHT_BITS
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
        # a weighted bin holds weight, not draws: its effective draws, at the run's share
        draws = counts[i] * (hist.n_eff / n) if hist.weighted else counts[i]
        bound = width * ((np.abs(slope) + np.abs(curvature)) / 8
                         + np.sqrt(f * (1 - f) / draws))
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
    ``sim``: by (output, rank) for plain draws, by (output, p) for weighted ones). Standard
    errors are the iid ones (``reduce.quantile_se``, at the effective number of draws under
    evidence) plus any interpolation error, in quadrature; a caller with replicates replaces
    them."""
    plans: dict[str, tuple | None] = {}
    ranks: dict[str, set[int]] = {}
    weighted: dict[str, set[float]] = {}
    for name, probs in wanted.items():
        hist = sim.outputs[name].histogram
        probs = np.atleast_1d(np.asarray(probs, dtype=float))
        if hist.n_eff < 2:
            plans[name] = None
            continue
        lo, hi = se_probabilities(hist.n_eff, probs)
        q, _ = hist.quantile(np.concatenate([probs, lo, hi]))
        se_mc = (q[2 * probs.size:] - q[probs.size:2 * probs.size]) / 2
        bound, unsure = interpolation_error(hist, probs)
        refine = unsure | (bound > REFINE_SHARE * se_mc)
        plans[name] = (probs, q[:probs.size], se_mc, bound, refine, lo, hi)
        if hist.weighted:
            weighted.setdefault(name, set()).update(
                float(p) for pp in (probs[refine], lo[refine], hi[refine]) for p in pp)
            continue
        rs = ranks.setdefault(name, set())
        for pp in (probs[refine], lo[refine], hi[refine]):
            k1, k2, _ = order_ranks(hist.total, pp)
            rs.update(int(r) for r in k1)
            rs.update(int(r) for r in k2)
    cache = sim.refined
    missing = {name: sorted(r for r in rs if (name, r) not in cache)
               for name, rs in ranks.items()}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        cache.update(exact_order_statistics(sim, missing))
    missing_p = {name: sorted(p for p in ps if (name, p) not in cache)
                 for name, ps in weighted.items()}
    missing_p = {k: v for k, v in missing_p.items() if v}
    if missing_p:
        cache.update(weighted_quantiles(sim, missing_p))
    result = {}
    for name, plan in plans.items():
        hist = sim.outputs[name].histogram
        if plan is None:
            probs = np.atleast_1d(np.asarray(wanted[name], dtype=float))
            value, _ = hist.quantile(probs)
            result[name] = Quantiles(probs, value, np.full(probs.shape, np.nan),
                                     np.zeros(probs.shape, dtype=bool))
            continue
        probs, value, se_mc, bound, refine, lo, hi = plan

        def exact(pp, name=name, n=hist.total, by_p=hist.weighted):
            if by_p:
                return np.array([cache[name, float(p)] for p in pp])
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


def exact_order_statistics(sim, ranks: Mapping[str, list[int]]) -> dict[tuple[str, int], float]:
    """The draws of 1-based ``ranks`` (in ascending order of the finite draws) of each output,
    from passes over the same draws as ``sim``; memory is bounded whatever the draw count."""
    targets = {(name, r): (name, r) for name, rs in ranks.items() for r in rs}
    return _search(sim, targets, weighted=False)


def weighted_quantiles(sim, probs: Mapping[str, list[float]]) -> dict[tuple[str, float], float]:
    """The exact weighted sample quantiles (the module's definition) at ``probs`` of each
    output of ``sim``, a run under evidence, from passes over the same draws and their
    weights; memory is bounded whatever the draw count."""
    targets = {(name, p): (name, p) for name, ps in probs.items() for p in ps}
    return _search(sim, targets, weighted=True)


def _search(sim, targets: Mapping[tuple, tuple[str, float]], weighted: bool) -> dict:
    """Narrow a window on each target (``(output, rank)`` of plain draws, ``(output, p)``
    of weighted ones) pass after pass, until the draw it needs is among the draws kept or
    is an atom; the draw's value (plain), or the interpolated quantile (weighted)."""
    windows: dict[tuple, tuple[float, float]] = {}
    for key, (name, position) in targets.items():
        hist = sim.outputs[name].histogram
        lower, upper, _, cum = hist._binned
        if weighted:  # the bins within rounding of p * total weight (cumulated as doubles)
            nonempty = np.flatnonzero(hist.counts)
            t, slack = position * hist.total, POSITION_SLACK * hist.total
            i, j = np.clip(np.searchsorted(cum, [t - slack, t + slack], side="left"),
                           nonempty[0], nonempty[-1])
        else:
            i = j = int(np.searchsorted(cum, position, side="left"))
        windows[key] = (float(lower[i]), float(upper[j]))
    found: dict[tuple, float] = {}
    for _ in range(MAX_PASSES):
        if not windows:
            break
        tallies = _pass(sim, {(targets[key][0], *w) for key, w in windows.items()}, weighted)
        for key, (a, b) in list(windows.items()):
            name, position = targets[key]
            t = tallies[name, a, b]
            r = _weight_rank(position, t.total) if weighted else int(position)
            rank = r - t.below
            if not 1 <= rank <= t.weight:  # not where the first pass said: search everywhere
                h = sim.outputs[name].histogram
                windows[key] = (h.minimum, h.maximum)
                continue
            if t.inside <= COLLECT_LIMIT and not weighted:
                found[key] = float(np.partition(t.kept, rank - 1)[rank - 1])
            elif t.inside <= COLLECT_LIMIT or t.low == t.high:
                if not weighted:  # an atom
                    found[key] = t.low
                else:
                    draw = (_kept_draw if t.inside <= COLLECT_LIMIT else _atom_draw)(t, rank)
                    found[key] = _interpolate(position, t.total, *draw)
            else:  # the finer bin that holds the rank, and its neighbours (rounding at edges)
                j = int(np.searchsorted(t.sub_cumulative(), rank, side="left"))
                step = (b - a) / SUB_BINS
                windows[key] = (max(a, a + (j - 1) * step), min(b, a + (j + 2) * step))
                continue
            del windows[key]
    if windows:  # windows that narrowing cannot split further: their middle
        found.update({key: (a + b) / 2 for key, (a, b) in windows.items()})
    return found


POSITION_SLACK = 1e-9  # of the total weight: far above the rounding of cumulated bin weights


def _weight_rank(p: float, total: int) -> int:
    """The 1-based rank, in weight units, of the unit that holds the position p * total:
    the draw x_(i+1) with S_i <= p W < S_(i+1) is the one whose units hold this rank."""
    return min(math.floor(p * float(total)) + 1, total)


def _interpolate(p: float, total: int, x: float, previous: float, before: int,
                 weight: int) -> float:
    """``x_(i) + (p W - S_i) / w_(i+1) * (x_(i+1) - x_(i))``: ``x`` and ``weight`` are
    x_(i+1) and its weight, ``previous`` is x_(i) and ``before`` is S_i (exact integers;
    p W is rounded to a double once, as numpy rounds n p)."""
    g = (Fraction(p * float(total)) - before) / weight
    return previous + float(min(max(g, Fraction(0)), Fraction(1))) * (x - previous)


def _kept_draw(t: _Tally, rank: int) -> tuple[float, float, int, int]:
    """The kept draw whose weight units hold ``rank`` (counted from the window's start), in
    ascending order with ties in draw order: its value, the previous draw's value, the
    weight before it and its own weight."""
    order = np.argsort(t.kept, kind="stable")
    values, units = t.kept[order], t.kept_units[order]
    cum = np.cumsum(units)  # at most COLLECT_LIMIT draws of 2**WEIGHT_BITS units: int64
    j = int(np.searchsorted(cum, rank, side="left"))
    x = float(values[j])
    if j:
        return x, float(values[j - 1]), t.below + int(cum[j - 1]), int(units[j])
    return x, t.previous(x), t.below, int(units[0])


def _atom_draw(t: _Tally, rank: int) -> tuple[float, float, int, int]:
    """``_kept_draw`` in a window whose draws are all equal: only the first of them (in draw
    order, the first kept) follows a smaller value."""
    x, first = t.low, int(t.kept_units[0])
    if rank <= first:
        return x, t.previous(x), t.below, first
    return x, x, t.below, first


@dataclass(frozen=True)
class _Tally:
    """What a pass learns about one window [a, b]: the weight below it (a draw counts one,
    or its weight units under evidence), the draws and their weight inside it, the total
    weight of the output, the extremes inside it and the largest draw below it, the draws
    themselves (when at most ``COLLECT_LIMIT``; with their weights under evidence) and
    their weight in ``SUB_BINS`` finer bins. Draws of weight zero count nowhere."""

    below: int
    inside: int
    weight: int
    total: int
    low: float
    high: float
    under: float
    kept: np.ndarray
    kept_units: np.ndarray
    sub_high: np.ndarray
    sub_low: np.ndarray

    def previous(self, x: float) -> float:
        """The draw before the window's first: the largest below it, or ``x`` if none."""
        return self.under if self.under > -np.inf else x

    def sub_cumulative(self) -> np.ndarray:
        """Cumulative weights of the finer bins, as exact integers."""
        return np.cumsum(self.sub_high.astype(object) * 2**62 + self.sub_low.astype(object))


class _ExactSum:
    """Sums of int64 arrays whose parts are each below 2**62, exact past 2**63 (a draw's
    weight is up to 2**WEIGHT_BITS units): ``high * 2**62 + low``."""

    def __init__(self, shape: tuple[int, ...]):
        self.high = np.zeros(shape, dtype=np.int64)
        self.low = np.zeros(shape, dtype=np.int64)

    def add(self, part: np.ndarray) -> None:
        self.low += part
        self.high += self.low >> 62
        self.low &= _LOW_MASK

    def at(self, index) -> int:
        return int(self.high[index]) * 2**62 + int(self.low[index])


_LOW_MASK = np.int64(2**62 - 1)
_WEIGHTED_CHUNK = 1 << (62 - WEIGHT_BITS)  # draws of a chunk, whose weights sum below 2**62
_NO_UNITS = np.empty(0)


def _pass(sim, windows: set[tuple[str, float, float]],
          weighted: bool = False) -> dict[tuple[str, float, float], _Tally]:
    """One pass over all the draws of ``sim`` (and their weights, ``weighted``), evaluating
    only the outputs that have windows (``(output, a, b)``: the closed interval [a, b])."""
    order = sorted(windows)
    names = sorted({name for name, _, _ in order})
    rows = np.array([names.index(name) for name, _, _ in order], dtype=np.int64)
    a = np.array([w[1] for w in order])
    b = np.array([w[2] for w in order])
    n_w = len(order)
    inside = np.zeros(n_w, dtype=np.int64)
    extremes = np.tile([np.inf, -np.inf], (n_w, 1))
    under = np.full(n_w, -np.inf)
    kept = np.empty((n_w, COLLECT_LIMIT))
    kept_units = np.zeros((n_w, COLLECT_LIMIT if weighted else 0), dtype=np.int64)
    weight, sub = _ExactSum((n_w, 3)), _ExactSum((n_w, SUB_BINS))
    part, sub_part = np.zeros((n_w, 3), dtype=np.int64), np.zeros((n_w, SUB_BINS), np.int64)
    chunk = K.TILE * max(sim.threads, CHUNK_BYTES // (8 * K.TILE * len(names)))
    if weighted:
        chunk = min(chunk, _WEIGHTED_CHUNK)
    for values in sim.regenerate(names, chunk, weights=weighted):
        part[:] = 0
        sub_part[:] = 0
        _tally(values, values[-1] if weighted else _NO_UNITS, rows, a, b, inside, extremes,
               under, kept, kept_units, part, sub_part)
        weight.add(part)
        sub.add(sub_part)
    return {w: _Tally(weight.at((k, 0)), int(inside[k]), weight.at((k, 1)), weight.at((k, 2)),
                      float(extremes[k, 0]), float(extremes[k, 1]), float(under[k]),
                      kept[k, :min(inside[k], COLLECT_LIMIT)],
                      kept_units[k, :min(inside[k], kept_units.shape[1])], sub.high[k],
                      sub.low[k]) for k, w in enumerate(order)}


@jit_parallel
def _tally(values, units, rows, a, b, inside, extremes, under, kept, kept_units, weight, sub):
    """Fold the draws ``values[rows[k]]`` into window k's tally: of the finite draws with a
    positive weight (``units``, whole units; empty: every draw weighs one), the weight below
    ``a[k]`` and the largest value there, the weight of all, and of those in [a[k], b[k]]
    the count, weight, extremes, first ``kept.shape[1]`` values (and weights, when
    ``kept_units`` has room) and weights in ``sub.shape[1]`` equal bins.

    Windows are sorted by row, then by ``a``: each output's row is read once, by one thread
    in draw order (so the result does not depend on the number of threads), and a draw
    counts the windows that start at or below it."""
    weighted = units.size > 0
    n_sub = sub.shape[1]
    limit = kept.shape[1]
    keep_units = kept_units.shape[1] > 0
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
        starting = np.zeros(k1 - k0 + 1, dtype=np.int64)  # weight with j window starts <= it
        top = np.full(k1 - k0 + 1, -np.inf)  # and its largest value
        row = values[rows[k0]]
        for d in range(row.size):
            v = row[d]
            if not np.isfinite(v):  # not ranked (nan, or an infinity)
                continue
            u = np.int64(1)
            if weighted:
                u = np.int64(units[d])
                if u == 0:
                    continue
            j = 0  # the number of window starts <= v, without branches (few windows)
            for start in first:
                j += start <= v
            starting[j] += u
            top[j] = max(top[j], v)
            for i in range(j - 1, -1, -1):
                if reach[i] < v:
                    break
                k = k0 + i
                if v <= b[k]:
                    n = inside[k]
                    if n < limit:
                        kept[k, n] = v
                        if keep_units:
                            kept_units[k, n] = u
                    inside[k] = n + 1
                    weight[k, 1] += u
                    extremes[k, 0] = min(extremes[k, 0], v)
                    extremes[k, 1] = max(extremes[k, 1], v)
                    sub[k, min(int((v - a[k]) * scale[k]), n_sub - 1)] += u
        below = 0
        largest = -np.inf
        total = starting.sum()
        for i in range(k1 - k0):  # v < a[k] exactly when fewer than i + 1 windows start <= v
            below += starting[i]
            largest = max(largest, top[i])
            weight[k0 + i, 0] += below
            weight[k0 + i, 2] += total
            under[k0 + i] = max(under[k0 + i], largest)
