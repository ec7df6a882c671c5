"""Prior families: parameters, constructors from elicited quantiles, reference and kernel forms.

``from_spec`` turns the parameters of one ``[inputs.*]`` table into a ``Distribution``: either
scipy's parameter names or elicited quantiles (``p5``/``p95``, ``p10``/``p50``/``p90``,
``min``/``mode``/``max``). A ``Distribution`` knows its exact reference behaviour (``ppf`` and
``cdf``, from ``scipy.stats``) and how the kernel samples it (``kernel_spec``): a closed-form
inverse CDF where one is cheap, else tables of the reference's inverse CDF (``tables.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from . import _codes as K
from . import tables
from .errors import SpecError, did_you_mean


def _stats():
    """scipy.stats, imported on first use: a warm run whose tables are cached never needs it."""
    from scipy import stats

    return stats


Z90 = float(special.ndtri(0.95))  # a 90% interval spans mu +- Z90 sigma
Z80 = float(special.ndtri(0.90))  # a p10/p90 pair spans mu +- Z80 sigma


@dataclass(frozen=True)
class KernelSpec:
    """How ``_kernels.sample_into`` draws this distribution: family code, parameters, table.

    ``table_offsets`` are the positions in ``params`` that index into ``table``; they are
    shifted when the tables of several inputs are concatenated.
    """

    family: int
    params: tuple[float, ...]
    table: np.ndarray
    table_offsets: tuple[int, ...] = ()

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, KernelSpec) and self.family == other.family
                and self.params == other.params and np.array_equal(self.table, other.table))


@dataclass(frozen=True)
class Distribution:
    """A prior: ``family`` and its canonical ``params`` (see ``from_spec`` for the forms)."""

    family: str
    params: Mapping[str, Any]

    def describe(self) -> str:
        def fmt(v: Any) -> str:
            if isinstance(v, tuple):
                return "[" + ", ".join(fmt(x) for x in v) + "]"
            return f"{v:.6g}"

        inner = ", ".join(f"{k}={fmt(v)}" for k, v in self.params.items())
        return f"{self.family}({inner})"

    def reference(self) -> Any:
        """An object with scipy's ``ppf``/``cdf``/``rvs`` interface: the exact behaviour."""
        return _REFERENCE[self.family](**self.params)

    def ppf(self, q: Any) -> np.ndarray:
        return np.asarray(self.reference().ppf(q), dtype=float)

    def cdf(self, x: Any) -> np.ndarray:
        return np.asarray(self.reference().cdf(x), dtype=float)

    @property
    def is_constant(self) -> bool:
        return self.family == "constant"

    def kernel_spec(self) -> KernelSpec:
        return _KERNEL[self.family](self)


# ---------------------------------------------------------------- reference distributions


class _Constant:
    def __init__(self, value: float):
        self.value = value

    def ppf(self, q):
        return np.full(np.shape(q), self.value, dtype=float)

    def cdf(self, x):
        return (np.asarray(x, dtype=float) >= self.value) * 1.0


class _TruncNormal:
    """scipy's truncnorm, with a ppf that keeps full precision in both tails: the smaller of
    the lower and the upper tail probability goes through ndtri (scipy's own ppf loses
    digits beyond u ~ 1 - 1e-12; checked against mpmath when this was written)."""

    def __init__(self, loc: float, scale: float, min: float, max: float):
        self.loc, self.scale = loc, scale
        alpha, beta = (min - loc) / scale, (max - loc) / scale
        self.alpha, self.beta = alpha, beta
        self.pa, self.qb = special.ndtr(alpha), special.ndtr(-beta)
        self.mass = special.ndtr(-alpha) - self.qb if alpha > 0 else special.ndtr(beta) - self.pa

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        lower = self.pa + q * self.mass
        with np.errstate(all="ignore"):
            z = np.where(lower < 0.5, special.ndtri(lower),
                         -special.ndtri(self.qb + (1.0 - q) * self.mass))
        return self.loc + self.scale * z

    def cdf(self, x):
        return _stats().truncnorm(self.alpha, self.beta, loc=self.loc, scale=self.scale).cdf(x)


