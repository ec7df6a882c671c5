"""Where draws are reduced: the unit of work, its mergeable result, and two ways to run it.

The unit of work is a ``Job``: reduce draws ``[begin, end)`` of a compiled program, with given
histogram layouts and shifts, into ``Reductions``. ``LocalExecutor`` runs it on this
machine's threads, in batches of tiles per kernel call (the fast path). ``DaskExecutor`` cuts
it into tasks of whole tiles on a Dask cluster; each task returns a ``Partial`` (every tile's
moments, the task's histogram counts), and the client merges them as they arrive, in tile
order through a bounded reorder buffer. The kernel adds each tile's moments into the running
totals in tile order too, so both executors give bit-identical results for a seed.

Dask is imported here only, and only when a cluster is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from . import _kernels as K
from .errors import McsimError
from .histogram import Layout

Progress = Callable[[int, int], None]  # (draws done, draws in total)
INSTALL_HINT = 'pip install "mcsim[dask]"'
CONNECT_SECONDS = 5  # how long to try reaching a scheduler before giving up
TASK_TILES = 64  # tiles per Dask task (4.2M draws); see ``DaskExecutor``
_LANE_LIMIT = 2**31 - 1  # draws a lane's int32 counts can take without overflow
_LOW_MASK = np.int64(2**62 - 1)
_WEIGHT_LANE_LIMIT = 2**(61 - K.WEIGHT_BITS)  # draws a lane's weight units stay below 2**61 for
MAX_TASK_TILES = _LANE_LIMIT // K.TILE  # a task's counts travel as int32
_NO_STORE = np.empty((0, 0))  # reduce_tiles reduces (a store with columns: pilot mode)


@dataclass(frozen=True)
class Job:
    """The unit of work, as plain data (it travels to Dask workers): reduce draws
    ``begin .. end-1`` of a program with these histogram layouts and sum-of-squares shifts
    (and, under evidence, the weights in register ``weight_reg``)."""

    kernel_args: tuple  # ``Program.kernel_args``
    out_regs: np.ndarray  # int64 [output]
    shifts: np.ndarray  # float64 [output]
    layout_rows: np.ndarray  # int64 [output, 4]: ``Layout.as_row``
    offsets: np.ndarray  # int64 [output + 1]: each output's first bin, and the end
    sub_bits: int
    begin: int
    end: int
    weight_reg: int = -1  # -1: no evidence
    w_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    @classmethod
    def build(cls, prog, layouts: list[Layout], shifts: np.ndarray, begin: int,
              end: int) -> Job:
        """``prog`` (a ``Program``) with ``layouts`` from its pilot."""
        n_out = len(layouts)
        return cls(kernel_args=prog.kernel_args, out_regs=prog.out_regs, shifts=shifts,
                   layout_rows=np.array([lay.as_row() for lay in layouts],
                                        dtype=np.int64).reshape(n_out, 4),
                   offsets=bin_offsets(layouts),
                   sub_bits=layouts[0].sub_bits if layouts else 10, begin=begin, end=end,
                   weight_reg=int(prog.weight_reg),
                   w_offsets=bin_offsets([weighted_layout(lay) for lay in layouts]))

    @property
    def n_tiles(self) -> int:
        return -(-(self.end - self.begin) // K.TILE)

    @property
    def n_bins(self) -> int:
        return int(self.offsets[-1])

    @property
    def w_bins(self) -> int:
        """Bins of the weighted histograms (0 without evidence)."""
        return int(self.w_offsets[-1]) if self.weight_reg >= 0 else 0

    def draws_to(self, tile: int) -> int:
        """Draws done once the tiles before ``tile`` are."""
        return min(self.begin + tile * K.TILE, self.end)


def weighted_layout(layout: Layout) -> Layout:
    """The layout of an output's weighted histogram: its own, ``COARSEN`` bits coarser."""
    return replace(layout, sub_bits=layout.sub_bits - K.COARSEN)


