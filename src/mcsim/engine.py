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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from . import _kernels as K
from . import sampling
from .errors import McsimError
from .evidence import WeightSummary, check_pilot, explain_zero, weight_units
from .executors import (
    Executor,
    Job,
    Progress,
    Reductions,
    WeightedReductions,
    bin_offsets,
    choose,
    local_batch,
    no_weights,
    weighted_layout,
)
from .histogram import Histogram, Layout
from .program import Program, compile_program, prune
from .scenario import Scenario
from .units import check_draws

# The first draws of a run, whose range sets each output's histogram octaves (with a margin
# of ``histogram.MARGIN_OCTAVES`` = 1,024x either way); a quarter tile: the pilot's values
# are stored (8 bytes per output per draw) and its time is a fixed cost of every run.
PILOT_DRAWS = K.TILE // 4
_SHIFT_DRAWS = 4096  # pilot draws whose median shifts an output's sums of squares


@dataclass(frozen=True)
class OutputStats:
    """Streaming reductions of one output: moments, extremes, histogram, non-finite count.

    Under evidence (a posterior) the moments and histogram are weighted, ``count`` is the
    finite draws with a positive weight and ``ess`` their effective number (Kish's); standard
    errors use ``n_eff``."""

    name: str
    count: int
    nonfinite: int
    mean: float
    std: float
    histogram: Histogram
    ess: float | None = None  # None: unweighted draws, each counts one

    @property
    def n_eff(self) -> float:
        """The number of iid draws these reductions are worth (``count`` when unweighted)."""
        return self.count if self.ess is None else self.ess

    def __repr__(self) -> str:
        return (f"<OutputStats {self.name}: {self.count:,} draws, mean {self.mean:.6g}, "
                f"std {self.std:.6g}>")

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
    wall_seconds: float  # the whole call
    outputs: dict[str, OutputStats]
    kernel_seconds: float = 0.0  # of which: compiling the kernels, or loading them from cache
    stopped: str = "draws"  # why the run ended: "draws", "converged" or "max-draws"
    design: sampling.Plan | None = None  # the sampling design (None: plain Monte Carlo)
    replicates: tuple[dict[str, OutputStats], ...] = ()  # per replicate (lhs, sobol)
    quantiles: tuple[float, ...] = ()  # probabilities asked for beside the summary's
    # exact order statistics found so far, by (output, 1-based rank): see ``quantiles.py``
    refined: dict[tuple[str, int], float] = field(default_factory=dict, repr=False,
                                                  compare=False)
    program: Program | None = field(default=None, repr=False, compare=False)  # as run
    # under evidence: ``outputs`` is the posterior, ``prior`` the same draws unweighted, and
    # ``weights`` summarises the weights (effective sample size)
    prior: dict[str, OutputStats] | None = field(default=None, repr=False)
    weights: WeightSummary | None = None
    executor: str = "local"  # where the draws were reduced: ``Executor.describe``

    def __repr__(self) -> str:
        return (f"<Simulation of {self.scenario.name!r}: {self.draws:,} draws, seed {self.seed}, "
                f"{self.sampler}; {len(self.outputs)} outputs, {len(self.scenario.claims)} "
                "claims; .summary(), .claims()>")

    def _repr_html_(self) -> str:
        """A notebook's view: the run, its summary (90% interval) and its claims."""
        from html import escape

        summary = self.summary()[["output", "label", "unit", "mean", "median", "ci_low",
                                  "ci_high"]]
        parts = [f"<p><b>{escape(self.scenario.title)}</b><br>{escape(repr(self))}</p>",
                 summary.to_html(index=False)]
        if self.scenario.claims:
            parts.append(self.claims()[["claim", "output", "value", "percentile", "p_exceed"]]
                         .to_html(index=False))
        return "\n".join(parts)

    @property
    def sampler(self) -> str:
        return self.design.sampler if self.design else "mc"

    @cached_property
    def prior_run(self) -> Simulation:
        """The same draws without the evidence's weights: what the priors alone predict
        (this run itself when it has no evidence). A replicated design's prior reports iid
        standard errors: its replicates are kept for the posterior only."""
        if self.prior is None:
            return self
        return replace(self, outputs=self.prior, prior=None, weights=None, replicates=(),
                       refined={})

    @property
    def draws_per_second(self) -> float:
        """Sampling speed, not counting the one-off compiling or loading of the kernels."""
        busy = self.wall_seconds - self.kernel_seconds
        return self.draws / busy if busy > 0 else math.inf

    def quantile(self, output: str, q: float | np.ndarray) -> np.ndarray:
        """Quantiles of ``output``: exact sample quantiles where the histogram could be wrong
        (``quantiles.estimate``)."""
        from .quantiles import estimate

        self.scenario.output(output)
        probs = np.atleast_1d(np.asarray(q, dtype=float))
        inner = (probs > 0) & (probs < 1)
        value = self.outputs[output].histogram.quantile(probs)[0]
        if inner.any():
            value[inner] = estimate(self, {output: probs[inner]})[output].value
        return value

    def quantile_table(self, quantiles=None) -> pd.DataFrame:
        """The quantiles asked for (default: those given to ``simulate``) of every output,
        each with its standard error: one row per output and probability."""
        from .reduce import quantile_table

        return quantile_table(self, self.quantiles if quantiles is None else quantiles)

    def regenerate(self, outputs: list[str], chunk_draws: int,
                   weights: bool = False) -> Iterator[np.ndarray]:
        """The draws of ``outputs`` in this run again, bit for bit, as ``[output, draw]``
        arrays of ``chunk_draws`` draws (a multiple of the tile) at a time, in draw order: the
        run's own program over counter-addressed streams, so a later pass sees exactly what
        the run saw. With ``weights`` (a run under evidence), one more last row: each draw's
        weight in the whole units of 2**-WEIGHT_BITS that the run counted
        (``evidence.weight_units``)."""
        prog = self.program or _with_design(compile_program(self.scenario, self.seed),
                                            self.design or sampling.plan("mc", self.draws),
                                            self.seed, self.scenario)
        names = [o.name for o in self.scenario.outputs]
        rows = prog.out_regs[[names.index(o) for o in outputs]]
        if weights:
            if prog.weight_reg < 0:
                raise McsimError("regenerate: this run has no evidence, so no weights")
            rows = np.append(rows, prog.weight_reg)
        prog = prune(prog, rows)  # the weight is computed only when asked for
        for begin in range(0, self.draws, chunk_draws):
            n = min(chunk_draws, self.draws - begin)
            values = _pilot_values(prog, n, self.threads, begin)
            if weights:
                values[-1] = weight_units(values[-1])
            yield values

    def summary(self, ci: float = 0.90) -> pd.DataFrame:
        from .reduce import summarize

        return summarize(self, ci)

    def claims(self) -> pd.DataFrame:
        from .reduce import audit_claims

        return audit_claims(self)

    def to_dict(self, ci: float = 0.90) -> dict:
        return {
            "scenario": self.scenario.name, "draws": self.draws, "seed": self.seed,
            "sampler": self.sampler, "replicates": len(self.replicates) or None,
            "threads": self.threads, "wall_seconds": self.wall_seconds,
            "summary": self.summary(ci).to_dict(orient="records"),
            "claims": self.claims().to_dict(orient="records"),
        }