class _Discrete:
    def __init__(self, values: tuple[float, ...], weights: tuple[float, ...]):
        self.values = np.asarray(values, dtype=float)
        self.cum = np.cumsum(weights)
        self.cum[-1] = 1.0

    def ppf(self, q):
        i = np.searchsorted(self.cum, np.asarray(q, dtype=float), side="left")
        return self.values[np.minimum(i, len(self.values) - 1)]

    def cdf(self, x):
        i = np.searchsorted(self.values, np.asarray(x, dtype=float), side="right")
        return np.where(i > 0, self.cum[np.maximum(i - 1, 0)], 0.0)


class _Lognormal:
    """``median + sign * scale * expm1(sign * sigma * Z)``: a lognormal shifted so that
    ``median`` is its median, written with ``expm1`` so that a nearly symmetric shifted
    lognormal (huge ``scale``, tiny ``sigma``) keeps full precision."""

    def __init__(self, median: float, sigma: float, scale: float, sign: float):
        self.median, self.sigma, self.scale, self.sign = median, sigma, scale, sign

    @property
    def plain(self) -> bool:
        """Unshifted (loc = 0): then ``scale * exp(sigma Z)`` keeps relative precision near 0."""
        return self.median == self.scale and self.sign > 0

    def ppf(self, q):
        z = special.ndtri(np.asarray(q, dtype=float))
        if self.plain:
            return self.scale * np.exp(self.sigma * z)
        return self.median + self.sign * self.scale * np.expm1(self.sign * self.sigma * z)

    def cdf(self, x):
        t = self.sign * (np.asarray(x, dtype=float) - self.median) / self.scale
        with np.errstate(all="ignore"):
            z = self.sign * np.log1p(t) / self.sigma
        outside = 0.0 if self.sign > 0 else 1.0
        return np.where(t > -1, special.ndtr(z), outside)


def pert_shape(lo: float, mode: float, hi: float, lam: float) -> tuple[float, float]:
    """The beta shape parameters (a, b) of PERT(lo, mode, hi) with weight ``lam``."""
    return 1.0 + lam * (mode - lo) / (hi - lo), 1.0 + lam * (hi - mode) / (hi - lo)


_REFERENCE: dict[str, Callable[..., Any]] = {
    "constant": lambda value: _Constant(value),
    "uniform": lambda min, max: _stats().uniform(loc=min, scale=max - min),
    "loguniform": lambda min, max: _stats().loguniform(min, max),
    "normal": lambda loc, scale: _stats().norm(loc=loc, scale=scale),
    "truncnormal": _TruncNormal,
    "lognormal": _Lognormal,
    "triangular": lambda min, mode, max: _stats().triang(
        (mode - min) / (max - min), loc=min, scale=max - min),
    "pert": lambda min, mode, max, **kw: _stats().beta(
        *pert_shape(min, mode, max, kw["lambda"]), loc=min, scale=max - min),
    "beta": lambda a, b, loc, scale: _stats().beta(a, b, loc=loc, scale=scale),
    "gamma": lambda a, loc, scale: _stats().gamma(a, loc=loc, scale=scale),
    "discrete": lambda values, weights: _Discrete(values, weights),
}


# ---------------------------------------------------------------- kernel forms


def _table_spec(dist: Distribution) -> KernelSpec:
    """Tables of x = F^-1(u) with exact slopes, which the kernel interpolates (``tables.py``)."""
    params, table = tables.tabulate(dist.family, dist.params, _REFERENCE[dist.family])
    return KernelSpec(K.F_TABLE, params, table, tables.TABLE_OFFSETS)


