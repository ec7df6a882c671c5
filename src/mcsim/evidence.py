"""Evidence: what has been observed, as a weight on every draw (likelihood weighting).

A scenario's ``[[evidence]]`` tables are of two kinds:

- a noisy measurement: ``quantity`` (a formula over inputs and derived quantities) was
  observed as ``observed`` with an error given by ``likelihood``: ``normal`` (absolute ``sd``),
  ``lognormal`` (``sigma`` of log(observed / true), or the ``p5`` and ``p95`` of that ratio,
  which may be off-centre: a biased measurement) or ``student_t`` (``df`` and an absolute
  ``scale``: an error with heavy tails);
- a hard constraint: ``condition`` (a formula that is true or false) keeps the draws where it
  holds.

Each piece is lowered to a formula of the same language (``weight_tree``), the likelihood
relative to its largest value, so in [0, 1]: exp(-z**2 / 2) for a normal error, the Student t
density's kernel for a heavy-tailed one, 1 or 0 for a condition. The program multiplies them
into one weight per draw; the kernel only folds weights into the reductions (``_kernels``).
Weights are counted in whole units of ``2**-WEIGHT_BITS`` so that the weighted histograms are
integer sums, the same on any number of threads and with any batching.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ._codes import WEIGHT_BITS
from .errors import McsimError, SpecError, did_you_mean
from .formula import Formula, Node, Num, Op, parse

LIKELIHOODS = ("normal", "lognormal", "student_t")
_Z95 = float(special.ndtri(0.95))
_COMMON = {"name", "source", "note"}
_KEYS = {
    "normal": {"quantity", "observed", "likelihood", "sd"},
    "lognormal": {"quantity", "observed", "likelihood", "sigma", "p5", "p95"},
    "student_t": {"quantity", "observed", "likelihood", "df", "scale"},
    "condition": {"condition"},
}
_ALL_KEYS = _COMMON | set().union(*_KEYS.values())


@dataclass(frozen=True)
class Evidence:
    """One observation. ``kind`` is a likelihood name or ``condition``; ``params`` holds the
    error's parameters (``sd``; ``sigma`` and ``bias``, the log-ratio's centre; ``df`` and
    ``scale``)."""

    name: str
    kind: str
    formula: Formula  # the quantity measured, or the condition
    observed: float
    params: Mapping[str, float]
    source: str
    note: str = ""

    @property
    def is_condition(self) -> bool:
        return self.kind == "condition"

    def describe(self) -> str:
        """One line: what was observed and with which error."""
        if self.is_condition:
            return f"condition {self.formula.text}"
        p = self.params
        if self.kind == "normal":
            error = f"normal error, sd {p['sd']:.4g}"
        elif self.kind == "lognormal":
            bias = f", bias x{math.exp(p['bias']):.3g}" if p["bias"] else ""
            error = f"lognormal error, sigma {p['sigma']:.3g}{bias}"
        else:
            error = f"Student t error, df {p['df']:g}, scale {p['scale']:.4g}"
        return f"{self.formula.text} observed {self.observed:.6g} ({error})"


def parse_evidence(raw: Any, known: set[str], where: str = "evidence") -> tuple[Evidence, ...]:
    """Validate ``[[evidence]]`` (a list of tables) against the scenario's ``known`` names
    (inputs and derived quantities); errors are ``SpecError``s at ``evidence.NAME.FIELD``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(where, "must be an array of tables: write each as [[evidence]]")
    out: list[Evidence] = []
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict):
            raise SpecError(f"{where}[{i}]", "must be a table with name, quantity (or "
                                             "condition), observed, likelihood and source")
        name = spec.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"{where}[{i}].name", f"must be an identifier, got {name!r}")
        if any(e.name == name for e in out):
            raise SpecError(f"{where}.{name}", "appears twice; names must be unique")
        out.append(_one(spec, f"{where}.{name}", name, known))
    return tuple(out)


