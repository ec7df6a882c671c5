"""Reduce a ``Simulation`` to tables: summaries with equal-tailed intervals, and claims audits,
every statistic with its Monte Carlo standard error (``*_se`` columns)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from .errors import McsimError

if TYPE_CHECKING:
    from .engine import Simulation

SUMMARY_COLUMNS = ["output", "label", "unit", "mean", "mean_se", "std", "median", "median_se",
                   "ci_level", "ci_low", "ci_low_se", "ci_high", "ci_high_se", "min", "max",
                   "count", "nonfinite", "coarse"]
QUANTILE_COLUMNS = ["output", "label", "unit", "p", "value", "se", "exact"]
CLAIM_COLUMNS = ["claim", "output", "scope", "unit", "value", "percentile", "percentile_se",
                 "p_exceed", "p_exceed_se", "p_exceed_low", "p_exceed_high", "median",
                 "value_over_median", "source"]
# under evidence: each output's effective sample size, and the prior's statistics beside the
# posterior's (same draws, unweighted); each claim's percentile and P(exceed) under the prior
PRIOR_SUMMARY_COLUMNS = ["ess", "prior_mean", "prior_median", "prior_ci_low", "prior_ci_high"]
PRIOR_CLAIM_COLUMNS = ["prior_percentile", "prior_p_exceed", "prior_p_exceed_low",
                       "prior_p_exceed_high"]
BOUND_LEVEL = 0.95  # the confidence of a claim's p_exceed_low / p_exceed_high


def quantile_se(hist, p: np.ndarray) -> np.ndarray:
    """Monte Carlo standard error of sample quantiles from iid draws, distribution-free.

    The p-quantile of n draws is the order statistic whose rank fraction follows
    Beta(np + 1, n(1 - p) + 1); half the span between that Beta's quantiles at Phi(-1) and
    Phi(+1), read off the draws, is a standard error (as posterior::mcse_quantile does for
    iid draws; Vehtari et al. 2021, "Rank-normalization, folding, and localization",
    *Bayesian Analysis* 16(2)). Weighted draws (under evidence) count as their effective
    number (Kish's).
    """
    n = hist.n_eff
    p = np.atleast_1d(np.asarray(p, dtype=float))
    if n < 2:
        return np.full(p.shape, np.nan)
    a, b = n * p + 1, n * (1 - p) + 1
    lo = special.betaincinv(a, b, special.ndtr(-1.0))
    hi = special.betaincinv(a, b, special.ndtr(1.0))
    q, _ = hist.quantile(np.concatenate([lo, hi]))  # one pass over the bins
    return (q[p.size:] - q[:p.size]) / 2


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
    lo, hi = sim.quantile(output, np.array([(1 - level) / 2, (1 + level) / 2]))
    return float(lo), float(hi)


def replicate_se(values: npt.ArrayLike) -> np.ndarray:
    """Standard error of a pooled estimate from its values in R independent replicates
    (rows): their standard deviation over sqrt(R) (Owen, *Monte Carlo theory*, ch. 17)."""
    values = np.asarray(values, dtype=float)
    return values.std(axis=0, ddof=1) / math.sqrt(values.shape[0])


def _cdf_floor(sim: Simulation) -> float:
    """The smallest standard error a replicated design may report for a probability.

    A replicate of m draws counts in steps of 1/m; a stratified design can make those counts
    (nearly) the same in every replicate, and their spread then says nothing. One step,
    spread uniformly, over R replicates: 1 / (m sqrt(12 R)).
    """
    m = sim.draws // len(sim.replicates)  # replicates are all of one size
    return 1.0 / (m * math.sqrt(12 * len(sim.replicates)))


def _quantile_floor(sim: Simulation, hist, probs: np.ndarray) -> np.ndarray:
    """``_cdf_floor`` in the units of the output at each quantile: one draw's worth of
    probability (1/m) read off the pooled histogram, over sqrt(12 R)."""
    m = sim.draws // len(sim.replicates)  # replicates are all of one size
    lo, _ = hist.quantile(np.clip(probs - 0.5 / m, 0.0, 1.0))
    hi, _ = hist.quantile(np.clip(probs + 0.5 / m, 0.0, 1.0))
    return (hi - lo) / math.sqrt(12 * len(sim.replicates))


def _replicate_quantile_se(sim: Simulation, output: str, probs: np.ndarray) -> np.ndarray:
    """Standard errors of quantiles of a replicated design: the spread of the replicates'
    quantiles, floored at one draw per replicate (``_quantile_floor``)."""
    spread = replicate_se([r[output].histogram.quantile(probs)[0] for r in sim.replicates])
    return np.maximum(spread, _quantile_floor(sim, sim.outputs[output].histogram, probs))


def quantile_table(sim: Simulation, probs) -> pd.DataFrame:
    """Tidy quantiles (``quantiles.csv``): one row per output and probability, with its
    standard error and whether the value is an exact sample quantile of the draws."""
    from .quantiles import check_probabilities, estimate

    probs = np.asarray(check_probabilities(probs), dtype=float)
    est = estimate(sim, {o.name: probs for o in sim.scenario.outputs})
    rows = []
    for out in sim.scenario.outputs:
        q = est[out.name]
        se = _replicate_quantile_se(sim, out.name, probs) if sim.replicates else q.se
        rows += [{"output": out.name, "label": out.label, "unit": out.unit, "p": p,
                  "value": v, "se": e, "exact": bool(x)}
                 for p, v, e, x in zip(probs, q.value, se, q.exact, strict=True)]
    return pd.DataFrame(rows, columns=QUANTILE_COLUMNS)


def summarize(sim: Simulation, ci: float = 0.90) -> pd.DataFrame:
    """One row per output: mean (with its standard error), median, interval, extremes.

    Standard errors come from the iid formulas for plain Monte Carlo, and from the spread
    between replicates for Latin hypercube and Sobol' runs (never below the resolution of
    one draw per replicate, see ``_cdf_floor``). Quantiles are refined where the histogram
    could be wrong (``quantiles.estimate``). ``coarse`` is true when a reported quantile fell
    outside the histogram's fine range and could not be refined (it is then only bounded by
    the exact min and max).
    """
    from .quantiles import estimate

    level = check_level(ci)
    probs = np.array([0.5, (1 - level) / 2, (1 + level) / 2])
    # one series of refinement passes for the summary and the quantiles asked for
    wanted = np.concatenate([probs, np.asarray(sim.quantiles, dtype=float)])
    quantiles = estimate(sim, {o.name: wanted for o in sim.scenario.outputs})
    rows = []
    for out in sim.scenario.outputs:
        st = sim.outputs[out.name]
        _, fine = st.histogram.quantile(probs)
        q, se = quantiles[out.name].value[:3], quantiles[out.name].se[:3]
        if sim.replicates:
            reps = [r[out.name] for r in sim.replicates]
            mean_se = float(replicate_se([r.mean for r in reps]))
            se = _replicate_quantile_se(sim, out.name, probs)
        else:
            mean_se = st.std / math.sqrt(st.n_eff) if st.count > 1 else math.nan
        rows.append({
            "output": out.name, "label": out.label, "unit": out.unit,
            "mean": st.mean, "mean_se": mean_se,
            "std": st.std, "median": q[0], "median_se": se[0], "ci_level": level,
            "ci_low": q[1], "ci_low_se": se[1], "ci_high": q[2], "ci_high_se": se[2],
            "min": st.minimum, "max": st.maximum, "count": st.count, "nonfinite": st.nonfinite,
            "coarse": bool(st.count and not np.all(fine | quantiles[out.name].exact[:3])),
        })
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if sim.weights is None:
        return table
    prior = summarize(sim.prior_run, ci)
    table["ess"] = [sim.outputs[o.name].n_eff for o in sim.scenario.outputs]
    for column in PRIOR_SUMMARY_COLUMNS[1:]:
        table[column] = prior[column.removeprefix("prior_")].to_numpy()
    return table


@dataclass(frozen=True)
class Exceedance:
    """The share of draws above a value, ``p`` = 1 - ``cdf``, with its standard error ``se``
    and a ``BOUND_LEVEL`` interval [``low``, ``high``] for the probability it estimates."""

    cdf: float
    se: float
    low: float
    high: float

    @property
    def p(self) -> float:
        return 1 - self.cdf


def binomial_interval(k: float, n: float, level: float = BOUND_LEVEL) -> tuple[float, float]:
    """A confidence interval for a probability of which ``k`` of ``n`` iid draws are hits.

    Clopper-Pearson's exact interval (Beta quantiles; ``k`` may be fractional, as a count
    interpolated inside a histogram bin). It covers at least ``level`` at every n and p,
    where Wald's p +- z se covers nothing when k is 0. With no hit it is [0, 1 - ((1 -
    level) / 2)^(1/n)], about [0, 3.7/n] at 95%: an upper bound that holds with 97.5%
    confidence (the rule of three, 3/n, is the 95% one; Hanley & Lippman-Hand 1983,
    *JAMA* 249(13)); with every draw a hit, its mirror image.
    """
    tail = (1 - level) / 2
    low = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1, tail))
    high = 1.0 if k >= n else float(special.betaincinv(k + 1, n - k, 1 - tail))
    return low, high


def exceedance(sim: Simulation, output: str, value: float) -> Exceedance:
    """How often ``output`` exceeds ``value`` in ``sim``, with an error that means something
    at the extremes too.

    Plain Monte Carlo: the standard error is binomial, sqrt(p (1 - p) / n), with p kept at
    least half a draw from 0 and 1, so that where no draw (or every draw) exceeds it is
    about 0.71 / n (the spread of Jeffreys' Beta(1/2, n + 1/2) posterior) rather than 0;
    the interval is ``binomial_interval``. Latin hypercube and Sobol' runs: the spread
    between replicates (floored, see ``_cdf_floor``) and p +- t(R - 1) se, clipped to
    [0, 1]; where no draw (or every draw) exceeds, the replicates agree on nothing, so the
    interval is at least the iid one over all the draws.
    """
    st = sim.outputs[output]
    n = st.n_eff  # the effective number of draws, under evidence
    if st.count == 0:
        return Exceedance(math.nan, math.nan, math.nan, math.nan)
    cdf = st.histogram.cdf(value)
    p = 1 - cdf
    iid_low, iid_high = binomial_interval(p * n, n)
    if not sim.replicates:
        kept = min(max(cdf, 0.5 / n), 1 - 0.5 / n)
        return Exceedance(cdf, math.sqrt(kept * (1 - kept) / n), iid_low, iid_high)
    from scipy import stats

    cdfs = [r[output].histogram.cdf(value) for r in sim.replicates]
    se = max(float(replicate_se(cdfs)), _cdf_floor(sim))
    half = float(stats.t.ppf(0.5 + BOUND_LEVEL / 2, len(cdfs) - 1)) * se
    low, high = max(p - half, 0.0), min(p + half, 1.0)
    if p <= 0:
        high = max(high, iid_high)
    if p >= 1:
        low = min(low, iid_low)
    return Exceedance(cdf, se, low, high)


def audit_claims(sim: Simulation) -> pd.DataFrame:
    """Where each claimed value falls: its percentile and the probability of exceeding it,
    each with its Monte Carlo standard error, and a ``BOUND_LEVEL`` interval for the
    probability (``exceedance``): where no draw exceeds a claim, the draws bound the
    probability (below about 3.7/n at 95%) rather than show it to be 0."""
    rows = []
    for claim in sim.scenario.claims:
        above = exceedance(sim, claim.output, claim.value)
        median = float(sim.quantile(claim.output, 0.5)[0])
        rows.append({
            "claim": claim.name, "output": claim.output, "scope": claim.scope,
            "unit": sim.scenario.output(claim.output).unit, "value": claim.value,
            "percentile": 100 * above.cdf, "percentile_se": 100 * above.se,
            "p_exceed": above.p, "p_exceed_se": above.se, "p_exceed_low": above.low,
            "p_exceed_high": above.high, "median": median,
            "value_over_median": claim.value / median if median else math.nan,
            "source": claim.source,
        })
    table = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    if sim.weights is not None and len(table):
        prior = audit_claims(sim.prior_run)
        for column in PRIOR_CLAIM_COLUMNS:
            table[column] = prior[column.removeprefix("prior_")].to_numpy()
    return table


@dataclass(frozen=True)
class Target:
    """A precision target for ``--until``: the Monte Carlo error of ``stat`` (mean, median,
    pN, or ci for both interval ends) of ``output`` (all outputs when empty), at confidence
    ``confidence``, must be at most ``tolerance`` times the statistic's size."""

    stat: str
    tolerance: float
    confidence: float = 0.95
    output: str = ""

    def __str__(self) -> str:
        where = f"{self.output}." if self.output else ""
        return f"{where}{self.stat}:{100 * self.tolerance:g}%@{100 * self.confidence:g}%"


_TARGET = re.compile(r"^(?:(?P<output>[A-Za-z_]\w*)\.)?(?P<stat>mean|median|ci|p\d+(?:\.\d+)?)"
                     r":(?P<tol>[0-9.eE+-]+)(?P<pct>%?)(?:@(?P<conf>[0-9.]+)%?)?$")


def parse_target(text: str) -> Target:
    """``[OUTPUT.]STAT:TOL[%][@CONF%]``, e.g. ``p95:0.5%``, ``tco.mean:0.1%@99``."""
    m = _TARGET.match(text.strip())
    if not m:
        raise McsimError(f"--until: {text!r} is not STAT:TOLERANCE (e.g. p95:0.5%, "
                         "mean:0.1%, median:1%@99, tco.ci:0.5%)")
    try:
        tol = float(m["tol"]) / (100 if m["pct"] else 1)
        conf = float(m["conf"]) / 100 if m["conf"] else 0.95
    except ValueError:
        raise McsimError(f"--until: {text!r}: the tolerance is not a number") from None
    if not 0 < tol < 1:
        raise McsimError(f"--until: {text!r}: the tolerance must be between 0 and 100%")
    if not 0 < conf < 1:
        raise McsimError(f"--until: {text!r}: the confidence must be between 0 and 100%")
    stat = m["stat"]
    if stat.startswith("p") and not 0 < float(stat[1:]) < 100:
        raise McsimError(f"--until: {text!r}: a percentile must be between 0 and 100")
    return Target(stat, tol, conf, m["output"] or "")


def precision(sim: Simulation, targets: list[Target], ci: float = 0.90) -> pd.DataFrame:
    """For every target and output it covers: the statistic, its error (z * se) relative to
    the statistic's size, and whether that meets the tolerance."""
    level = check_level(ci)
    rows = []
    for t in targets:
        names = [t.output] if t.output else [o.name for o in sim.scenario.outputs]
        z = float(special.ndtri(0.5 + t.confidence / 2))
        for name in names:
            sim.scenario.output(name)
            st = sim.outputs[name]
            if t.stat == "mean":
                pairs = [("mean", st.mean, st.std / math.sqrt(max(st.n_eff, 1)))]
            else:
                if t.stat == "median":
                    probs = [0.5]
                elif t.stat == "ci":
                    probs = [(1 - level) / 2, (1 + level) / 2]
                else:
                    probs = [float(t.stat[1:]) / 100]
                values = st.histogram.quantile(np.asarray(probs))[0]
                ses = quantile_se(st.histogram, np.asarray(probs))
                pairs = [(f"p{100 * p:g}", v, s) for p, v, s in zip(probs, values, ses,
                                                                   strict=True)]
            for stat, value, se in pairs:
                rel = z * se / abs(value) if value else (0.0 if se == 0 else math.inf)
                rows.append({"target": str(t), "output": name, "stat": stat, "value": value,
                             "relative_error": rel, "tolerance": t.tolerance,
                             "met": bool(rel <= t.tolerance)})
    return pd.DataFrame(rows)


def stop_when_precise(targets: list[Target], ci: float = 0.90):
    """A ``stop`` callback for ``simulate``: true once every target is met."""
    def stop(sim: Simulation) -> bool:
        return bool(precision(sim, targets, ci)["met"].all())

    return stop


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank), as ``scipy.stats.spearmanr``
    gives it; numpy only, because importing ``scipy.stats`` costs a run ~0.9 s."""
    return _pearson(average_ranks(x), average_ranks(y))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant column: nan, as scipy
        return float(np.corrcoef(x, y)[0, 1])


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``, tied values sharing the average of their ranks."""
    order = np.argsort(x, kind="stable")
    ordered = np.asarray(x)[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ends = np.append(starts[1:], len(ordered))
    ranks = np.empty(len(ordered))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def rank_correlations(sim: Simulation, draws: pd.DataFrame, batches: int = 10) -> pd.DataFrame:
    """Requested against achieved Spearman correlations of the correlated inputs, with a
    batch-means error, measured on ``draws`` of those inputs (``engine.redraw_correlated``:
    the run's first draws, or for a Latin hypercube or Sobol' run a design of the same kind,
    one batch per replicate)."""
    sc = sim.scenario
    if not sc.correlations:
        return pd.DataFrame(columns=["a", "b", "requested", "achieved", "se"])
    if sim.replicates:
        batches = len(sim.replicates)
    n = len(draws)
    repaired = {frozenset((r.a, r.b)): r.repaired for r in sc.repairs}
    names = dict.fromkeys(x for c in sc.correlations for x in (c.a, c.b))
    # each input ranked once over all the draws and once per batch, whatever its pairs
    whole = {name: average_ranks(draws[name].to_numpy()) for name in names}
    split = {name: [average_ranks(part) for part in np.array_split(draws[name].to_numpy(),
                                                                     batches)]
             for name in names}
    rows = []
    for c in sc.correlations:
        achieved = _pearson(whole[c.a], whole[c.b])
        parts = [_pearson(xs, ys) for xs, ys in zip(split[c.a], split[c.b], strict=True)]
        se = float(np.std(parts, ddof=1) / math.sqrt(batches)) if n >= 2 * batches else math.nan
        rows.append({"a": c.a, "b": c.b,
                     "requested": repaired.get(frozenset((c.a, c.b)), c.spearman),
                     "achieved": achieved, "se": se})
    return pd.DataFrame(rows)