def new_seed() -> int:
    """A fresh random seed (printed by the CLI so that the run can be repeated)."""
    return secrets.randbelow(2**31)


@contextmanager
def using_threads(n: int | None):
    """Run the kernels inside on ``n`` threads (None: numba's current setting); yields the
    number in use and restores the previous setting after."""
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
    check_draws(int(draws))


def sample(scenario: Scenario, draws: int, seed: int, start: int = 0,
           names: tuple[str, ...] | None = None, threads: int | None = None,
           sampler: str = "mc", replicates: int | None = None) -> pd.DataFrame:
    """Draws ``start .. start+draws-1`` of every input and output (or of ``names``), as a frame.

    Materialises everything: meant for inspection and tests, not for millions of draws. With
    ``sampler`` lhs or sobol, ``draws`` is rounded as ``simulate`` rounds it, and the frame
    holds the whole design (``start`` must be 0).
    """
    _check_draws(draws)
    design = sampling.plan(sampler, draws, replicates)
    if design.replicated:
        if start:
            raise McsimError("start: a Latin hypercube or Sobol' design is drawn whole")
        draws = design.draws
    if names is None:
        names = tuple(dict.fromkeys(
            [*scenario.input_names, *(n for n, _ in scenario.derived),
             *(o.name for o in scenario.outputs)]))
    outputs = {o.name for o in scenario.outputs}
    prog = _with_design(
        compile_program(scenario, seed, keep=tuple(n for n in names if n not in outputs)),
        design, int(seed), scenario)
    with using_threads(threads) as n_threads:
        values = K.draw_values(*prog.kernel_args, _registers(prog, scenario, names), start,
                               draws, n_threads)
    return pd.DataFrame(values.T, columns=list(names),
                        index=pd.RangeIndex(start, start + draws, name="draw"))