def _one(spec: dict[str, Any], key: str, name: str, known: set[str]) -> Evidence:
    for field in spec:
        if field not in _ALL_KEYS:
            raise SpecError(f"{key}.{field}", f"unknown field{did_you_mean(field, _ALL_KEYS)}")
    source = _string(spec, "source", key)
    note = _string(spec, "note", key, required=False)
    if "condition" in spec:
        if "quantity" in spec or "likelihood" in spec:
            raise SpecError(key, "give either condition (a constraint) or quantity, observed "
                                 "and likelihood (a measurement), not both")
        _only(spec, "condition", key)
        formula = _formula(spec, "condition", key, known)
        return Evidence(name, "condition", formula, math.nan, {}, source, note)
    if "quantity" not in spec:
        raise SpecError(f"{key}.quantity", "missing: a measurement needs quantity, observed "
                                           "and likelihood (or give a condition)")
    kind = spec.get("likelihood")
    if kind not in LIKELIHOODS:
        raise SpecError(f"{key}.likelihood", f"must be one of {', '.join(LIKELIHOODS)} "
                                             f"(got {kind!r})")
    _only(spec, kind, key)
    formula = _formula(spec, "quantity", key, known)
    observed = _number(spec, "observed", key)
    if kind == "normal":
        params = {"sd": _positive(spec, "sd", key)}
    elif kind == "student_t":
        params = {"df": _positive(spec, "df", key), "scale": _positive(spec, "scale", key)}
    else:
        if observed <= 0:
            raise SpecError(f"{key}.observed", f"a lognormal error needs a positive observed "
                                               f"value (got {observed:g}); use normal or "
                                               "student_t")
        params = _lognormal(spec, key)
    return Evidence(name, kind, formula, observed, params, source, note)


def _lognormal(spec: dict[str, Any], key: str) -> dict[str, float]:
    """``sigma`` alone (no bias), or ``p5`` and ``p95`` of observed / true."""
    if "sigma" in spec:
        if "p5" in spec or "p95" in spec:
            raise SpecError(key, "give either sigma or p5 and p95, not both")
        return {"sigma": _positive(spec, "sigma", key), "bias": 0.0}
    if "p5" not in spec or "p95" not in spec:
        raise SpecError(f"{key}.sigma", "missing: give sigma, or p5 and p95 of the ratio "
                                        "observed / true")
    p5, p95 = _positive(spec, "p5", key), _positive(spec, "p95", key)
    if not p5 < p95:
        raise SpecError(f"{key}.p95", f"must be above p5 ({p95:g} <= {p5:g})")
    lo, hi = math.log(p5), math.log(p95)
    return {"sigma": (hi - lo) / (2 * _Z95), "bias": (lo + hi) / 2}


def _only(spec: dict[str, Any], kind: str, key: str) -> None:
    allowed = _COMMON | _KEYS[kind]
    for field in spec:
        if field not in allowed:
            what = "a condition" if kind == "condition" else f"a {kind} likelihood"
            raise SpecError(f"{key}.{field}", f"not a field of {what} (its fields: "
                                              f"{', '.join(sorted(_KEYS[kind]))})")


def _formula(spec: dict[str, Any], field: str, key: str, known: set[str]) -> Formula:
    text = spec.get(field)
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{key}.{field}", f"must be a formula (a string), got {text!r}")
    formula = parse(text, f"{key}.{field}")
    for n in sorted(formula.names):
        if n not in known:
            raise SpecError(f"{key}.{field}", f"unknown name {n!r} in {text!r}"
                                              f"{did_you_mean(n, known)}")
    return formula


def _string(spec: dict[str, Any], field: str, key: str, required: bool = True) -> str:
    value = spec.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise SpecError(f"{key}.{field}", "missing" if value is None else
                        f"must be a non-empty string, got {value!r}")
    return value


def _number(spec: dict[str, Any], field: str, key: str) -> float:
    value = spec.get(field)
    if value is None:
        raise SpecError(f"{key}.{field}", "missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{key}.{field}", f"must be a finite number, got {value!r}")
    return float(value)