def _truncnormal_spec(d: Distribution) -> KernelSpec:
    ref = d.reference()
    return KernelSpec(K.F_TRUNCNORM, (ref.loc, ref.scale, float(ref.pa), float(ref.qb),
                                      float(ref.mass)), np.empty(0))


def _discrete_spec(d: Distribution) -> KernelSpec:
    cum = np.cumsum(d.params["weights"])
    cum[-1] = 1.0
    table = np.concatenate([cum, np.asarray(d.params["values"], dtype=float)])
    return KernelSpec(K.F_DISCRETE, (0.0, float(len(cum))), table, (0,))


_NO_TABLE = np.empty(0)
_KERNEL: dict[str, Callable[[Distribution], KernelSpec]] = {
    "constant": lambda d: KernelSpec(K.F_UNIFORM, (d.params["value"], 0.0), _NO_TABLE),
    "uniform": lambda d: KernelSpec(
        K.F_UNIFORM, (d.params["min"], d.params["max"] - d.params["min"]), _NO_TABLE),
    "loguniform": lambda d: KernelSpec(
        K.F_LOGUNIFORM, (math.log(d.params["min"]),
                         math.log(d.params["max"]) - math.log(d.params["min"])), _NO_TABLE),
    "normal": lambda d: KernelSpec(K.F_NORMAL, (d.params["loc"], d.params["scale"]), _NO_TABLE),
    "truncnormal": _truncnormal_spec,
    "lognormal": lambda d: (
        KernelSpec(K.F_LOGNORMAL, (math.log(d.params["scale"]), d.params["sigma"]), _NO_TABLE)
        if d.reference().plain else KernelSpec(
            K.F_SHIFTED_LOGNORMAL,
            (d.params["median"], d.params["sigma"], d.params["scale"], d.params["sign"]),
            _NO_TABLE)),
    "triangular": lambda d: KernelSpec(
        K.F_TRIANGULAR, (d.params["min"], d.params["mode"], d.params["max"]), _NO_TABLE),
    "pert": _table_spec,
    "beta": _table_spec,
    "gamma": _table_spec,
    "discrete": _discrete_spec,
}


# ---------------------------------------------------------------- constructors


def constant(value: float) -> Distribution:
    return Distribution("constant", {"value": value})


def uniform(lo: float, hi: float) -> Distribution:
    _need(lo < hi, "min", f"must be less than max (got {lo:g} >= {hi:g})")
    return Distribution("uniform", {"min": lo, "max": hi})


def loguniform(lo: float, hi: float) -> Distribution:
    _need(lo > 0, "min", f"a loguniform needs min > 0 (got {lo:g})")
    _need(lo < hi, "min", f"must be less than max (got {lo:g} >= {hi:g})")
    return Distribution("loguniform", {"min": lo, "max": hi})


def normal(loc: float, scale: float) -> Distribution:
    _need(scale > 0, "scale", f"the standard deviation must be positive (got {scale:g})")
    return Distribution("normal", {"loc": loc, "scale": scale})


def truncnormal(loc: float, scale: float, lo: float = -math.inf,
                hi: float = math.inf) -> Distribution:
    _need(scale > 0, "scale", f"the standard deviation must be positive (got {scale:g})")
    _need(lo < hi, "min", f"must be less than max (got {lo:g} >= {hi:g})")
    mass = special.ndtr((hi - loc) / scale) - special.ndtr((lo - loc) / scale)
    _need(mass > 1e-12, "min",
          f"[{lo:g}, {hi:g}] holds almost none of normal({loc:g}, {scale:g}); check the bounds")
    return Distribution("truncnormal", {"loc": loc, "scale": scale, "min": lo, "max": hi})


def lognormal(mu: float, sigma: float, loc: float = 0.0) -> Distribution:
    """``loc + exp(mu + sigma * Z)`` (scipy's ``lognorm(s=sigma, loc, scale=exp(mu))``)."""
    _need(sigma > 0, "sigma", f"must be positive (got {sigma:g})")
    scale = math.exp(mu)
    _need(0 < scale < math.inf, "mu", f"exp(mu) must be a positive finite number (mu = {mu:g})")
    return shifted_lognormal(loc + scale, sigma, scale, 1.0)


