"""Inverse-CDF tables for the families without a cheap closed form, and their disk cache.

A table holds knots of x = F^-1(u) with exact slopes, which the kernel interpolates with a
cubic Hermite (``_kernels.table_into``): over the centre (u in [1/64, 63/64]) on a grid of
1,025 knots, error under 1e-7 of the p1-p99 spread (worst: gamma a = 0.5, 5e-8; see the
tests), and in the tails on 32 pieces per binary octave of min(u, 1 - u), down to the
smallest uniform the kernel draws (2**-53), where the kernel reads octave and knot off the
bits of the double: no log, no ``ndtri``, one branch-free pass (the DeepSeek program, 21
tables, evaluates 10% faster than when the tails were interpolated at normal scores). The
centre's grid is a speed trade, measured: 4,097 knots reached 2e-10, but 21 such tables (the
DeepSeek scenario) no longer stay in cache, and the run was 25% slower. The error stays far
below the Monte Carlo error of any run (1e-3 of the spread at 10M draws) and below the 1e-6
the project asks of a tabulated inverse CDF.

Building a table takes scipy ~15 ms, so tables are cached in memory and on disk (see
``table_cache_dir``), keyed by the family and its parameters, the table layout, scipy's
version and ``TABLE_FORMAT``: bump it whenever ``_build_table`` changes what it computes, or
users with a warm cache keep the old tables (``tests/test_tables.py`` fails until you do).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy

TABLE_FORMAT = 1  # bump when _build_table changes (see the module docstring)
TABLE_U = 1.0 / 64  # centre: u in [TABLE_U, 1 - TABLE_U] (a power of two: tails start there)
TABLE_U_KNOTS = 1025  # see the module docstring: cache-sized, error < 1e-7 of the spread
TABLE_OCTAVE_BITS = 5  # tails: 2**5 pieces per binary octave of min(u, 1 - u)
TABLE_TOP_OCTAVE = int(math.log2(TABLE_U)) - 1  # the first tail octave: [2**-7, 2**-6)
TABLE_OCTAVES = TABLE_TOP_OCTAVE + 54  # down to [2**-53, 2**-52): the smallest uniform
TABLE_OFFSETS = (0, 4, 5)  # the kernel parameters that index into the table


def tabulate(family: str, params: Mapping[str, Any],
             reference: Callable[..., Any]) -> tuple[tuple[float, ...], np.ndarray]:
    """The kernel's parameters (``_codes.F_TABLE``) and table for the distribution
    ``reference(**params)``, an object with scipy's ``ppf``, ``isf`` and ``pdf``.

    Knots with exact slopes, as cubic pieces (``_cubic_coefficients``): x(u) = F^-1(u) on a
    uniform grid over the centre (dx/du = 1 / f(x)), and in each tail, for v = min(u, 1 - u)
    in each binary octave [2**e, 2**(e+1)) down to the smallest uniform, x on a uniform grid
    of that octave (``_kernels.table_into`` finds octave and piece from the bits of v).
    ``TABLE_OFFSETS`` lists the parameters that are offsets into the table.
    """
    inv_hu = (TABLE_U_KNOTS - 1) / (1.0 - 2 * TABLE_U)
    table = _table(family, _frozen(params), reference)
    n = TABLE_U_KNOTS
    per_octave = (1 << TABLE_OCTAVE_BITS) + 1
    tail = TABLE_OCTAVES * per_octave
    central = _cubic_coefficients(table[:n], table[n:2 * n], 1.0 / inv_hu)
    sides = []
    for start in (2 * n, 2 * n + 2 * tail):  # lower tail, then upper tail
        x = table[start:start + tail].reshape(TABLE_OCTAVES, per_octave)
        slope = table[start + tail:start + 2 * tail].reshape(TABLE_OCTAVES, per_octave)
        sides.append(_cubic_coefficients(x, slope, 1.0 / (per_octave - 1)))
    kernel_params = (0.0, float(n), TABLE_U, inv_hu, float(central.size),
                     float(central.size + sides[0].size), float(TABLE_TOP_OCTAVE),
                     float(TABLE_OCTAVE_BITS))
    return kernel_params, np.concatenate([central, *sides])


def _cubic_coefficients(x: np.ndarray, slope: np.ndarray, h: float) -> np.ndarray:
    """The cubic Hermite pieces between knots ``x`` (spacing ``h``, exact ``slope``) as
    polynomial coefficients in the fraction f: per piece c0..c3 (x = c0 + f (c1 + f (c2 +
    f c3))), followed by the next knot's value, which bounds the piece. So the kernel reads
    five neighbouring values, and evaluates three multiply-adds, per draw.

    For 2-d ``x`` and ``slope``, each row is its own grid; the rows' pieces follow each other.
    """
    x0, x1 = x[..., :-1], x[..., 1:]
    d0, d1 = slope[..., :-1] * h, slope[..., 1:] * h
    pieces = np.stack([x0, d0, 3 * (x1 - x0) - 2 * d0 - d1, 2 * (x0 - x1) + d0 + d1], axis=-1)
    return np.concatenate([pieces.reshape(*x.shape[:-1], -1), x[..., -1:]], axis=-1).ravel()


def _frozen(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


def table_cache_dir() -> Path | None:
    """Where inverse-CDF tables are kept: $MCSIM_CACHE_DIR/tables, else
    $XDG_CACHE_HOME/mcsim/tables, else ~/.cache/mcsim/tables (small .npy files; safe to
    delete). None, after one warning, when the home folder does not exist: mcsim never
    creates one (``HOME=/nonexistent`` is common in build sandboxes)."""
    root = os.environ.get("MCSIM_CACHE_DIR")
    if root:
        return Path(root) / "tables"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "mcsim" / "tables"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no $HOME and no password entry
        home = None
    if home is None or not home.is_dir():
        _tables_not_cached(f"no home folder at {home or '$HOME'}")
        return None
    return home / ".cache" / "mcsim" / "tables"


_NOT_CACHED_SAID: list[str] = []  # the one warning's reason, once said


def _tables_not_cached(reason: str) -> None:
    """Say once per process that tables are rebuilt instead of read from disk, and why."""
    if not _NOT_CACHED_SAID:
        _NOT_CACHED_SAID.append(reason)
        print(f"mcsim: warning: {reason}; inverse-CDF tables are not cached "
              f"(set MCSIM_CACHE_DIR)", file=sys.stderr)


_TABLE_SIZE = 2 * TABLE_U_KNOTS + 4 * TABLE_OCTAVES * ((1 << TABLE_OCTAVE_BITS) + 1)


def table_key(family: str, params: tuple) -> str:
    """The cache key of a table: everything its knots depend on."""
    layout = (TABLE_FORMAT, TABLE_U, TABLE_U_KNOTS, TABLE_OCTAVE_BITS, TABLE_OCTAVES,
              scipy.__version__)
    return hashlib.sha256(repr((family, params, layout)).encode()).hexdigest()[:32]


@cache
def _table(family: str, params: tuple, reference: Callable[..., Any]) -> np.ndarray:
    folder = table_cache_dir()
    if folder is None:
        return _build_table(reference(**dict(params)))
    path = folder / f"{family}-{table_key(family, params)}.npy"
    try:
        table = np.load(path)
        if table.shape == (_TABLE_SIZE,) and np.all(np.isfinite(table)):
            return table
    except (OSError, ValueError):
        pass
    table = _build_table(reference(**dict(params)))
    try:  # a cache is a convenience: never fail a run for it
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, table)
        os.replace(tmp, path)
    except OSError as err:
        _tables_not_cached(f"cannot write {path.parent}: {err.strerror or err}")
    return table


def _build_table(rv: Any) -> np.ndarray:
    """Knots and slopes: the centre's x(u) and dx/du, then per tail (lower, upper) every
    octave's x and dx/df, where f in [0, 1] runs over the octave [2**e, 2**(e+1)) of v.
    A slope scipy cannot give (a density of 0 or inf) is estimated from the knots."""
    u = np.linspace(TABLE_U, 1.0 - TABLE_U, TABLE_U_KNOTS)
    xu = rv.ppf(u)
    with np.errstate(all="ignore"):
        su = 1.0 / rv.pdf(xu)
    bad = ~np.isfinite(su) | (su < 0)
    su[bad] = np.gradient(xu, u)[bad]
    out = [xu, su]
    pieces = 1 << TABLE_OCTAVE_BITS
    f = np.arange(pieces + 1) / pieces
    width = np.ldexp(1.0, TABLE_TOP_OCTAVE - np.arange(TABLE_OCTAVES))[:, None]  # 2**e
    v = width * (1.0 + f)  # [octave, knot]
    for x, sign in ((rv.ppf(v), 1.0), (rv.isf(v), -1.0)):  # x rises with v below, falls above
        with np.errstate(all="ignore"):
            slope = sign * width / rv.pdf(x)
        bad = ~np.isfinite(slope) | (sign * slope < 0)
        slope[bad] = np.gradient(x, f, axis=1)[bad]
        out += [x.ravel(), slope.ravel()]
    return np.concatenate(out)
