"""A mergeable log-octave histogram: the streaming stand-in for sorting all draws.

Each octave [2**e, 2**(e+1)) of |x| is cut into ``2**SUB_BITS`` equal bins, read straight from
the float's exponent and top mantissa bits (``_kernels.histogram_index``), so a bin is at most
``2**-SUB_BITS`` wide relative to x. Where the density is smooth across bins, a quantile
interpolated inside its bin differs from the exact sample quantile by about sqrt(bin mass) of
its Monte Carlo standard error (``tests/test_histogram.py``). Where it is not (an atom, an end
of the distribution inside a bin, a narrow spread far from zero) it can miss by many standard
errors: ``quantiles.py`` bounds that error and refines such quantiles into exact ones.

Every bin is (lower, upper]. Layout for one output, ascending in x: negative overflow,
negative octaves (largest |x| first), negative underflow, zero, positive underflow, positive
octaves, positive overflow. The octave ranges come from a pilot sample with a wide margin;
values outside them are still counted (in the under/overflow bins, bounded by the exact min
and max) and flagged when a quantile lands there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

SUB_BITS = 10
MARGIN_OCTAVES = 10


@dataclass(frozen=True)
class OctaveRange:
    """Octaves ``lo .. lo+n-1`` of |x| covered by bins, on one side of zero."""

    lo: int
    n: int


def octave_range(magnitudes: np.ndarray, margin: int = MARGIN_OCTAVES) -> OctaveRange:
    """Octaves spanning the given positive magnitudes, widened by ``margin`` on each side."""
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    if magnitudes.size == 0:
        return OctaveRange(0, 0)
    _, e_lo = np.frexp(magnitudes.min())
    _, e_hi = np.frexp(magnitudes.max())
    # frexp gives x = m * 2**e with m in [0.5, 1): the octave of x is e - 1.
    lo = int(e_lo) - 1 - margin
    hi = int(e_hi) - 1 + margin + 1
    lo = max(lo, -1022)
    hi = min(hi, 1024)
    return OctaveRange(lo, hi - lo)


@dataclass(frozen=True)
class Layout:
    """Bin layout of one output's histogram."""

    pos: OctaveRange
    neg: OctaveRange
    sub_bits: int = SUB_BITS

    @classmethod
    def from_pilot(cls, values: np.ndarray) -> Layout:
        values = values[np.isfinite(values)]
        return cls(pos=octave_range(values[values > 0]), neg=octave_range(-values[values < 0]))

    @property
    def n_bins(self) -> int:
        return (self.pos.n + self.neg.n) * (1 << self.sub_bits) + 5

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower and upper bound of every bin, and whether the bin is a regular (fine) one."""
        s = 1 << self.sub_bits
        frac = np.arange(s) / s

        def side(r: OctaveRange) -> tuple[np.ndarray, np.ndarray]:
            base = np.ldexp(1.0, np.arange(r.lo, r.lo + r.n))[:, None]  # exact products
            return (base * (1.0 + frac)).ravel(), (base * (1.0 + frac + 1.0 / s)).ravel()

        with np.errstate(over="ignore"):  # edges past the largest double are inf, rightly
            plo, phi = side(self.pos)
            nlo, nhi = side(self.neg)
            neg_edge = np.ldexp(1.0, self.neg.lo + self.neg.n)
            pos_edge = np.ldexp(1.0, self.pos.lo + self.pos.n)
        lower = np.concatenate([
            [-np.inf], -nhi[::-1], [-np.ldexp(1.0, self.neg.lo), 0.0, 0.0], plo, [pos_edge],
        ])
        upper = np.concatenate([
            [-neg_edge], -nlo[::-1], [0.0, 0.0, np.ldexp(1.0, self.pos.lo)], phi, [np.inf],
        ])
        fine = np.ones(self.n_bins, dtype=bool)
        nb = self.neg.n * s
        fine[[0, nb + 1, nb + 3, self.n_bins - 1]] = False
        return lower, upper, fine

    def as_row(self) -> tuple[int, int, int, int]:
        return (self.pos.lo, self.pos.n, self.neg.lo, self.neg.n)


@dataclass(frozen=True)
class Histogram:
    """Counts of the finite draws of one output, with the exact min and max; or, under
    evidence, each bin's sum of the draws' weights (floats), with the effective number of
    draws they are worth (``effective``, Kish's)."""

    layout: Layout
    counts: np.ndarray
    minimum: float
    maximum: float
    effective: float | None = None  # None: counts of unweighted draws

    @property
    def total(self) -> float:
        """The number of draws counted (an int), or under evidence their total weight."""
        return self.counts.sum().item()

    @property
    def weighted(self) -> bool:
        return self.effective is not None

    @property
    def n_eff(self) -> float:
        """The number of iid draws the histogram is worth, for standard errors."""
        return self.total if self.effective is None else self.effective

    @cached_property
    def _binned(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Bin bounds clipped to the exact min and max, fine flags, cumulative counts (built
        once per histogram: a summary asks for quantiles several times; read-only)."""
        lower, upper, fine = self.layout.edges()
        lower = np.clip(lower, self.minimum, self.maximum)
        upper = np.clip(upper, self.minimum, self.maximum)
        arrays = (lower, upper, fine, np.cumsum(self.counts))
        for a in arrays:
            a.setflags(write=False)
        return arrays

    def rank_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per bin: lower and upper bound, count before it and its count (for F(y) lookups)."""
        lower, upper, _, cum = self._binned
        counts = self.counts.astype(float)
        return lower, upper, cum.astype(float) - counts, counts

    def quantile(self, q: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles (inverse of the interpolated CDF) and whether each fell in a fine bin."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        n = self.total
        if n == 0:
            return np.full(q.shape, np.nan), np.zeros(q.shape, dtype=bool)
        lower, upper, fine, cum = self._binned
        target = q * n
        i = np.searchsorted(cum, target, side="left")
        i = np.clip(i, 0, len(cum) - 1)
        # skip empty bins at the start (target == 0 lands on the first non-empty bin)
        nonempty = np.flatnonzero(self.counts)
        i = np.maximum(i, nonempty[0])
        before = np.where(i > 0, cum[i - 1], 0)
        frac = (target - before) / self.counts[i]
        value = lower[i] + np.clip(frac, 0.0, 1.0) * (upper[i] - lower[i])
        value = np.where(q <= 0, self.minimum, np.where(q >= 1, self.maximum, value))
        return value, fine[i]

    def cdf(self, x: float) -> float:
        """Fraction of finite draws at or below ``x`` (interpolated inside a bin).

        Bins are (lower, upper] and do not overlap: every bin ending at or below ``x`` counts
        wholly (so does an atom at ``x``, such as exact zeros or an integer), and the bin
        holding ``x`` counts in proportion.
        """
        return float(self.cdf_at(x)[0])

    def cdf_at(self, x: float | np.ndarray) -> np.ndarray:
        """``cdf`` at many points at once (one pass over the bins), e.g. a chart's grid."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        n = self.total
        if n == 0:
            return np.full(x.shape, np.nan)
        lower, upper, _, cum = self._binned
        i = np.clip(np.searchsorted(upper, x, side="right"), 0, len(upper) - 1)
        before = np.where(i > 0, cum[i - 1], 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.clip((x - lower[i]) / (upper[i] - lower[i]), 0.0, 1.0)
        out = (before + frac * self.counts[i]) / n
        out = np.where(x < self.minimum, 0.0, np.where(x >= self.maximum, 1.0, out))
        return np.where(np.isnan(x), np.nan, out)