def shifted_lognormal(median: float, sigma: float, scale: float,
                      sign: float = 1.0) -> Distribution:
    """``median + sign * scale * expm1(sign * sigma * Z)``; ``sign = -1`` mirrors it (a long
    left tail). With ``scale == median`` and ``sign = 1`` it is the plain lognormal."""
    _need(sigma > 0, "sigma", f"must be positive (got {sigma:g})")
    _need(scale > 0, "scale", f"must be positive (got {scale:g})")
    return Distribution("lognormal",
                        {"median": median, "sigma": sigma, "scale": scale, "sign": sign})


def lognormal_from_interval(p5: float, p95: float) -> Distribution:
    """The lognormal whose 90% interval is [p5, p95] (squigglepy's ``to``)."""
    _need(p5 > 0 and p95 > 0, "p5",
          f"a lognormal needs positive p5 and p95 (got {p5:g}, {p95:g}); "
          "use dist = \"normal\" for values that can be negative")
    _need(p5 < p95, "p5", f"must be less than p95 (got {p5:g} >= {p95:g})")
    lo, hi = math.log(p5), math.log(p95)
    return lognormal((lo + hi) / 2, (hi - lo) / (2 * Z90))


def normal_from_interval(p5: float, p95: float) -> Distribution:
    _need(p5 < p95, "p5", f"must be less than p95 (got {p5:g} >= {p95:g})")
    return normal((p5 + p95) / 2, (p95 - p5) / (2 * Z90))


def from_p10_p50_p90(p10: float, p50: float, p90: float,
                     family: str | None = None) -> Distribution:
    """The distribution through three quantiles: normal if symmetric, else a shifted lognormal.

    A right skew (p90 - p50 > p50 - p10) gives ``loc + lognormal``; a left skew mirrors it.
    ``family="lognormal"`` insists on a right-skewed lognormal.
    """
    _need(p10 < p50 < p90, "p50",
          f"need p10 < p50 < p90 (got {p10:g}, {p50:g}, {p90:g})")
    right, left = p90 - p50, p50 - p10
    symmetric = math.isclose(right, left, rel_tol=1e-9)
    if family == "normal":
        _need(symmetric, "p50", "a normal needs p50 halfway between p10 and p90; "
              "omit dist to fit a skewed (shifted lognormal) prior")
    if family == "lognormal":
        _need(right > left and not symmetric, "p90",
              f"a lognormal through p10/p50/p90 needs p90 - p50 > p50 - p10 "
              f"(got {right:g} <= {left:g}); omit dist to allow a mirrored lognormal")
    if symmetric:
        return normal(p50, right / Z80)
    # long side A, short side B: exp(sigma Z80) = A / B, and scale * (A / B - 1) = A
    long, short = max(right, left), min(right, left)
    skew = (long - short) / short
    sigma = math.log1p(skew) / Z80
    scale = long * short / (long - short)
    _need(math.isfinite(scale) and sigma > 0, "p50",
          f"cannot fit p10/p50/p90 = {p10:g}, {p50:g}, {p90:g}: one side is too short")
    return shifted_lognormal(p50, sigma, scale, 1.0 if right > left else -1.0)


def triangular(lo: float, mode: float, hi: float) -> Distribution:
    _check_min_mode_max(lo, mode, hi)
    return Distribution("triangular", {"min": lo, "mode": mode, "max": hi})


def pert(lo: float, mode: float, hi: float, lam: float = 4.0) -> Distribution:
    _check_min_mode_max(lo, mode, hi)
    _need(lam > 0, "lambda", f"must be positive (got {lam:g})")
    return Distribution("pert", {"min": lo, "mode": mode, "max": hi, "lambda": lam})


