"""The speed suite behind ``mcsim bench``: draws per second, tracked like a product metric.

Cases: the DeepSeek scenario (its priors alone, and under its evidence: the cost of the
likelihood weights), a synthetic 14-input scenario, and one input of each family alone, at
each draw count and thread count asked for; the plain and tuned numpy versions of the two
scenarios side by side; a 21-point sweep of DeepSeek (points per second, and the fixed cost
per point); a cold start (empty kernel cache) and a warm ``mcsim run --draws 10M`` as whole
processes with their peak RSS. Timings are medians of ``repeats`` runs, warm unless said
otherwise. Results append to ``results.jsonl`` with the machine, the commit and the versions,
so the history of samples per second stays in the repo.
"""

from __future__ import annotations

import json
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