def _positive(spec: dict[str, Any], field: str, key: str) -> float:
    value = _number(spec, field, key)
    if value <= 0:
        raise SpecError(f"{key}.{field}", f"must be positive, got {value:g}")
    return value


def weight_tree(ev: Evidence) -> Node:
    """The likelihood of ``ev`` as a formula, relative to its largest value (so in [0, 1]),
    in few instructions: a condition is its own 1 or 0 (false for NaN), a Gaussian error is
    exp(k d**2) with k = -1 / (2 sd**2).

    A draw whose quantity is not finite (or, under a lognormal error, not positive) gets NaN
    or 0 here; the kernel counts NaN as 0 and reports how many there were."""
    if ev.is_condition:
        return ev.formula.tree
    q, p = ev.formula.tree, ev.params
    if ev.kind == "normal":
        return _gauss(Op("sub", (q, Num(ev.observed))), p["sd"])
    if ev.kind == "lognormal":  # log(observed) = log(q) + bias + sigma * eps
        centre = math.log(ev.observed) - p["bias"]
        return _gauss(Op("sub", (Op("log", (q,)), Num(centre))), p["sigma"])
    z = Op("div", (Op("sub", (q, Num(ev.observed))), Num(p["scale"])))
    base = Op("add", (Num(1.0), Op("div", (Op("mul", (z, z)), Num(p["df"])))))
    return Op("pow", (base, Num(-(p["df"] + 1) / 2)))


def _gauss(d: Node, sd: float) -> Node:
    """exp(-d**2 / (2 sd**2)), as exp(d * d * k)."""
    return Op("exp", (Op("mul", (d, d, Num(-0.5 / (sd * sd)))),))


def names_used(evidence: tuple[Evidence, ...]) -> set[str]:
    return {n for ev in evidence for n in ev.formula.names}


def quantise(w: np.ndarray) -> np.ndarray:
    """Weights as the kernel counts them: whole units of 2**-WEIGHT_BITS (NaN and negatives
    count 0), returned as floats (the numpy reference of the kernel's rule)."""
    return weight_units(w) * 2.0**-WEIGHT_BITS


def weight_units(w: np.ndarray) -> np.ndarray:
    """The number of whole units of 2**-WEIGHT_BITS the kernel counts for each weight, as
    doubles (whole numbers up to 2**WEIGHT_BITS, so exact)."""
    w = np.where(np.isfinite(w) & (w > 0), np.minimum(w, 1.0), 0.0)
    return np.floor(w * 2.0**WEIGHT_BITS + 0.5)


def check_pilot(evidence: tuple[Evidence, ...], quantity: np.ndarray, weight: np.ndarray,
                where: str) -> None:
    """Refuse evidence that cannot fit the priors, from the pilot draws (rows: evidence,
    columns: draws): a lognormal error on a quantity that is not positive, or a piece whose
    weight is zero on every draw (an observed value outside every value the priors give)."""
    n = quantity.shape[1]
    for k, ev in enumerate(evidence):
        q = quantity[k]
        finite = q[np.isfinite(q)]
        key = f"{where}evidence.{ev.name}"
        if ev.kind == "lognormal" and (finite <= 0).any():
            share = float(np.mean(finite <= 0))
            raise McsimError(f"{key}.likelihood: lognormal needs a positive quantity, but "
                             f"{ev.formula.text} is <= 0 in {share:.1%} of the first {n:,} "
                             "draws; use normal or student_t")
        if quantise(weight[k]).any():
            continue
        raise McsimError(f"{key}: {contradiction(ev, q)} in the first {n:,} draws; the "
                         "evidence contradicts the priors")