def beta(a: float, b: float, loc: float = 0.0, scale: float = 1.0) -> Distribution:
    _need(a > 0, "a", f"must be positive (got {a:g})")
    _need(b > 0, "b", f"must be positive (got {b:g})")
    _need(scale > 0, "scale", f"must be positive (got {scale:g})")
    return Distribution("beta", {"a": a, "b": b, "loc": loc, "scale": scale})


def gamma(a: float, loc: float = 0.0, scale: float = 1.0) -> Distribution:
    _need(a > 0, "a", f"the shape must be positive (got {a:g})")
    _need(scale > 0, "scale", f"must be positive (got {scale:g})")
    return Distribution("gamma", {"a": a, "loc": loc, "scale": scale})


def discrete(values: Any, weights: Any) -> Distribution:
    _need(isinstance(values, list | tuple) and len(values) > 0, "values",
          "must be a non-empty list of numbers")
    _need(isinstance(weights, list | tuple) and len(weights) == len(values), "weights",
          f"must be a list as long as values ({len(values)})")
    vals = [_number(v, "values") for v in values]
    wts = [_number(w, "weights") for w in weights]
    _need(all(w >= 0 for w in wts), "weights", "must not be negative")
    _need(math.isclose(sum(wts), 1.0, abs_tol=1e-9), "weights",
          f"must sum to 1 (they sum to {sum(wts):.12g})")
    _need(len(set(vals)) == len(vals), "values", "must not repeat a value")
    order = sorted(range(len(vals)), key=vals.__getitem__)
    return Distribution("discrete", {"values": tuple(vals[i] for i in order),
                                     "weights": tuple(wts[i] for i in order)})


def _check_finite(dist: Distribution) -> None:
    """Every derived parameter is a finite number (truncation bounds may be infinite)."""
    for key, value in dist.params.items():
        if dist.family == "truncnormal" and key in ("min", "max"):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(key, f"the parameters give a non-finite {key} ({value}); "
                                 "check their magnitudes")


def _check_min_mode_max(lo: float, mode: float, hi: float) -> None:
    _need(lo < hi, "min", f"must be less than max (got {lo:g} >= {hi:g})")
    _need(lo <= mode <= hi, "mode", f"must lie in [min, max] = [{lo:g}, {hi:g}] (got {mode:g})")


def _need(ok: bool, key: str, message: str) -> bool:
    """Raise a ``SpecError`` unless ``ok``; false otherwise, so that checks chain with ``or``
    in the one-line forms below."""
    if not ok:
        raise SpecError(key, message)
    return False


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(key, f"must be a number, got {value!r}")
    try:
        out = float(value)
    except OverflowError:
        raise SpecError(key, f"is too large for a float: {value!r}") from None
    if not math.isfinite(out):
        raise SpecError(key, f"must be finite, got {value!r}")
    return out


# ---------------------------------------------------------------- from a scenario table

# family -> accepted parameter sets: (required, optional, builder(**numbers))
_FORMS: dict[str, list[tuple[frozenset, frozenset, Callable[..., Distribution]]]] = {}


def _form(family: str, required: str, optional: str = ""):
    def register(fn: Callable[..., Distribution]) -> Callable[..., Distribution]:
        _FORMS.setdefault(family, []).append(
            (frozenset(required.split()), frozenset(optional.split()), fn))
        return fn
    return register


_form("constant", "value")(lambda value: constant(value))
_form("uniform", "min max")(lambda min, max: uniform(min, max))
_form("uniform", "loc scale")(lambda loc, scale: uniform(loc, loc + scale))
_form("uniform", "p5 p95")(lambda p5, p95: (
    _need(p5 < p95, "p5", f"must be less than p95 (got {p5:g} >= {p95:g})")
    or uniform(p5 - 0.05 / 0.9 * (p95 - p5), p95 + 0.05 / 0.9 * (p95 - p5))))