def bin_offsets(layouts: list[Layout]) -> np.ndarray:
    """Where each output's bins start in the histogram lanes (one past the end, last)."""
    return np.cumsum([0] + [lay.n_bins for lay in layouts]).astype(np.int64)


@dataclass(frozen=True)
class Partial:
    """What a Dask task returns for tiles ``tile0 ..``: each tile's sums (merged tile by tile,
    in order, as the kernel adds them), and the task's histogram and non-finite counts
    (integer sums: order-free). The counts travel sparse: most of a histogram's bins are
    empty (its range has a 1,024x margin either way), and DeepSeek's 40 outputs have ~1M
    bins, 7.9 MB as dense int64. Under evidence, the weighted twins of each (``w_``)."""

    tile0: int
    tile_totals: np.ndarray  # float64 [tile, output, N_STATS]
    bins: np.ndarray  # int32 [bin]: the bins with counts
    counts: np.ndarray  # int32 [bin]: their counts (a task has fewer than 2**31 draws)
    nonfinite: np.ndarray  # int64 [output]
    w_tile_totals: np.ndarray  # float64 [tile, output, N_WSTATS] (no tiles: no evidence)
    w_tile_run: np.ndarray  # float64 [tile, N_WRUN]
    w_bins: np.ndarray  # int32 [bin]: the weighted bins with weight
    w_high: np.ndarray  # int64 [bin]: their weight units, high * 2**62 + low
    w_low: np.ndarray  # int64 [bin]

    @property
    def n_tiles(self) -> int:
        return len(self.tile_totals)


@dataclass
class WeightedReductions:
    """The weighted half of a run's reductions. Histogram counts are whole weight units
    (2**-WEIGHT_BITS), in each output's layout coarsened by ``COARSEN`` bits
    (``weighted_layout``), in per-lane int64 ``lanes``, flushed into a 124-bit sum held as
    ``high * 2**62 + low``: integer sums are exact, so the result does not depend on threads,
    batching or flushing. ``totals`` holds ``N_WSTATS`` per output, ``run`` ``N_WRUN``."""

    lanes: np.ndarray  # int64 [lane, bin]
    high: np.ndarray  # int64 [bin]
    low: np.ndarray  # int64 [bin], below 2**62
    totals: np.ndarray  # float64 [output, N_WSTATS]
    run: np.ndarray  # float64 [N_WRUN]
    pending: int = 0  # draws a lane may have counted since the last flush

    @classmethod
    def empty(cls, n_outputs: int, n_bins: int, n_lanes: int) -> WeightedReductions:
        state = cls(lanes=np.zeros((n_lanes, n_bins), dtype=np.int64),
                    high=np.zeros(n_bins, dtype=np.int64), low=np.zeros(n_bins, dtype=np.int64),
                    totals=np.empty((n_outputs, K.N_WSTATS)), run=np.empty(K.N_WRUN))
        state.reset_totals()
        return state

    def reset_totals(self) -> None:
        _reset(self.totals)
        self.run[:] = 0.0

    def flush(self) -> None:
        for lane in self.lanes:  # each lane below 2**61: low + lane stays below 2**63
            self.low += lane
            self.high += self.low >> 62
            self.low &= _LOW_MASK
        self.lanes[:] = 0
        self.pending = 0

    def histogram_weights(self) -> np.ndarray:
        """Each bin's sum of weights (after a flush: exact up to one rounding)."""
        self.flush()
        return (self.high.astype(float) * 2.0**(62 - K.WEIGHT_BITS)
                + self.low.astype(float) * 2.0**-K.WEIGHT_BITS)

    def add_units(self, bins: np.ndarray | slice, high: np.ndarray, low: np.ndarray) -> None:
        """Add 124-bit weight units (``low`` below 2**62) to these bins."""
        self.low[bins] += low
        self.high[bins] += high + (self.low[bins] >> 62)
        self.low[bins] &= _LOW_MASK

    def add_tile(self, totals: np.ndarray, run: np.ndarray) -> None:
        """Add a tile's (or a whole run's) sums, as the kernel adds them."""
        _add(self.totals, totals)
        self.run += run

    def pool(self, other: WeightedReductions) -> None:
        other.flush()
        self.flush()
        self.add_units(slice(None), other.high, other.low)
        self.add_tile(other.totals, other.run)


