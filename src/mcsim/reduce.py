"""Reduce a ``Simulation`` to tables: summaries with equal-tailed intervals, and claims audits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import McsimError

if TYPE_CHECKING:
    from .engine import Simulation

SUMMARY_COLUMNS = ["output", "label", "unit", "mean", "mean_se", "std", "median", "ci_level",
                   "ci_low", "ci_high", "min", "max", "count", "nonfinite", "coarse"]
CLAIM_COLUMNS = ["claim", "output", "unit", "value", "percentile", "p_exceed", "median",
                 "value_over_median", "source"]


def check_level(ci: float) -> float:
    """A credible level as a fraction: values from 1 up are percent (90), below 1 a fraction
    (0.9)."""
    level = ci / 100 if ci >= 1 else ci
    if not 0 < level < 1:
        raise McsimError(f"ci: must be a level between 0 and 100 percent (got {ci:g})")
    return level


def equal_tailed(sim: Simulation, output: str, ci: float) -> tuple[float, float]:
    """The equal-tailed credible interval of ``output`` at level ``ci``."""
    level = check_level(ci)
    lo, hi = sim.quantile(output, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def summarize(sim: Simulation, ci: float = 0.90) -> pd.DataFrame:
    """One row per output: mean (with its standard error), median, interval, extremes.

    ``coarse`` is true when a reported quantile fell outside the histogram's fine range (it is
    then only bounded by the exact min and max); widen the run's pilot or report it.
    """
    level = check_level(ci)
    rows = []
    for out in sim.scenario.outputs:
        st = sim.outputs[out.name]
        q, fine = st.histogram.quantile([0.5, (1 - level) / 2, (1 + level) / 2])
        rows.append({
            "output": out.name, "label": out.label, "unit": out.unit,
            "mean": st.mean,
            "mean_se": st.std / math.sqrt(st.count) if st.count > 1 else math.nan,
            "std": st.std, "median": q[0], "ci_level": level, "ci_low": q[1], "ci_high": q[2],
            "min": st.minimum, "max": st.maximum, "count": st.count, "nonfinite": st.nonfinite,
            "coarse": bool(st.count and not np.all(fine)),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def audit_claims(sim: Simulation) -> pd.DataFrame:
    """Where each claimed value falls: its percentile and the probability of exceeding it."""
    rows = []
    for claim in sim.scenario.claims:
        st = sim.outputs[claim.output]
        cdf = st.histogram.cdf(claim.value)
        median = float(st.histogram.quantile(0.5)[0][0])
        rows.append({
            "claim": claim.name, "output": claim.output,
            "unit": sim.scenario.output(claim.output).unit, "value": claim.value,
            "percentile": 100 * cdf, "p_exceed": 1 - cdf, "median": median,
            "value_over_median": claim.value / median if median else math.nan,
            "source": claim.source,
        })
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