_form("loguniform", "min max")(lambda min, max: loguniform(min, max))
_form("loguniform", "p5 p95")(lambda p5, p95: _loguniform_from_interval(p5, p95))
_form("normal", "loc scale")(lambda loc, scale: normal(loc, scale))
_form("normal", "p5 p95")(lambda p5, p95: normal_from_interval(p5, p95))
_form("normal", "p10 p50 p90")(lambda p10, p50, p90: from_p10_p50_p90(p10, p50, p90, "normal"))
_form("truncnormal", "loc scale", "min max")(
    lambda loc, scale, min=-math.inf, max=math.inf: truncnormal(loc, scale, min, max))
_form("lognormal", "mu sigma")(lambda mu, sigma: lognormal(mu, sigma))
_form("lognormal", "s scale", "loc")(lambda s, scale, loc=0.0: (
    _need(scale > 0, "scale", f"must be positive (got {scale:g})")
    or shifted_lognormal(loc + scale, s, scale)))
_form("lognormal", "p5 p95")(lambda p5, p95: lognormal_from_interval(p5, p95))
_form("lognormal", "p10 p50 p90")(
    lambda p10, p50, p90: from_p10_p50_p90(p10, p50, p90, "lognormal"))
_form("triangular", "min mode max")(lambda min, mode, max: triangular(min, mode, max))
_form("triangular", "c loc scale")(lambda c, loc, scale: (
    _need(0 <= c <= 1, "c", f"must lie in [0, 1] (got {c:g})")
    or _need(scale > 0, "scale", f"must be positive (got {scale:g})")
    or triangular(loc, loc + c * scale, loc + scale)))
_form("pert", "min mode max", "lambda")(
    lambda min, mode, max, **kw: pert(min, mode, max, kw.get("lambda", 4.0)))
_form("beta", "a b", "loc scale")(lambda a, b, loc=0.0, scale=1.0: beta(a, b, loc, scale))
_form("gamma", "a", "loc scale")(lambda a, loc=0.0, scale=1.0: gamma(a, loc, scale))

FAMILIES = tuple(sorted([*_FORMS, "discrete"]))
PARAMETER_NAMES = frozenset({"dist", "values", "weights", "p10", "p50", "p90"}).union(
    *(req | opt for forms in _FORMS.values() for req, opt, _ in forms))


def _loguniform_from_interval(p5: float, p95: float) -> Distribution:
    _need(p5 > 0, "p5", f"a loguniform needs p5 > 0 (got {p5:g})")
    _need(p5 < p95, "p5", f"must be less than p95 (got {p5:g} >= {p95:g})")
    lo, hi = math.log(p5), math.log(p95)
    pad = 0.05 / 0.9 * (hi - lo)
    return loguniform(math.exp(lo - pad), math.exp(hi + pad))


def _infer_family(keys: frozenset, spec: Mapping[str, Any]) -> str:
    if keys == {"p5", "p95"}:
        both_positive = all(isinstance(spec[k], int | float) and spec[k] > 0 for k in keys)
        return "lognormal" if both_positive else "normal"
    if keys == {"p10", "p50", "p90"}:
        return "auto3"
    if keys in ({"min", "mode", "max"}, {"min", "mode", "max", "lambda"}):
        return "pert"
    if keys == {"value"}:
        return "constant"
    raise SpecError("dist", "missing: give dist = \"...\" (one of " + ", ".join(FAMILIES)
                    + ") or elicited quantiles (p5 and p95; p10, p50 and p90; min, mode and max)")


