"""Run a scenario: seeds and streams, batches of tiles, threads, progress. Writes no files.

``simulate`` streams any number of draws through the fused kernel in bounded memory and
returns a ``Simulation``; ``sample`` materialises a small number of draws for inspection.
The uniform of input i at draw k depends only on (seed, name of i, k), and reductions are
merged in tile order, so a seed gives bit-identical results on any number of threads and
with any batch size.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _kernels as K
from .errors import McsimError
from .histogram import Histogram, Layout
from .program import Program, compile_program
from .scenario import Scenario

PILOT_DRAWS = K.TILE
Progress = Callable[[int, int], None]  # (draws done, draws in total)


@dataclass(frozen=True)
class OutputStats:
    """Streaming reductions of one output: moments, extremes, histogram, non-finite count."""

    name: str
    count: int
    nonfinite: int
    mean: float
    std: float
    histogram: Histogram

    @property
    def minimum(self) -> float:
        return self.histogram.minimum

    @property
    def maximum(self) -> float:
        return self.histogram.maximum


@dataclass(frozen=True)
class Simulation:
    """The result of ``simulate``: per-output reductions and how the run was made."""

    scenario: Scenario
    draws: int
    seed: int
    threads: int
    wall_seconds: float
    outputs: dict[str, OutputStats]

    @property
    def draws_per_second(self) -> float:
        return self.draws / self.wall_seconds if self.wall_seconds > 0 else math.inf

    def quantile(self, output: str, q: float | np.ndarray) -> np.ndarray:
        self.scenario.output(output)
        return self.outputs[output].histogram.quantile(q)[0]

    def summary(self, ci: float = 0.90) -> pd.DataFrame:
        from .reduce import summarize

        return summarize(self, ci)

    def claims(self) -> pd.DataFrame:
        from .reduce import audit_claims

        return audit_claims(self)

    def to_dict(self, ci: float = 0.90) -> dict:
        return {
            "scenario": self.scenario.name, "draws": self.draws, "seed": self.seed,
            "threads": self.threads, "wall_seconds": self.wall_seconds,
            "summary": self.summary(ci).to_dict(orient="records"),
            "claims": self.claims().to_dict(orient="records"),
        }


def new_seed() -> int:
    """A fresh random seed (printed by the CLI so that the run can be repeated)."""
    return secrets.randbelow(2**31)


@contextmanager
def _threads(n: int | None):
    import numba

    before = numba.get_num_threads()
    limit = numba.config.NUMBA_NUM_THREADS
    if n is not None:
        if not 1 <= n <= limit:
            raise McsimError(f"--threads: must be between 1 and {limit} on this machine (got {n})")
        numba.set_num_threads(n)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def _check_draws(draws: int) -> None:
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise McsimError(f"draws: must be a positive whole number (got {draws!r})")


def sample(scenario: Scenario, draws: int, seed: int, start: int = 0,
           names: tuple[str, ...] | None = None, threads: int | None = None) -> pd.DataFrame:
    """Draws ``start .. start+draws-1`` of every input and output (or of ``names``), as a frame.

    Materialises everything: meant for inspection and tests, not for millions of draws.
    """
    _check_draws(draws)
    if names is None:
        names = tuple(dict.fromkeys(
            [*scenario.input_names, *(n for n, _ in scenario.derived),
             *(o.name for o in scenario.outputs)]))
    outputs = {o.name for o in scenario.outputs}
    keep = tuple(n for n in names if n not in outputs)
    prog = compile_program(scenario, seed, keep=keep)
    regs = [prog.named[n] if n in prog.named else
            int(prog.out_regs[[o.name for o in scenario.outputs].index(n)]) for n in names]
    with _threads(threads) as n_threads:
        values = K.draw_values(*prog.kernel_args, np.asarray(regs, dtype=np.int64),
                               start, draws, n_threads)
    return pd.DataFrame(values.T, columns=list(names),
                        index=pd.RangeIndex(start, start + draws, name="draw"))


def simulate(scenario: Scenario, draws: int, seed: int | None = None,
             threads: int | None = None, batch_tiles: int | None = None,
             progress: Progress | None = None) -> Simulation:
    """Draw ``draws`` scenarios and reduce every output as they stream past.

    ``batch_tiles`` (tiles of 65,536 draws per kernel call) sets how often ``progress`` is
    called; it does not change the result.
    """
    _check_draws(draws)
    seed = new_seed() if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise McsimError(f"seed: must be a whole number >= 0 (got {seed!r})")
    t0 = time.perf_counter()
    prog = compile_program(scenario, int(seed))
    with _threads(threads) as n_threads:
        layouts, shifts = _pilot(prog, min(draws, PILOT_DRAWS), n_threads)
        result = _stream(prog, layouts, shifts, draws, n_threads, batch_tiles, progress)
    wall = time.perf_counter() - t0
    outputs = {}
    hist, totals, nonfinite = result
    for o, out in enumerate(scenario.outputs):
        n, s1, s2, lo, hi = totals[o]
        count = int(n)
        mean = float(shifts[o] + s1 / count) if count else math.nan
        var = (s2 - s1 * s1 / count) / (count - 1) if count > 1 else math.nan
        std = math.sqrt(max(var, 0.0)) if count > 1 else math.nan
        outputs[out.name] = OutputStats(
            name=out.name, count=count, nonfinite=int(nonfinite[o]),
            mean=mean, std=std,
            histogram=Histogram(layouts[o], hist[o], float(lo) if count else math.nan,
                                float(hi) if count else math.nan))
    return Simulation(scenario=scenario, draws=draws, seed=int(seed), threads=n_threads,
                      wall_seconds=wall, outputs=outputs)


def _pilot(prog: Program, pilot: int, n_threads: int) -> tuple[list[Layout], np.ndarray]:
    """Histogram layouts and a shift near each output's centre (for numerically stable
    sums of squares), from a pilot: the first draws of the run itself."""
    values = K.draw_values(*prog.kernel_args, prog.out_regs, 0, pilot, n_threads)
    shifts = np.zeros(len(values))
    for o, row in enumerate(values):
        finite = row[np.isfinite(row)]
        if finite.size:
            shifts[o] = np.median(finite)
    return [Layout.from_pilot(row) for row in values], shifts


def _stream(prog: Program, layouts: list[Layout], shifts: np.ndarray, draws: int,
            n_threads: int, batch_tiles: int | None, progress: Progress | None):
    n_out = len(layouts)
    sizes = np.array([lay.n_bins for lay in layouts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    layout_rows = np.array([lay.as_row() for lay in layouts], dtype=np.int64).reshape(n_out, 4)
    hist = np.zeros((n_threads, int(sizes.sum())), dtype=np.int64)
    totals = np.zeros((n_out, K.N_STATS))
    totals[:, 3] = np.inf  # count, shifted sum, shifted sum of squares, min, max
    totals[:, 4] = -np.inf
    nonfinite = np.zeros((n_threads, n_out), dtype=np.int64)
    n_tiles = -(-draws // K.TILE)
    batch = batch_tiles or max(1, 8 * n_threads)
    sub_bits = layouts[0].sub_bits if layouts else 10
    for tile0 in range(0, n_tiles, batch):
        count = min(batch, n_tiles - tile0)
        K.reduce_tiles(*prog.kernel_args, prog.out_regs, shifts, layout_rows, offsets, sub_bits,
                       draws, tile0, count, hist, totals, nonfinite, n_threads)
        if progress is not None:
            progress(min((tile0 + count) * K.TILE, draws), draws)
    merged = hist.sum(axis=0)
    per_output = [merged[off:off + size] for off, size in zip(offsets, sizes, strict=True)]
    return per_output, totals, nonfinite.sum(axis=0)