def redraw_correlated(sim: Simulation, draws: int = 200_000) -> pd.DataFrame:
    """The correlated inputs' first ``min(draws, sim.draws)`` draws of ``sim``'s run again
    (same seed, threads and sampler), to measure the rank correlations it achieved; a Latin
    hypercube or Sobol' run is re-drawn as a design of the same kind and replicates."""
    sc = sim.scenario
    names = tuple(dict.fromkeys(x for c in sc.correlations for x in (c.a, c.b)))
    if not names:
        return pd.DataFrame()
    return sample(sc, min(draws, sim.draws), seed=sim.seed, names=names, threads=sim.threads,
                  sampler=sim.sampler, replicates=len(sim.replicates) or None)


def _with_design(prog: Program, design: sampling.Plan, seed: int,
                 scenario: Scenario) -> Program:
    """``prog`` drawing its uniforms by ``design`` (programs start as plain Monte Carlo).

    Each stream's Sobol' dimension is its input's position in the scenario, so the draws do
    not depend on which quantities a program computes."""
    if not design.replicated:
        return prog
    dims = [scenario.input_names.index(name) for name in prog.streams]
    return replace(prog, design=sampling.design(design, seed, dims,
                                                len(scenario.input_names)))


def _registers(prog: Program, scenario: Scenario, names: tuple[str, ...]) -> np.ndarray:
    """The registers holding ``names`` (outputs, or quantities the program was asked to keep)."""
    outputs = [o.name for o in scenario.outputs]
    return np.asarray([prog.named[n] if n in prog.named else int(prog.out_regs[outputs.index(n)])
                       for n in names], dtype=np.int64)


def evaluate_at(scenario: Scenario, points: pd.DataFrame, names: tuple[str, ...] | None = None,
                threads: int | None = None) -> pd.DataFrame:
    """The outputs (or ``names``) at chosen input values: one row of ``points`` per evaluation.

    Columns of ``points`` name inputs; inputs without a column are drawn as usual (seed 0).
    Uses the same kernel as ``simulate``: there is no second model evaluator.
    """
    unknown = [c for c in points.columns if c not in scenario.input_names]
    if unknown:
        raise McsimError(f"unknown inputs: {', '.join(unknown)}")
    n = len(points)
    _check_draws(n)
    outputs = [o.name for o in scenario.outputs]
    names = tuple(outputs) if names is None else names
    given = {c: points[c].to_numpy(dtype=float) for c in points.columns}
    prog = compile_program(scenario, 0, keep=tuple(x for x in names if x not in outputs),
                           given=given)
    with using_threads(threads) as n_threads:
        values = K.draw_values(*prog.kernel_args, _registers(prog, scenario, names), 0, n,
                               n_threads)
    return pd.DataFrame(values.T, columns=list(names), index=points.index)