def from_spec(spec: Mapping[str, Any]) -> Distribution:
    """A ``Distribution`` from a table of parameters (plus optional ``dist``)."""
    keys = frozenset(k for k in spec if k != "dist")
    family = spec.get("dist")
    if family is None:
        family = _infer_family(keys, spec)
        if family == "auto3":
            p = {k: _number(spec[k], k) for k in keys}
            dist = from_p10_p50_p90(p["p10"], p["p50"], p["p90"])
            _check_finite(dist)
            return dist
    if not isinstance(family, str) or family not in FAMILIES:
        hint = did_you_mean(str(family), FAMILIES)
        raise SpecError("dist", f"unknown distribution {family!r}{hint}; "
                                f"known: {', '.join(FAMILIES)}")
    if family == "discrete":
        extra = keys - {"values", "weights"}
        _need(not extra, sorted(extra)[0] if extra else "",
              "unknown parameter for discrete; it takes values and weights")
        _need("values" in keys and "weights" in keys, "values",
              "discrete needs values = [...] and weights = [...]")
        return discrete(spec["values"], spec["weights"])
    for required, optional, build in _FORMS[family]:
        if required <= keys <= required | optional:
            numbers = {k: _number(spec[k], k) for k in keys}
            try:
                dist = build(**numbers)
            except (ArithmeticError, ValueError) as err:  # e.g. exp() overflow on 1e300
                raise SpecError("dist", f"{family} cannot be built from these values "
                                        f"({err})") from None
            _check_finite(dist)
            return dist
    forms = "; ".join(
        " + ".join(sorted(req)) + (f" (optional: {', '.join(sorted(opt))})" if opt else "")
        for req, opt, _ in _FORMS[family])
    got = ", ".join(sorted(keys)) or "nothing"
    raise SpecError("dist", f"{family} takes one of: {forms}; got {got}")


# ---------------------------------------------------------------- the reach of the draws

# The largest magnitude a prior's draws may reach. A run sums squared deviations from each
# output's median over up to 1e13 draws ((1e100)**2 * 1e13 = 1e213), and a formula may
# multiply a few such quantities (1e300): all below the double's 1.8e308. No cost, count or
# rate comes near it; a prior beyond it is a mistake in its magnitudes or units.
MAX_MAGNITUDE = 1e100
_BOUNDED = {"constant": ("value", "value"), "uniform": ("min", "max"),
            "loguniform": ("min", "max"), "triangular": ("min", "max"), "pert": ("min", "max")}


def check_reach(dist: Distribution) -> None:
    """Refuse a prior whose range (or, unbounded, whose p0.1 to p99.9) is not finite or goes
    beyond ``MAX_MAGNITUDE``: its draws, or the run's sums of them, would overflow a double.

    Computed from the parameters and ``scipy.special`` only (no ``scipy.stats``: loading a
    scenario stays light)."""
    p = dist.params
    what = "its range"
    if dist.family in _BOUNDED:
        lo, hi = (p[k] for k in _BOUNDED[dist.family])
    elif dist.family == "beta":
        lo, hi = p["loc"], p["loc"] + p["scale"]
    elif dist.family == "discrete":
        lo, hi = min(p["values"]), max(p["values"])
    else:
        what = "its p0.1 to p99.9"
        q = np.array([0.001, 0.999])
        with np.errstate(all="ignore"):
            if dist.family == "normal":
                x = p["loc"] + p["scale"] * special.ndtri(q)
            elif dist.family == "gamma":
                x = p["loc"] + p["scale"] * special.gammaincinv(p["a"], q)
            else:  # lognormal, truncnormal: their references use scipy.special only
                x = dist.reference().ppf(q)
        lo, hi = float(x[0]), float(x[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise SpecError("", f"{what} [{lo:.3g}, {hi:.3g}] overflows a double: its draws "
                            "cannot all be finite; check the magnitudes")
    if max(abs(lo), abs(hi)) > MAX_MAGNITUDE:
        limit = f"{MAX_MAGNITUDE:.0e}".replace("e+", "e")
        raise SpecError("", f"{what} [{lo:.3g}, {hi:.3g}] goes beyond +-{limit}, "
                            "where a run's sums of squares overflow a double; rescale it "
                            "(e.g. to millions)")
