"""What the evidence costs: the DeepSeek scenario with and without its [[evidence]], as
alternating pairs in one process (the machine's noise hits both sides of a pair alike).

    python benchmarks/evidence_overhead.py [DRAWS] [THREADS] [PAIRS]     # 10M 2 7

Prints each side's median time and draws per second, and the median (min, max) of the
pairs' ratios: the issue's budget is x1.25.
"""

from __future__ import annotations

import statistics
import sys
import time

from mcsim.engine import simulate
from mcsim.scenario import load_scenario
from mcsim.units import parse_count


def main() -> None:
    draws = parse_count(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    weighted = load_scenario()
    plain = weighted.without_evidence()
    for sc in (plain, weighted):  # load the kernels first
        simulate(sc, max(draws // 10, 1), seed=1, threads=threads)
    times: dict[str, list[float]] = {"priors": [], "evidence": []}
    ratios = []
    for i in range(pairs):
        order = [("priors", plain), ("evidence", weighted)]
        for name, sc in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            simulate(sc, draws, seed=1, threads=threads)
            times[name].append(time.perf_counter() - t0)
        ratios.append(times["evidence"][-1] / times["priors"][-1])
    a, b = (statistics.median(times[k]) for k in ("priors", "evidence"))
    print(f"{draws:,} draws, {threads} threads, {pairs} alternating pairs: priors alone "
          f"{a:.3f} s ({draws / a / 1e6:.2f}M draws/s), with the evidence {b:.3f} s "
          f"({draws / b / 1e6:.2f}M draws/s); ratio x{statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