def simulate(scenario: Scenario, draws: int, seed: int | None = None,
             threads: int | None = None, batch_tiles: int | None = None,
             progress: Progress | None = None,
             stop: Callable[[Simulation], bool] | None = None,
             sampler: str = "mc", replicates: int | None = None,
             program: Program | None = None, quantiles=(), *,
             executor: Executor | None = None, client=None) -> Simulation:
    """Draw ``draws`` scenarios and reduce every output as they stream past.

    ``batch_tiles`` (tiles of 65,536 draws per kernel call) sets how often ``progress`` is
    called; it does not change the result. With ``stop``, ``draws`` is a cap: after each
    batch the result so far is passed to ``stop``, and the run ends when it returns true.
    Batches continue the same streams, so the result equals a run of the final size with
    the same seed (``Simulation.stopped`` says why it ended).

    ``sampler`` is ``mc`` (plain Monte Carlo), ``lhs`` or ``sobol``; the last two run
    ``replicates`` independent designs (``sampling.plan`` rounds ``draws`` to fit) and keep
    each replicate's reductions, from which the standard errors are measured.

    ``program`` is ``scenario`` already lowered for ``seed`` (a sweep lowers it once and
    changes only its constants from point to point).
    ``quantiles`` are probabilities whose quantiles ``Simulation.quantile_table`` reports
    (each with its standard error) beside the summary's median and interval.

    The draws are reduced by ``executor`` (``executors.py``; default: this machine's
    ``threads``), or on the Dask cluster of ``client`` (a ``distributed.Client``); the pilot
    runs here. Either gives the same result, bit for bit. With a cluster and ``stop``,
    ``batch_tiles`` defaults to the local run's batch, so ``stop`` sees the same batches.
    """
    from .quantiles import check_probabilities

    _check_draws(draws)
    quantiles = check_probabilities(quantiles)
    seed = new_seed() if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise McsimError(f"seed: must be a whole number >= 0 (got {seed!r})")
    design = sampling.plan(sampler, draws, replicates, auto_stop=stop is not None)
    runner = choose(executor, client)
    t0 = time.perf_counter()
    prog = _with_design(program or compile_program(scenario, int(seed)), design, int(seed),
                        scenario)
    with using_threads(threads) as n_threads:
        kernel_seconds = _ready_kernels(prog, n_threads)
        layouts, shifts = _pilot(prog, min(design.draws, PILOT_DRAWS), n_threads, scenario)
        if design.replicated:
            state, reps = _replicates(prog, layouts, shifts, design, n_threads, batch_tiles,
                                      progress, scenario, runner)
            done, reason = design.draws, "draws"
        else:
            reps = ()
            done, reason = draws, "draws"
            state = _new_state(layouts, n_threads, weighted=prog.weight_reg >= 0)
            if stop is not None and batch_tiles is None:
                batch_tiles = local_batch(n_threads)  # stop= sees the batches a local run has
            job = Job.build(prog, layouts, shifts, 0, draws)
            for done in runner.stream(job, state, n_threads, batch_tiles, progress, draws):
                if stop is None:
                    continue
                partial = _result(scenario, done, seed, n_threads, 0.0, 0.0,
                                  _reduced(scenario, layouts, shifts, state, done),
                                  "converged")
                if stop(partial):  # the last batch too: the cap may be where it converged
                    reason = "converged"
                    break
            else:
                reason = "draws" if stop is None else "max-draws"
    wall = time.perf_counter() - t0
    sim = replace(_result(scenario, done, seed, n_threads, wall, kernel_seconds,
                          _reduced(scenario, layouts, shifts, state, done), reason, design,
                          reps),
                  quantiles=quantiles, program=prog, executor=runner.describe())
    _require_weight(sim, prog)
    return sim


def require_finite(sim: Simulation) -> None:
    """Refuse a run with nothing to report: every draw of every output was inf or nan. The
    message names the first formula (in the order they are computed) that is never finite
    on a few draws. (A part of a run, such as one output's tornado, may be all non-finite.)"""
    if any(st.count for st in sim.outputs.values()):
        return
    scenario = sim.scenario
    formulas = [(n, f"derived.{n}", f) for n, f in scenario.derived]
    formulas += [(o.name, f"outputs.{o.name}.formula", o.formula) for o in scenario.outputs]
    names = tuple(dict.fromkeys(name for name, _, _ in formulas))
    values = sample(scenario, 256, sim.seed, names=names)
    first = next(((key, f) for name, key, f in formulas
                  if not np.isfinite(values[name]).any()), None)
    where = f"; the first never finite: {first[0]} = {first[1].text!r}" if first else ""
    raise McsimError(f"{scenario.path or scenario.name}: every draw of every output is inf or "
                     f"nan (nothing to summarise){where}")