def contradiction(ev: Evidence, q: np.ndarray) -> str:
    """How far ``ev`` is from the draws ``q`` of its quantity (or condition), in words."""
    finite = q[np.isfinite(q)]
    if ev.is_condition:
        return f"the condition {ev.formula.text} holds on no draw"
    if finite.size == 0:
        return f"{ev.formula.text} is never finite"
    lo, hi = float(finite.min()), float(finite.max())
    if ev.kind == "lognormal":
        lo_z = (math.log(ev.observed) - ev.params["bias"] - math.log(max(hi, 1e-300)))
        hi_z = (math.log(ev.observed) - ev.params["bias"] - math.log(max(lo, 1e-300)))
        spread = ev.params["sigma"]
    else:
        lo_z, hi_z = ev.observed - hi, ev.observed - lo
        spread = ev.params.get("sd", ev.params.get("scale", 1.0))
    miss = min(abs(lo_z), abs(hi_z)) / spread
    side = "above" if lo_z > 0 else "below"
    return (f"observed {ev.observed:.6g} is {miss:.1f} error sds {side} every value of "
            f"{ev.formula.text} (from {lo:.6g} to {hi:.6g})")


def kish_ess(sum_w: float, sum_w2: float) -> float:
    """Kish's effective sample size of weighted draws: (sum w)**2 / sum w**2."""
    return sum_w * sum_w / sum_w2 if sum_w2 > 0 else 0.0


def references(evidence: tuple[Evidence, ...]) -> list[tuple[str, str]]:
    """``(field key, text)`` of every citation-bearing field, for the bibliography check."""
    return [(f"evidence.{ev.name}.{f}", t) for ev in evidence
            for f, t in (("source", ev.source), ("note", ev.note)) if t]


@dataclass(frozen=True)
class WeightSummary:
    """The weights of a run: its draws, how many weigh more than zero, how many had a
    non-finite weight (counted as zero), and the sums of w and w**2."""

    draws: int
    positive: int
    nonfinite: int
    sum_w: float
    sum_w2: float

    @property
    def ess(self) -> float:
        """Kish's effective sample size, (sum w)**2 / sum w**2."""
        return kish_ess(self.sum_w, self.sum_w2)

    @property
    def share(self) -> float:
        """The effective sample size as a share of the draws."""
        return self.ess / self.draws if self.draws else 0.0


ESS_FLOOR = 1000  # fewer effective draws than this, or than ESS_SHARE of the draws: a warning
ESS_SHARE = 0.01


def weight_warnings(weights: WeightSummary) -> list[str]:
    """What a reader must be told about a run's weights: few effective draws (the posterior
    then rests on a handful of draws; run more, or loosen the evidence) and draws whose
    weight was not finite (counted as zero)."""
    out = []
    if weights.ess < ESS_FLOOR or weights.share < ESS_SHARE:
        out.append(f"the evidence leaves an effective sample size of {weights.ess:,.0f} of "
                   f"{weights.draws:,} draws ({100 * weights.share:.2g}%): the posterior rests "
                   "on few draws; its standard errors count them, but run more draws or "
                   "check that the evidence fits the priors")
    if weights.nonfinite:
        out.append(f"{weights.nonfinite:,} draws had a non-finite evidence weight (a quantity "
                   "that is inf or nan) and count as zero")
    return out


def explain_zero(evidence: tuple[Evidence, ...], quantity: np.ndarray,
                 weight: np.ndarray) -> str:
    """Why no draw has a positive weight: each piece's share of the draws it keeps alone,
    and how far the most restrictive one misses (rows: evidence, columns: draws)."""
    kept = [float(np.mean(quantise(w) > 0)) for w in weight]
    worst = int(np.argmin(kept))
    shares = ", ".join(f"{ev.name} {100 * k:.3g}%" for ev, k in zip(evidence, kept,
                                                                      strict=True))
    if kept[worst] == 0:
        ev = evidence[worst]
        return (f"evidence.{ev.name}: {contradiction(ev, quantity[worst])} (draws each piece "
                f"keeps alone: {shares})")
    return (f"no draw satisfies all the evidence at once, though each piece alone keeps some "
            f"(draws each keeps: {shares}); together they contradict the priors")
