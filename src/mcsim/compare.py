"""Compare scenarios drawn with the same seed: differences of medians and their Monte Carlo
standard errors under common random numbers.

An input's stream depends only on (seed, input name), so scenarios run with one seed share
the draws of every input they have in common (common random numbers, CRN). Their outputs are
then positively correlated, and the difference of two medians is less noisy than that of two
independent runs: the naive error sqrt(se_a**2 + se_b**2) ignores the correlation and
overstates it. ``compare_medians`` measures it instead, by replication: ``replicates``
sub-runs of ``n`` draws, each drawn for every scenario with a seed of its own (derived from
the run's seed), are independent copies of the paired experiment. The spread of their
differences, scaled from ``n`` to the run's ``N`` draws (a median's variance falls as 1/n),
is the standard error of the full run's difference: ``sd(d_r) * sqrt(n / N)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .engine import Simulation, simulate
from .errors import McsimError
from .executors import Executor
from .reduce import quantile_se

REPLICATES = 20
MIN_REPLICATE_DRAWS = 2_000  # enough for a median's large-sample behaviour
MAX_REPLICATE_DRAWS = 50_000  # more buys nothing: the error of the error is set by REPLICATES
COLUMNS = ["output", "label", "unit", "scenario", "reference", "median", "reference_median",
           "difference", "difference_se", "independent_se", "correlation", "replicates",
           "replicate_draws", "draws", "seed"]


@dataclass(frozen=True)
class Comparison:
    """Medians of each scenario against the first (the reference), with CRN errors."""

    reference: str
    scenarios: tuple[str, ...]
    draws: int
    seed: int
    replicates: int
    replicate_draws: int
    table: pd.DataFrame

    def __repr__(self) -> str:
        return (f"<Comparison of {', '.join(self.scenarios)} against {self.reference!r}: "
                f"{self.draws:,} draws, seed {self.seed}; .to_frame()>")

    def _repr_html_(self) -> str:
        from html import escape

        columns = ["output", "scenario", "median", "reference_median", "difference",
                   "difference_se"]
        return f"<p>{escape(repr(self))}</p>\n{self.table[columns].to_html(index=False)}"

    def to_frame(self) -> pd.DataFrame:
        """One row per output and compared scenario (tidy), with the settings per row."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"reference": self.reference, "scenarios": list(self.scenarios),
                "draws": self.draws, "seed": self.seed, "replicates": self.replicates,
                "replicate_draws": self.replicate_draws,
                "rows": self.table.to_dict(orient="records")}


def common_outputs(sims: Sequence[Simulation]) -> list[str]:
    """The outputs every simulation has, in the first one's order."""
    names = [o.name for o in sims[0].scenario.outputs]
    return [n for n in names if all(n in s.outputs for s in sims[1:])]


def replicate_seeds(seed: int, n: int) -> tuple[int, ...]:
    """``n`` distinct seeds derived from ``seed`` (none equal to it), one per sub-run."""
    state = np.random.SeedSequence([int(seed), 0x63726E]).generate_state(4 * n + 8)
    seeds = dict.fromkeys(int(s) >> 1 for s in state if int(s) >> 1 != seed)
    return tuple(seeds)[:n]


def replicate_size(draws: int, replicates: int) -> int:
    """Draws per sub-run: the run's draws shared out, within sensible bounds."""
    return int(np.clip(draws // replicates, MIN_REPLICATE_DRAWS, MAX_REPLICATE_DRAWS))


def compare_medians(sims: Sequence[Simulation], replicates: int = REPLICATES,
                    replicate_draws: int | None = None, threads: int | None = None,
                    progress: Callable[[int, int], None] | None = None, *,
                    executor: Executor | None = None) -> Comparison:
    """The median of every common output in each scenario minus the first's, with its
    Monte Carlo standard error under common random numbers (see the module docstring), the
    naive independent-runs error beside it, and the correlation of the paired medians.
    ``executor`` (``executors.py``) runs the sub-runs' draws."""
    if len(sims) < 2:
        raise McsimError("a comparison needs at least two scenarios")
    draws, seed = sims[0].draws, sims[0].seed
    if any(s.draws != draws or s.seed != seed for s in sims):
        raise McsimError("scenarios can only be compared when drawn with the same seed and "
                         "number of draws")
    if replicates < 2:
        raise McsimError(f"replicates: need at least 2 (got {replicates})")
    n = replicate_size(draws, replicates) if replicate_draws is None else replicate_draws
    outputs = common_outputs(sims)
    medians = np.empty((replicates, len(sims), len(outputs)))
    for r, rseed in enumerate(replicate_seeds(seed, replicates)):
        for k, sim in enumerate(sims):
            sub = simulate(sim.scenario, n, seed=rseed, threads=threads, executor=executor)
            medians[r, k] = [sub.outputs[o].histogram.quantile(0.5)[0][0] for o in outputs]
            if progress is not None:
                progress(r * len(sims) + k + 1, replicates * len(sims))
    ref = sims[0]
    rows = []
    for k, sim in enumerate(sims[1:], start=1):
        for j, name in enumerate(outputs):
            out = ref.scenario.output(name)
            hist_ref, hist = ref.outputs[name].histogram, sim.outputs[name].histogram
            m_ref = float(hist_ref.quantile(0.5)[0][0])
            m = float(hist.quantile(0.5)[0][0])
            d = medians[:, k, j] - medians[:, 0, j]
            ok = np.isfinite(d)
            se = float(np.std(d[ok], ddof=1) * math.sqrt(n / draws)) if ok.sum() > 1 else math.nan
            naive = float(math.hypot(quantile_se(hist_ref, np.array([0.5]))[0],
                                     quantile_se(hist, np.array([0.5]))[0]))
            rows.append({
                "output": name, "label": out.label, "unit": out.unit,
                "scenario": sim.scenario.name, "reference": ref.scenario.name, "median": m,
                "reference_median": m_ref, "difference": m - m_ref, "difference_se": se,
                "independent_se": naive,
                "correlation": _correlation(medians[ok, 0, j], medians[ok, k, j]),
                "replicates": replicates, "replicate_draws": n, "draws": draws, "seed": seed,
            })
    return Comparison(reference=ref.scenario.name,
                      scenarios=tuple(s.scenario.name for s in sims), draws=draws, seed=seed,
                      replicates=replicates, replicate_draws=n,
                      table=pd.DataFrame(rows, columns=COLUMNS))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
