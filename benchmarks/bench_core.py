"""Speed of the core: mcsim against plain vectorised numpy on the same scenario, side by side.

    python benchmarks/bench_core.py [--draws 10M] [--repeats 3] [--scenario deepseek]

Prints a table (median wall time of the repeats, draws per second, ratio) and appends the
figures, with the machine, commit and versions, to ``benchmarks/results/core.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numba
import numpy as np

from mcsim.engine import simulate
from mcsim.scenario import load_scenario
from mcsim.units import parse_count

sys.path.insert(0, str(Path(__file__).parent))
from numpy_model import run_numpy  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "core.jsonl"


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", default="10M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenario", default="deepseek")
    parser.add_argument("--no-numpy", action="store_true", help="skip the numpy baseline")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    draws = parse_count(args.draws)
    sc = load_scenario(args.scenario)
    simulate(sc, 100_000, seed=1)  # compile or load the cached kernels: timings are warm

    rows = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        t = _median_time(lambda th=threads: simulate(sc, draws, seed=1, threads=th),
                         args.repeats)
        rows.append({"impl": "mcsim", "threads": threads, "seconds": t})
    if not args.no_numpy:
        t = _median_time(lambda: run_numpy(sc, draws, seed=1), max(1, args.repeats - 1))
        rows.append({"impl": "numpy (plain, vectorised)", "threads": 1, "seconds": t})
    base = next((r["seconds"] for r in rows if r["impl"].startswith("numpy")), None)
    n_inputs = sum(1 for i in sc.inputs if not i.prior.is_constant)
    print(f"scenario {sc.name}: {draws:,} draws, {n_inputs} sampled inputs, "
          f"{len(sc.outputs)} outputs; median of {args.repeats} runs, warm")
    print(f"{'implementation':28s} {'threads':>7s} {'seconds':>8s} {'Mdraws/s':>9s} "
          f"{'ns/input-sample/core':>21s} {'vs numpy':>9s}")
    for r in rows:
        rate = draws / r["seconds"]
        r["draws_per_second"] = rate
        r["ns_per_input_sample_per_core"] = r["seconds"] * r["threads"] / (draws * n_inputs) * 1e9
        ratio = f"{base / r['seconds']:.1f}x" if base else "-"
        print(f"{r['impl']:28s} {r['threads']:>7d} {r['seconds']:>8.2f} {rate / 1e6:>9.2f} "
              f"{r['ns_per_input_sample_per_core']:>21.1f} {ratio:>9s}")
    if args.no_save:
        return
    record = {
        "benchmark": "core", "scenario": sc.name, "draws": draws, "repeats": args.repeats,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__},
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
