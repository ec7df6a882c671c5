"""The speed suite behind ``mcsim bench``: draws per second, tracked like a product metric.

Cases: the DeepSeek scenario (its priors alone, and under its evidence: the cost of the
likelihood weights), a synthetic 14-input scenario, and one input of each family alone, at
each draw count and thread count asked for; the plain and tuned numpy versions of the two
scenarios side by side; a 21-point sweep of DeepSeek (points per second, and the fixed cost
per point); a cold start (empty kernel cache) and a warm ``mcsim run --draws 10M`` as whole
processes with their peak RSS. On its own, with a ``--dask local:N`` cluster: DeepSeek on N
worker processes against N local threads, the cost of a task, and a worker's first kernel
call (see ``time_dask``). Timings are medians of ``repeats`` runs, warm unless said
otherwise. Results append to ``results.jsonl`` with the machine, the commit and the versions,
so the history of samples per second stays in the repo.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from . import __version__
from ._kernels import TILE
from .engine import simulate
from .numpy_baseline import run_plain, run_tuned
from .scenario import Scenario, load_scenario, scenario_from_dict

HISTORY_FILE = "results.jsonl"

# 14 inputs: lognormal, PERT, uniform, beta and normal priors, with a few products and sums.
SYNTHETIC: dict[str, Any] = {
    "schema": 1,
    "title": "Synthetic benchmark: 14 inputs, a few products and sums",
    "inputs": {
        "n1": {"p5": 8000, "p95": 12000}, "n2": {"p5": 5000, "p95": 15000},
        "n3": {"p5": 20000, "p95": 40000}, "p1": {"min": 30, "mode": 40, "max": 50},
        "p2": {"min": 20, "mode": 36, "max": 47}, "p3": {"min": 10, "mode": 22, "max": 25},
        "share": {"dist": "uniform", "min": 0.05, "max": 0.2},
        "dc": {"p5": 3, "p95": 15}, "kw": {"dist": "beta", "a": 4, "b": 3, "loc": 0.8,
                                          "scale": 0.6},
        "pue": {"min": 1.1, "mode": 1.3, "max": 1.5},
        "util": {"dist": "beta", "a": 5, "b": 2},
        "price": {"dist": "normal", "loc": 0.088, "scale": 0.015},
        "staff": {"dist": "uniform", "min": 140, "max": 200},
        "pay": {"p5": 100, "p95": 400},
    },
    "derived": {
        "servers": "n1 * p1 + n2 * p2 + n3 * p3",
        "capex": "servers * (1 + share) + (n1 + n2 + n3) * kw * dc / 1000",
        "opex": "(n1 + n2 + n3) * kw * pue * util * 8.766 * price + staff * pay",
    },
    "outputs": {"capex": {"formula": "capex", "unit": "USD"},
                "total": {"formula": "capex + 4 * opex", "unit": "USD"},
                "ratio": {"formula": "(capex + 4 * opex) / 6000", "unit": "x"}},
}
SINGLE_FAMILY: dict[str, dict[str, Any]] = {
    "uniform": {"dist": "uniform", "min": 1, "max": 2},
    "loguniform": {"dist": "loguniform", "min": 1, "max": 100},
    "normal": {"dist": "normal", "loc": 0, "scale": 1},
    "truncnormal": {"dist": "truncnormal", "loc": 0, "scale": 1, "min": -1, "max": 2},
    "lognormal": {"dist": "lognormal", "mu": 0, "sigma": 1},
    "triangular": {"dist": "triangular", "min": 0, "mode": 1, "max": 3},
    "pert": {"dist": "pert", "min": 0, "mode": 1, "max": 3},
    "beta": {"dist": "beta", "a": 2, "b": 5},
    "gamma": {"dist": "gamma", "a": 2},
    "discrete": {"dist": "discrete", "values": [1, 2, 3], "weights": [0.2, 0.3, 0.5]},
}


def synthetic() -> Scenario:
    data = {**SYNTHETIC, "inputs": {k: {**v, "unit": "u", "source": "benchmark"}
                                    for k, v in SYNTHETIC["inputs"].items()}}
    return scenario_from_dict(data, name="synthetic14")


def single(family: str) -> Scenario:
    return scenario_from_dict({
        "schema": 1, "inputs": {"x": {**SINGLE_FAMILY[family], "unit": "u", "source": "bench"}},
        "outputs": {"y": {"formula": "x"}}}, name=f"family-{family}")


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _sampled(sc: Scenario) -> int:
    return sum(1 for i in sc.inputs if not i.prior.is_constant)


def time_scenario(sc: Scenario, draws: int, threads: int, repeats: int) -> dict:
    seconds = _median_seconds(lambda: simulate(sc, draws, seed=1, threads=threads), repeats)
    return {"case": sc.name, "impl": "mcsim", "draws": draws, "threads": threads,
            "seconds": seconds, "inputs": _sampled(sc)}


def time_numpy(sc: Scenario, draws: int, tuned: bool, threads: int) -> dict:
    if tuned:
        seconds = _median_seconds(lambda: run_tuned(sc, draws, seed=1, threads=threads), 1)
    else:
        seconds = _median_seconds(lambda: run_plain(sc, draws, seed=1), 1)
    return {"case": sc.name, "impl": "numpy tuned" if tuned else "numpy plain", "draws": draws,
            "threads": threads if tuned else 1, "seconds": seconds, "inputs": _sampled(sc)}


def time_process(draws: str, cold: bool, repeats: int = 1) -> dict:
    """Wall time (median of ``repeats`` runs) and peak RSS of a whole ``mcsim run`` process
    (cold: an empty kernel cache for every run)."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ)
            if cold:
                env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "cache")
            probe = ("import resource, subprocess, sys, time\n"
                     "t = time.perf_counter()\n"
                     "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
                     "print(time.perf_counter() - t, "
                     "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
            cmd = [sys.executable, "-c", probe, sys.executable, "-m", "mcsim", "run",
                   "--draws", draws, "--seed", "1", "-q", "--out", str(Path(tmp) / "out")]
            text = subprocess.run(cmd, env=env, check=True, capture_output=True,
                                  text=True).stdout
            seconds, rss_kib = text.split()
            runs.append((float(seconds), int(rss_kib) / 1024))
    return {"case": f"mcsim run --draws {draws} ({'cold' if cold else 'warm'})",
            "impl": "process", "seconds": statistics.median(s for s, _ in runs),
            "peak_rss_mib": max(r for _, r in runs)}


SWEEP_POINTS = 21
SWEEP_INPUT, SWEEP_OUTPUT = "h20_count", "ratio_server_tco_to_6m"


def time_sweep(draws: int, threads: int, repeats: int, points: int = SWEEP_POINTS) -> dict:
    """A DeepSeek sweep of the H20 count over ``points`` points, ``draws`` each: its points
    per second, and the fixed cost per point (pilot, reductions, summary; the scenario is
    lowered once per sweep) from a line through the time per point at ``PILOT_DRAWS`` draws
    and at ``draws``."""
    from .engine import PILOT_DRAWS
    from .sweep import Axis, sweep

    sc = load_scenario()
    axis = Axis(SWEEP_INPUT, "set", tuple(np.linspace(0, 50_000, points)))

    def per_point(n: int) -> float:
        return _median_seconds(lambda: sweep(sc, [axis], output=SWEEP_OUTPUT, draws=n, seed=1,
                                             threads=threads), repeats) / points

    big = per_point(draws)
    if draws > PILOT_DRAWS:
        small = per_point(PILOT_DRAWS)
        fixed = small - PILOT_DRAWS * (big - small) / (draws - PILOT_DRAWS)
    else:  # a point no larger than the pilot: all of it is the fixed cost
        fixed = big
    return {"case": f"sweep deepseek {SWEEP_INPUT} x{points}", "impl": "sweep",
            "draws": draws * points, "threads": threads, "seconds": big * points,
            "inputs": _sampled(sc), "points_per_second": 1 / big,
            "fixed_seconds_per_point": fixed}


def time_dask(local: str, sizes: tuple[int, ...], repeats: int, cold: bool = True,
              task_tiles: int | None = None) -> pd.DataFrame:
    """DeepSeek on a local Dask cluster (``--dask local:N``: N worker processes of one
    thread) against N threads here, A/B pairs alternating, at each of ``sizes``, with the
    client's peak RSS; per task (``task_tiles``, default ``TASK_TILES``): the marginal cost
    (one-tile tasks against ``task_tiles``-tile tasks at the same draws), the bytes of a
    result and the time to merge one; and a worker's first kernel call from the kernel cache,
    and (``cold``) from an empty one."""
    import pickle

    from .engine import PILOT_DRAWS, _pilot
    from .executors import TASK_TILES, Job, Reductions, dask_executor, parse_local, reduce_part
    from .program import compile_program

    sc = load_scenario()
    n_workers = parse_local(local)
    tiles = task_tiles or TASK_TILES
    first = {"warm (from the cache)": _first_kernel_call(local, sc)}
    if cold:
        with tempfile.TemporaryDirectory() as tmp:
            first["cold (empty cache)"] = _first_kernel_call(local, sc, tmp)
    rows = [{"case": f"a worker's first kernel call, {n_workers} workers", "impl": "dask note",
             "seconds": min(first.values()),
             "note": ", ".join(f"{k} {v:.2f} s" for k, v in first.items())}]
    with dask_executor(local=local) as ex:
        simulate(sc, PILOT_DRAWS, seed=1, executor=ex)  # workers warm: timings as for a run
        for n in sizes:
            here, there, rss = [], [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                simulate(sc, n, seed=1, threads=n_workers)
                here.append(time.perf_counter() - t0)
                with _PeakRss() as peak:
                    t0 = time.perf_counter()
                    simulate(sc, n, seed=1, threads=n_workers, executor=ex)
                    there.append(time.perf_counter() - t0)
                rss.append(peak.mib)
            base = {"case": sc.name, "draws": n, "threads": n_workers, "inputs": _sampled(sc)}
            rows.append({**base, "impl": "mcsim", "seconds": statistics.median(here)})
            rows.append({**base, "impl": f"dask {local}", "seconds": statistics.median(there),
                         "task_tiles": ex.tiles_per_task(-(-n // TILE)),
                         "peak_rss_mib": max(rss),
                         "vs_local": statistics.median(here) / statistics.median(there)})
        n = 4 * tiles * TILE  # 4 tasks of ``tiles`` tiles, or 4 * tiles tasks of one
        per_task = []
        for _ in range(repeats):
            small, big = (_median_seconds(lambda t=t: simulate(
                sc, n, seed=1, executor=_with_tiles(ex, t)), 1) for t in (1, tiles))
            per_task.append((small - big) / (4 * tiles - 4))
    prog = compile_program(sc, 1)
    layouts, shifts = _pilot(prog, PILOT_DRAWS, 1)
    job = Job.build(prog, layouts, shifts, 0, tiles * TILE)
    part = reduce_part(job, 0, tiles)
    state = Reductions.empty(len(layouts), job.n_bins, 1)
    merge = _median_seconds(lambda: state.merge(part), 5)
    cost = statistics.median(per_task)
    rows.append({"case": f"a task of {tiles} tiles ({tiles * TILE:,} draws)",
                 "impl": "dask note", "seconds": cost,
                 "note": f"marginal cost {1e3 * cost:.1f} ms/task, result "
                         f"{len(pickle.dumps(part)) / 1e6:.2f} MB, merged in "
                         f"{1e3 * merge:.1f} ms"})
    table = pd.DataFrame(rows)
    table["draws_per_second"] = table["draws"] / table["seconds"]
    table["ns_per_input_sample_per_core"] = (table["seconds"] * table["threads"] * 1e9
                                             / (table["draws"] * table["inputs"]))
    table["vs_numpy_tuned"] = np.nan
    return table


def _first_kernel_call(local: str, sc: Scenario, cache: str | None = None) -> float:
    """Seconds of the slowest worker's first kernel call on a fresh ``local`` cluster whose
    workers' numba cache is ``cache`` (default: the usual one)."""
    from .engine import PILOT_DRAWS
    from .executors import dask_executor

    before = os.environ.get("NUMBA_CACHE_DIR")
    if cache is not None:
        os.environ["NUMBA_CACHE_DIR"] = cache  # the workers inherit it
    try:
        with dask_executor(local=local) as ex:
            simulate(sc, PILOT_DRAWS, seed=1, executor=ex)
            return max((ex.warm_seconds or {"": math.nan}).values())
    finally:
        if before is None:
            os.environ.pop("NUMBA_CACHE_DIR", None)
        else:
            os.environ["NUMBA_CACHE_DIR"] = before


def _with_tiles(ex, task_tiles: int):
    from .executors import DaskExecutor

    out = DaskExecutor(ex.client, task_tiles=task_tiles)
    out.warm_seconds = ex.warm_seconds
    return out


class _PeakRss:
    """The peak resident memory of this process while inside (Linux: polled every 10 ms)."""

    def __enter__(self):
        import threading

        self.mib = math.nan
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        peak = 0
        while not self.done.is_set():
            try:
                with open("/proc/self/statm") as f:
                    peak = max(peak, int(f.read().split()[1]) * page)
            except OSError:
                return
            self.done.wait(0.01)
        self.mib = peak / 2**20

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        return False


def run_suite(sizes: tuple[int, ...] = (1_000_000, 10_000_000), repeats: int = 3,
              numpy_draws: int | None = 10_000_000, families: bool = True,
              processes: bool = True, process_draws: str = "10M",
              sweeps: bool = True) -> pd.DataFrame:
    """Every benchmark case as a row: seconds, draws per second, ns per input-sample per core."""
    threads = sorted({1, numba.config.NUMBA_NUM_THREADS})
    deepseek = load_scenario()
    cases = [deepseek.without_evidence(), synthetic()]
    if deepseek.evidence:
        cases.insert(1, replace(deepseek, name="deepseek+evidence"))
    simulate(cases[0], 10_000, seed=1)  # load the kernels from the cache: timings are warm
    rows = []
    for sc in cases:
        for n in sizes:
            for th in threads:
                rows.append(time_scenario(sc, n, th, repeats))
        if numpy_draws and sc.evidence == ():
            rows.append(time_numpy(sc, numpy_draws, tuned=False, threads=1))
            rows.append(time_numpy(sc, numpy_draws, tuned=True, threads=max(threads)))
    if sweeps:
        rows.append(time_sweep(min(sizes), max(threads), repeats))
    if families:
        for family in SINGLE_FAMILY:
            for n in sizes:
                rows.append(time_scenario(single(family), n, max(threads), repeats))
    table = pd.DataFrame(rows)
    table["draws_per_second"] = table["draws"] / table["seconds"]
    table["ns_per_input_sample_per_core"] = (table["seconds"] * table["threads"] * 1e9
                                             / (table["draws"] * table["inputs"]))
    table["vs_numpy_tuned"] = np.nan
    for case in table["case"].unique():
        tuned = table[(table["case"] == case) & (table["impl"] == "numpy tuned")]
        if len(tuned):
            rate = float(tuned["draws_per_second"].iloc[0])
            mask = table["case"] == case
            table.loc[mask, "vs_numpy_tuned"] = table.loc[mask, "draws_per_second"] / rate
    if processes:
        proc = pd.DataFrame([time_process(process_draws, cold=True),
                             time_process(process_draws, cold=False, repeats=repeats)])
        table = pd.concat([table, proc], ignore_index=True)
    return table


def record(table: pd.DataFrame, commit: str | None = None) -> dict:
    """The suite's table with the machine, commit and versions: one line of history."""
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit or _git_commit(), "mcsim": __version__,
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count(), "threads": numba.config.NUMBA_NUM_THREADS},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__},
        "rows": json.loads(table.to_json(orient="records")),
    }


def append_history(rec: dict, folder: Path) -> Path:
    """Add one line to the history file (rewritten whole and renamed into place)."""
    from .export import write_file

    path = folder / HISTORY_FILE
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    return write_file(path, old + json.dumps(rec) + "\n", "--save")


def history(folder: Path) -> pd.DataFrame:
    """One row per recorded suite: the headline figures over time."""
    path = folder / HISTORY_FILE
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line from an interrupted older writer
            t = pd.DataFrame(rec["rows"])
            row = {"created_utc": rec["created_utc"], "commit": rec["commit"]}
            for case in ("deepseek", "synthetic14"):
                sel = t[(t["case"] == case) & (t["impl"] == "mcsim")]
                if len(sel):
                    best = sel.sort_values(["draws", "threads"]).iloc[-1]
                    row[f"{case} Mdraws/s"] = round(best["draws_per_second"] / 1e6, 2)
            warm = t[t["case"].astype(str).str.contains("warm")]
            if len(warm):
                row["warm run s"] = round(float(warm["seconds"].iloc[0]), 2)
            rows.append(row)
    return pd.DataFrame(rows)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