def _replicates(prog: Program, layouts: list[Layout], shifts: np.ndarray,
                design: sampling.Plan, n_threads: int, batch_tiles: int | None,
                progress: Progress | None, scenario: Scenario, runner: Executor):
    """Run each replicate into fresh reductions, keep them, and pool them in replicate order."""
    weighted = prog.weight_reg >= 0
    pooled = _new_state(layouts, n_threads, weighted)
    reps = []
    m = design.replicate_draws
    for r in range(design.replicates):
        state = _new_state(layouts, n_threads, weighted)
        job = Job.build(prog, layouts, shifts, r * m, (r + 1) * m)
        for _ in runner.stream(job, state, n_threads, batch_tiles, progress, design.draws):
            pass
        reps.append(_reduced(scenario, layouts, shifts, state, m)[0])
        pooled.pool(state)
    return pooled, tuple(reps)


_Reduced = tuple[dict[str, OutputStats], dict[str, OutputStats] | None, WeightSummary | None]


def _reduced(scenario: Scenario, layouts: list[Layout], shifts: np.ndarray,
             state: Reductions, draws: int) -> _Reduced:
    """The outputs' stats (the posterior, under evidence), the prior's (under evidence) and
    the weights' summary (under evidence)."""
    prior = _outputs(scenario, layouts, shifts, state)
    w = state.weighted
    if w is None:
        return prior, None, None
    summary = WeightSummary(draws=draws, positive=int(w.run[2]), nonfinite=int(w.run[3]),
                            sum_w=float(w.run[0]), sum_w2=float(w.run[1]))
    return _weighted_outputs(scenario, layouts, shifts, w, state, prior), prior, summary


def _result(scenario: Scenario, draws: int, seed: int, n_threads: int, wall: float,
            kernel_seconds: float, reduced: _Reduced, stopped: str,
            design: sampling.Plan | None = None, replicates: tuple = ()) -> Simulation:
    design = design or sampling.Plan("mc", 1, draws, draws)
    outputs, prior, weights = reduced
    return Simulation(scenario=scenario, draws=draws, seed=int(seed), threads=n_threads,
                      wall_seconds=wall, outputs=outputs, kernel_seconds=kernel_seconds,
                      stopped=stopped, design=design, replicates=replicates, prior=prior,
                      weights=weights)


def _outputs(scenario: Scenario, layouts: list[Layout], shifts: np.ndarray,
             state: Reductions) -> dict[str, OutputStats]:
    """Each output's ``OutputStats`` from running reductions (copied, so streaming may go on)."""
    merged = state.histogram_counts()
    offsets = np.cumsum([0] + [lay.n_bins for lay in layouts])
    totals = state.totals
    nonfinite = state.nonfinite.sum(axis=0)
    outputs = {}
    for o, out in enumerate(scenario.outputs):
        n, s1, s2, lo, hi = (float(x) for x in totals[o])  # overflow to inf, not a warning
        count = int(n)
        mean = float(shifts[o] + s1 / count) if count else math.nan
        var = (s2 - s1 * s1 / count) / (count - 1) if count > 1 else math.nan
        std = math.sqrt(max(var, 0.0)) if count > 1 else math.nan
        outputs[out.name] = OutputStats(
            name=out.name, count=count, nonfinite=int(nonfinite[o]),
            mean=mean, std=std,
            histogram=Histogram(layouts[o], merged[offsets[o]:offsets[o + 1]],
                                float(lo) if count else math.nan,
                                float(hi) if count else math.nan))
    return outputs


def _weighted_outputs(scenario: Scenario, layouts: list[Layout], shifts: np.ndarray,
                      w: WeightedReductions, state: Reductions,
                      prior: dict[str, OutputStats]) -> dict[str, OutputStats]:
    """Each output's posterior ``OutputStats`` from the weighted reductions: weighted mean,
    standard deviation (with the reliability-weights correction, which is n/(n-1) for equal
    weights), histogram of weights, and Kish's effective sample size of its finite draws."""
    merged = w.histogram_weights()
    coarse = [weighted_layout(lay) for lay in layouts]
    offsets = bin_offsets(coarse)
    outputs = {}
    for o, out in enumerate(scenario.outputs):
        n, sw, swd, swd2, sw2, lo, hi = (float(x) for x in w.totals[o])
        count = int(n)
        ess = sw * sw / sw2 if sw2 > 0 else 0.0
        mean = float(shifts[o] + swd / sw) if sw > 0 else math.nan
        denom = sw - sw2 / sw if sw > 0 else 0.0
        var = (swd2 - swd * swd / sw) / denom if count > 1 and denom > 0 else math.nan
        std = math.sqrt(max(var, 0.0)) if not math.isnan(var) else math.nan
        outputs[out.name] = OutputStats(
            name=out.name, count=count, nonfinite=prior[out.name].nonfinite, mean=mean,
            std=std, ess=ess,
            histogram=Histogram(coarse[o], merged[offsets[o]:offsets[o + 1]],
                                lo if count else math.nan, hi if count else math.nan,
                                effective=ess))
    return outputs