@dataclass
class Reductions:
    """Running reductions of a run. The kernel counts into per-lane int32 histograms (half
    the cache footprint of int64: a DeepSeek run is ~4% faster), which are flushed into the
    int64 ``counts`` before any lane could overflow; ``totals`` holds count, shifted sum,
    shifted sum of squares, min and max per output; ``nonfinite`` is per lane and output;
    ``weighted`` the weighted reductions, under evidence.

    ``reduce`` folds tiles in with one kernel call, ``merge`` a ``Partial``, ``pool`` another
    ``Reductions``: the only places that know how reductions combine."""

    lanes: np.ndarray  # int32 [lane, bin]
    counts: np.ndarray  # int64 [bin]
    totals: np.ndarray  # float64 [output, N_STATS]
    nonfinite: np.ndarray  # int64 [lane, output]
    pending: int = 0  # draws counted in ``lanes`` since they were last flushed
    weighted: WeightedReductions | None = None  # under evidence

    @classmethod
    def empty(cls, n_outputs: int, n_bins: int, n_lanes: int, w_bins: int = 0) -> Reductions:
        """Empty reductions (with ``w_bins`` weighted bins: under evidence)."""
        state = cls(lanes=np.zeros((n_lanes, n_bins), dtype=np.int32),
                    counts=np.zeros(n_bins, dtype=np.int64),
                    totals=np.empty((n_outputs, K.N_STATS)),
                    nonfinite=np.zeros((n_lanes, n_outputs), dtype=np.int64),
                    weighted=WeightedReductions.empty(n_outputs, w_bins, n_lanes)
                    if w_bins else None)
        state.reset_totals()
        return state

    def reset_totals(self) -> None:
        _reset(self.totals)
        if self.weighted is not None:
            self.weighted.reset_totals()

    def flush(self) -> None:
        self.counts += self.lanes.sum(axis=0, dtype=np.int64)
        self.lanes[:] = 0
        self.pending = 0

    def histogram_counts(self) -> np.ndarray:
        return self.counts + self.lanes.sum(axis=0, dtype=np.int64)

    def reduce(self, job: Job, tile0: int, count: int, n_lanes: int) -> None:
        """Fold tiles ``tile0 .. tile0+count-1`` of ``job`` in, on ``n_lanes`` threads."""
        draws = job.draws_to(tile0 + count) - job.draws_to(tile0)
        if self.pending + draws > _LANE_LIMIT:
            self.flush()
        w = self.weighted
        if w is not None:
            lane_draws = -(-count // n_lanes) * K.TILE
            if w.pending + lane_draws > _WEIGHT_LANE_LIMIT:
                w.flush()
            w.pending += lane_draws
            weights: tuple = (job.weight_reg, w.lanes, job.w_offsets, w.totals, w.run)
        else:
            weights = no_weights(n_lanes)
        K.reduce_tiles(*job.kernel_args, job.out_regs, job.shifts, job.layout_rows,
                       job.offsets, job.sub_bits, job.begin, job.end, tile0, count, self.lanes,
                       self.totals, self.nonfinite, _NO_STORE, n_lanes, *weights)
        self.pending += draws

    def merge(self, part: Partial) -> None:
        """Add a task's result, whose tiles follow those already in (as the kernel adds its
        tiles' sums: in tile order, so the floating-point result is the same)."""
        self.counts[part.bins] += part.counts
        self.nonfinite[0] += part.nonfinite
        for row in part.tile_totals:
            _add(self.totals, row)
        if self.weighted is not None:
            self.weighted.add_units(part.w_bins, part.w_high, part.w_low)
            for totals, run in zip(part.w_tile_totals, part.w_tile_run, strict=True):
                self.weighted.add_tile(totals, run)

    def pool(self, other: Reductions) -> None:
        """Add the reductions ``other`` (a replicate's: its sums as a whole)."""
        self.counts += other.histogram_counts()
        _add(self.totals, other.totals)
        self.nonfinite[0] += other.nonfinite.sum(axis=0)
        if self.weighted is not None and other.weighted is not None:
            self.weighted.pool(other.weighted)


def _reset(totals: np.ndarray) -> None:
    """Empty ``[output, stat]`` totals: sums (all but the last two stats) 0, min +inf and
    max -inf (the kernel's ``totals`` and ``w_totals``)."""
    totals[:, :-2] = 0.0
    totals[:, -2] = np.inf
    totals[:, -1] = -np.inf


def _add(totals: np.ndarray, other: np.ndarray) -> None:
    """Add ``other`` into ``totals`` (both as ``_reset`` lays them out) as the kernel adds a
    tile: sums element by element, then min and max; in tile order, the same doubles."""
    totals[:, :-2] += other[:, :-2]
    np.minimum(totals[:, -2], other[:, -2], out=totals[:, -2])
    np.maximum(totals[:, -1], other[:, -1], out=totals[:, -1])


def no_weights(n_lanes: int) -> tuple:
    """``reduce_tiles``'s evidence arguments without evidence: -1 and empty arrays."""
    return (-1, np.zeros((n_lanes, 0), dtype=np.int64), np.zeros(0, dtype=np.int64),
            np.zeros((0, K.N_WSTATS)), np.zeros(K.N_WRUN))


def reduce_part(job: Job, tile0: int, count: int) -> Partial:
    """The Dask task: tiles ``tile0 .. tile0+count-1`` of ``job`` on one thread, one kernel
    call per tile into fresh totals (0 + x is x: each tile's sums come back exact)."""
    import numba

    if count > MAX_TASK_TILES:
        raise ValueError(f"a task of {count} tiles: at most {MAX_TASK_TILES}")
    n_out = len(job.out_regs)
    state = Reductions.empty(n_out, job.n_bins, 1, job.w_bins)
    w = state.weighted
    rows = np.empty((count, n_out, K.N_STATS))
    w_rows = np.empty((count if w else 0, n_out, K.N_WSTATS))
    w_run = np.empty((count if w else 0, K.N_WRUN))
    before = numba.get_num_threads()
    numba.set_num_threads(1)  # this thread's setting: a worker's other tasks keep theirs
    try:
        for i in range(count):
            state.reset_totals()
            state.reduce(job, tile0 + i, 1, 1)
            rows[i] = state.totals
            if w is not None:
                w_rows[i] = w.totals
                w_run[i] = w.run
    finally:
        numba.set_num_threads(before)
    counts = state.lanes[0]  # never flushed: a task has fewer than 2**31 draws
    bins = np.flatnonzero(counts).astype(np.int32)
    w_bins = np.zeros(0, dtype=np.int32)
    high = low = np.zeros(0, dtype=np.int64)
    if w is not None:
        w.flush()
        w_bins = np.flatnonzero(w.high | w.low).astype(np.int32)
        high, low = w.high[w_bins], w.low[w_bins]
    return Partial(tile0, rows, bins, counts[bins], state.nonfinite[0].copy(), w_rows, w_run,
                   w_bins, high, low)


class Executor(Protocol):
    """Runs a ``Job`` into ``state``, yielding the draws done at each point where ``state``
    holds a prefix of the job's tiles (every ``batch_tiles``, if given)."""

    def describe(self) -> str: ...

    def stream(self, job: Job, state: Reductions, n_threads: int, batch_tiles: int | None,
               progress: Progress | None, total: int) -> Iterator[int]: ...


def local_batch(n_threads: int) -> int:
    """Tiles per kernel call of a local run: 8 per thread."""
    return max(1, 8 * n_threads)


class LocalExecutor:
    """This machine's threads: ``batch_tiles`` (default 8 per thread) tiles per kernel call."""

    def describe(self) -> str:
        return "local"

    def stream(self, job: Job, state: Reductions, n_threads: int, batch_tiles: int | None,
               progress: Progress | None, total: int) -> Iterator[int]:
        batch = batch_tiles or local_batch(n_threads)
        for tile0 in range(0, job.n_tiles, batch):
            count = min(batch, job.n_tiles - tile0)
            state.reduce(job, tile0, count, n_threads)
            done = job.draws_to(tile0 + count)
            if progress is not None:
                progress(done, total)
            yield done


class DaskExecutor:
    """A Dask cluster behind a ``distributed.Client``: tasks of ``task_tiles`` tiles (default
    ``TASK_TILES``, fewer when a run is too small to give every worker thread four tasks), at
    most ``window`` in flight (default: two per worker thread, plus two: one running and
    one queued on each), merged in tile order.

    The client holds at most ``window`` results (DeepSeek's: about 1 MB each), whatever the
    number of draws. Results do not depend on the task size, the window or the number of
    workers."""

    def __init__(self, client: Any, task_tiles: int | None = None, window: int | None = None):
        self.client = client
        self.task_tiles = task_tiles
        self.window = window
        self.warm_seconds: dict[str, float] | None = None  # per worker, after ``warm``

    def describe(self) -> str:
        return f"Dask, {self.slots()} worker threads"

    def slots(self) -> int:
        """Worker threads in the cluster now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def tiles_per_task(self, n_tiles: int) -> int:
        if self.task_tiles:
            return min(self.task_tiles, MAX_TASK_TILES)
        return max(1, min(TASK_TILES, -(-n_tiles // (4 * self.slots()))))

    def warm(self, job: Job) -> dict[str, float]:
        """Load (or compile) the kernels on every worker now (``job`` for no draws), checking
        that each runs this version of mcsim; the seconds each took, by worker address."""
        try:
            found = self.client.run(_worker_ready, job)
        except ModuleNotFoundError as err:
            raise McsimError(f"a Dask worker cannot import {err.name}: install mcsim on every "
                             "worker") from None
        mine = _versions()
        for address, (versions, _) in found.items():
            if versions != mine:
                raise McsimError(f"Dask worker {address} runs mcsim {versions}, not {mine}: "
                                 "install the same version everywhere")
        self.warm_seconds = {a: s for a, (_, s) in found.items()}
        return self.warm_seconds

    def stream(self, job: Job, state: Reductions, n_threads: int, batch_tiles: int | None,
               progress: Progress | None, total: int) -> Iterator[int]:
        from distributed import as_completed

        if self.warm_seconds is None:
            self.warm(job)
        step = min(batch_tiles, MAX_TASK_TILES) if batch_tiles else self.tiles_per_task(
            job.n_tiles)
        starts = range(0, job.n_tiles, step)
        window = self.window or 2 * self.slots() + 2
        client = self.client
        # the job travels once, as a task's result: lost with a worker, it is made again
        shared = client.submit(_same, job, pure=False)
        futures: dict[int, Any] = {}  # task number -> future, not merged yet
        ready: dict[int, Partial] = {}  # the reorder buffer: at most ``window`` results
        queue = as_completed(loop=client.loop)
        submitted = merged = 0
        try:
            while merged < len(starts):
                while submitted < len(starts) and submitted - merged < window:
                    tile0 = starts[submitted]
                    fut = client.submit(reduce_part, shared, tile0,
                                        min(step, job.n_tiles - tile0), pure=False)
                    futures[submitted] = fut
                    queue.add(fut)
                    submitted += 1
                part = _result(next(queue))
                ready[part.tile0 // step] = part
                while merged in ready:
                    state.merge(ready.pop(merged))
                    del futures[merged]
                    merged += 1
                    done = job.draws_to(min(merged * step, job.n_tiles))
                    if progress is not None:
                        progress(done, total)
                    yield done
        finally:  # finished, stopped early (stop=, Ctrl-C) or failed: nothing left running
            if futures:
                client.cancel(list(futures.values()))
            client.cancel([shared])


def _same(job: Job) -> Job:
    return job


def _result(future) -> Partial:
    """A finished task's ``Partial``, or one line on why there is none."""
    from concurrent.futures import CancelledError  # distributed's FutureCancelledError too

    try:
        return future.result()
    except CancelledError:
        raise McsimError("the Dask scheduler went away (or cancelled the run); "
                         "no results written") from None
    except Exception as err:
        if type(err).__name__ == "KilledWorker":
            raise McsimError(f"Dask gave up on a task after it killed workers: {err}") from None
        raise


def _versions() -> tuple[str, str]:
    from . import __version__

    return __version__, K.DEPENDENCIES_DIGEST


def _worker_ready(job: Job) -> tuple[tuple[str, str], float]:
    """On a worker: its mcsim's version, and the seconds that loading (or compiling) the
    kernels took, by running ``job`` for no draws."""
    t0 = time.perf_counter()
    reduce_part(replace(job, begin=0, end=0), 0, 1)
    return _versions(), time.perf_counter() - t0


# ---------------------------------------------------------------- choosing an executor


def parse_local(spec: str) -> int:
    """Worker processes of ``--dask local[:N]`` (default: one per core)."""
    import os

    head, _, count = spec.partition(":")
    if head != "local" or (count and not count.isdigit()) or count == "0":
        raise McsimError(f"--dask: expected local or local:N with N >= 1 (got {spec!r})")
    return int(count) if count else os.cpu_count() or 1


def from_options(scheduler: str | None, local: str | None):
    """A context giving the executor of the options ``--scheduler ADDRESS`` or
    ``--dask local[:N]``, or None (this machine's threads) when neither is given."""
    if scheduler is None and local is None:
        return nullcontext(None)
    return dask_executor(scheduler, local)


@contextmanager
def dask_executor(scheduler: str | None = None, local: str | None = None,
                  task_tiles: int | None = None) -> Iterator[DaskExecutor]:
    """The executor of a scheduler's ``ADDRESS`` or of ``local[:N]`` (a cluster of N worker
    processes here); the client (and a local cluster) are closed on leaving."""
    if (scheduler is None) == (local is None):
        raise McsimError("--scheduler and --dask: give one or the other")
    n_workers = parse_local(local) if local is not None else 0
    distributed = _import_distributed()
    import logging

    # Dask logs its retries and tracebacks (a scheduler gone, a worker killed): the command
    # says what matters in one line
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.split(".")[0] == "distributed"]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    cluster = client = None
    try:
        if scheduler is None:
            cluster = distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster, set_as_default=False)
        else:
            client = _connect(distributed, scheduler)
        yield DaskExecutor(client, task_tiles)
    finally:
        if client is not None:
            client.close(timeout=CONNECT_SECONDS)
        if cluster is not None:
            cluster.close(timeout=CONNECT_SECONDS)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise McsimError(f"--dask/--scheduler need Dask: {INSTALL_HINT}") from None
    return distributed


def _connect(distributed, address: str):
    """A client of the scheduler at ``address``, or one line on why there is none."""
    try:
        return distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise McsimError(f"--scheduler {address}: cannot reach a Dask scheduler "
                         f"within {CONNECT_SECONDS} s ({why})") from None


def choose(executor: Executor | None, client: Any = None) -> Executor:
    """The executor ``simulate`` runs on: ``executor``, else a ``DaskExecutor`` of
    ``client``, else this machine's threads."""
    if executor is not None and client is not None:
        raise McsimError("simulate: give executor= or client=, not both")
    if executor is not None:
        return executor
    return DaskExecutor(client) if client is not None else LocalExecutor()