def _ready_kernels(prog: Program, n_threads: int) -> float:
    """Compile (first use) or load from the disk cache the kernels ``simulate`` calls, by
    calling them on zero draws; returns the seconds it took (near zero once loaded)."""
    t0 = time.perf_counter()
    _pilot_values(prog, 0, n_threads)
    return time.perf_counter() - t0


def _pilot_values(prog: Program, n: int, n_threads: int, begin: int = 0) -> np.ndarray:
    """The outputs of draws ``begin .. begin+n-1`` as ``[output, draw]``, from
    ``reduce_tiles`` in its store-only mode (so a run loads or compiles one kernel, not two)."""
    n_out = len(prog.out_regs)
    store = np.empty((n_out, n))
    K.reduce_tiles(*prog.kernel_args, prog.out_regs, np.zeros(n_out),
                   np.zeros((n_out, 4), dtype=np.int64), np.zeros(n_out, dtype=np.int64), 10,
                   begin, begin + n, 0, -(-n // K.TILE),
                   np.zeros((n_threads, 1), dtype=np.int32),
                   np.zeros((n_out, K.N_STATS)), np.zeros((n_threads, n_out), dtype=np.int64),
                   store, n_threads, *no_weights(n_threads))
    return store


def _pilot(prog: Program, pilot: int, n_threads: int,
           scenario: Scenario | None = None) -> tuple[list[Layout], np.ndarray]:
    """Histogram layouts and a shift near each output's centre (for numerically stable
    sums of squares), from a pilot: the first draws of the run itself. Under evidence, the
    pilot also checks that the evidence can fit the priors (``evidence.check_pilot``)."""
    if len(prog.evidence_regs) and scenario is not None:
        values, quantity, weight = _evidence_pilot(prog, pilot, n_threads)
        check_pilot(scenario.evidence, quantity, weight,
                    f"{scenario.path}: " if scenario.path else "")
    else:
        values = _pilot_values(prog, pilot, n_threads)
    shifts = np.zeros(len(values))
    for o, row in enumerate(values):
        finite = row[np.isfinite(row)]
        if finite.size:  # near the centre is enough, and 4,096 draws cost 1/16 of the time
            shifts[o] = np.median(finite[:_SHIFT_DRAWS])
    return [Layout.from_pilot(row) for row in values], shifts


def _evidence_pilot(prog: Program, n: int, n_threads: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` draws of the outputs, and of each piece of evidence its quantity (or
    condition) and its own weight, as ``[row, draw]`` arrays."""
    regs = np.concatenate([prog.out_regs, prog.evidence_regs.ravel()])
    values = _pilot_values(replace(prog, out_regs=regs), n, n_threads)
    pairs = values[len(prog.out_regs):]
    return values[:len(prog.out_regs)], pairs[0::2], pairs[1::2]


def _require_weight(sim: Simulation, prog: Program) -> None:
    """Refuse a run in which every draw's weight is zero: the evidence contradicts the
    priors. The message says which evidence, and by how much, from the run's first draws."""
    if sim.weights is None or sim.weights.positive:
        return
    _, quantity, weight = _evidence_pilot(prog, min(sim.draws, PILOT_DRAWS), sim.threads)
    where = f"{sim.scenario.path}: " if sim.scenario.path else ""
    raise McsimError(f"{where}every draw has weight zero under the evidence ({sim.draws:,} "
                     f"draws): {explain_zero(sim.scenario.evidence, quantity, weight)}")


def _new_state(layouts: list[Layout], n_threads: int, weighted: bool = False) -> Reductions:
    """Empty running reductions for outputs with these histogram layouts (with the weighted
    ones too, under evidence)."""
    w_bins = int(bin_offsets([weighted_layout(lay) for lay in layouts])[-1]) if weighted else 0
    return Reductions.empty(len(layouts), int(bin_offsets(layouts)[-1]), n_threads, w_bins)
