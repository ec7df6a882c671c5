"""Sweeps and break-even solving: a claim's standing as inputs move, on common random numbers.

A sweep point is a run of the scenario with some inputs held at a value (``set``), or their
priors scaled by a factor (``scale``: every draw multiplied, so the uncertainty is kept around
a moved centre). Every point uses the same seed, and an input's stream depends only on the
seed and its name, so all other inputs get identical draws at every point: the differences
between points are the model's, not noise. ``solve`` root-finds on such runs for the value at
which a claim sits at a given percentile of its output (or is exceeded with a given
probability), with the solution's Monte Carlo error.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import pandas as pd

from . import engine
from .distributions import Distribution, constant
from .errors import McsimError, did_you_mean
from .executors import Executor
from .formula import Formula, Name, Node, Op
from .program import Program, compile_program
from .reduce import audit_claims, check_level, quantile_se, summarize
from .scenario import Claim, Input, Scenario

MAX_POINTS = 10_000  # a larger grid needs force=True (--force)
HOW = ("set", "scale")  # hold an input at a value; multiply its prior by a factor
OUTPUT_STATS = ("median", "ci_low", "ci_high", "mean")
CLAIM_STATS = ("percentile", "p_exceed")
FRAME_COLUMNS = ["point", "output", "claim", "statistic", "value", "se"]
_NUMBER = r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^(log:)?({_NUMBER}):({_NUMBER}):(\d+)$")
Warn = Callable[[str], None]


@dataclass(frozen=True)
class Axis:
    """One swept input: ``how`` it is moved (``set`` or ``scale``) and the values taken."""

    input: str
    how: str
    values: tuple[float, ...]
    log: bool = False  # geometric spacing (``log:`` ranges): charts use a log axis

    @property
    def column(self) -> str:
        return self.input if self.how == "set" else f"{self.input}.scale"


def parse_values(text: str, key: str) -> tuple[tuple[float, ...], bool]:
    """Values from a list (``0,10000,30000``), a range (``0:50000:11``: 11 evenly spaced
    values) or a geometric range (``log:1000:64000:7``); returns them and whether geometric."""
    text = text.strip()
    match = _RANGE.match(text.replace(" ", ""))
    if match:
        log, lo, hi, count = match.groups()
        lo_v, hi_v, n = float(lo.replace("_", "")), float(hi.replace("_", "")), int(count)
        if n < 1:
            raise McsimError(f"{key}: {text!r} is an empty range (it asks for 0 values)")
        if log and (lo_v <= 0 or hi_v <= 0):
            raise McsimError(f"{key}: {text!r}: a log: range needs both ends above 0")
        spaced = np.geomspace(lo_v, hi_v, n) if log else np.linspace(lo_v, hi_v, n)
        return tuple(float(v) for v in spaced), bool(log)
    parts = [p.strip() for p in text.split(",")]
    if not text or not all(parts):
        raise McsimError(f"{key}: {text!r} is empty: give a list (0,10000,30000) or a range "
                         "(0:50000:11, log:1000:64000:7)")
    try:
        values = tuple(float(p.replace("_", "")) for p in parts)
    except ValueError:
        raise McsimError(f"{key}: {text!r} is not a list of numbers (0,10000,30000) or a range "
                         "(0:50000:11, log:1000:64000:7)") from None
    if not all(math.isfinite(v) for v in values):
        raise McsimError(f"{key}: {text!r}: every value must be finite")
    return values, False


def parse_axis(text: str, how: str = "set", option: str | None = None) -> Axis:
    """``NAME=VALUES`` (the argument of ``--set`` or ``--scale``, or ``option``) as an
    ``Axis``."""
    option = option or f"--{how}"
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise McsimError(f"{option}: {text!r}: write NAME=VALUES, e.g. h20_count=0:50000:11")
    parsed, log = parse_values(values, f"{option} {name.strip()}")
    return Axis(name.strip(), how, parsed, log)


def support(prior: Distribution) -> tuple[float, float]:
    """The smallest and largest values a prior can draw (infinite where unbounded)."""
    lo, hi = prior.ppf(np.array([0.0, 1.0]))
    return float(lo), float(hi)


def check_axis(scenario: Scenario, axis: Axis, warn: Warn | None = None,
               option: str | None = None) -> None:
    """Refuse an axis that names no input, or values the input cannot take; ``warn`` about
    values outside the prior's support that keep its sign (a larger fleet than the prior
    allows is a question worth asking; a negative count is not). Messages name ``option``
    (default ``--set`` or ``--scale``)."""
    option = option or f"--{axis.how}"
    names = scenario.input_names
    if axis.input not in names:
        derived = {n for n, _ in scenario.derived}
        outputs = {o.name for o in scenario.outputs}
        if axis.input in derived or axis.input in outputs:
            kind = "a derived quantity" if axis.input in derived else "an output"
            raise McsimError(f"{option} {axis.input}: is {kind}, computed from the inputs; "
                             "only inputs can be swept or varied")
        raise McsimError(f"{option} {axis.input}: unknown input"
                         f"{did_you_mean(axis.input, names)}; see `mcsim check` for the inputs")
    if axis.how == "scale":
        bad = [v for v in axis.values if v <= 0]
        if bad:
            raise McsimError(f"{option} {axis.input}: a scale factor must be above 0 "
                             f"(got {bad[0]:g})")
        return
    prior = scenario.input(axis.input).prior
    lo, hi = support(prior)
    outside = [v for v in axis.values if not lo <= v <= hi]
    if not outside:
        return
    where = f"{axis.input}'s prior {prior.describe()} draws from [{lo:g}, {hi:g}]"
    wrong_sign = [v for v in outside if (lo >= 0 > v) or (hi <= 0 < v)]
    if wrong_sign:
        raise McsimError(f"{option} {axis.input}={wrong_sign[0]:g}: refused: {where}, never "
                         f"{'below' if lo >= 0 else 'above'} 0")
    if warn is not None:
        warn(f"warning: {option} {axis.input}: {len(outside)} value(s) outside the prior's "
             f"support, kept ({where}; e.g. {outside[0]:g})")


def knob(name: str, how: str) -> str:
    """The constant input that holds an axis's value: the input itself when held, else its
    scale factor (``_scale_<name>``, an input no scenario file can name)."""
    return name if how == "set" else f"_scale_{name}"


def at(scenario: Scenario, moves: Mapping[str, tuple[str, float]]) -> Scenario:
    """``scenario`` with each input of ``moves`` held at a value (``("set", v)``: its prior
    becomes ``constant(v)``) or scaled (``("scale", f)``: every use of it becomes ``x * f``,
    ``f`` a constant input). Streams are keyed by input names, which do not change: the
    other inputs' draws stay the same."""
    inputs = tuple(replace(i, prior=constant(moves[i.name][1]))
                   if moves.get(i.name, ("", 0.0))[0] == "set" else i for i in scenario.inputs)
    factors = {name: knob(name, how) for name, (how, _) in moves.items() if how == "scale"}
    if not factors:
        return replace(scenario, inputs=inputs)
    inputs += tuple(Input(factors[name], constant(f), "x", "sweep")
                    for name, (how, f) in moves.items() if how == "scale")

    def scaled(node: Node) -> Node:
        if isinstance(node, Name) and node.id in factors:
            return Op("mul", (node, Name(factors[node.id])))
        if isinstance(node, Op):
            return Op(node.name, tuple(scaled(a) for a in node.args))
        return node

    def rewrite(f: Formula) -> Formula:
        return Formula(f.text, scaled(f.tree))

    return replace(scenario, inputs=inputs,
                   derived=tuple((n, rewrite(f)) for n, f in scenario.derived),
                   outputs=tuple(replace(o, formula=rewrite(o.formula))
                                 for o in scenario.outputs))


@dataclass(frozen=True)
class Lowered:
    """A scenario lowered once for a sweep: each point only writes its values into the
    program's constants (or, for a correlated input, its sampler's parameters).

    The values sit where ``compile_program`` puts a constant input, so a point's program
    computes what the scenario ``at`` that point would compile to, bit for bit."""

    program: Program
    const_slots: tuple[tuple[int, int], ...]  # (axis, index into const_vals)
    param_slots: tuple[tuple[int, int], ...]  # (axis, index into params)

    @classmethod
    def build(cls, base: Scenario, axes: Sequence[Axis], seed: int) -> Lowered:
        # a distinct NaN per axis: never equal to a literal, nor to each other, so no
        # register is shared with another constant
        placeholders = {a.input: (a.how, float("nan")) for a in axes}
        knobs = tuple(knob(a.input, a.how) for a in axes)
        prog = compile_program(at(base, placeholders), seed, keep=knobs)
        consts, params = [], []
        for k, name in enumerate(knobs):
            reg = prog.named[name]
            hit = np.flatnonzero(prog.const_regs == reg)
            if hit.size:
                consts.append((k, int(hit[0])))
            else:  # a correlated input, drawn as a constant: uniform(value, width 0)
                row = prog.code[np.flatnonzero(prog.code[:, 1] == reg)[-1]]
                params.append((k, int(row[2])))
        return cls(prog, tuple(consts), tuple(params))

    def at(self, values: Sequence[float]) -> Program:
        const_vals, params = self.program.const_vals.copy(), self.program.params.copy()
        for k, i in self.const_slots:
            const_vals[i] = values[k]
        for k, i in self.param_slots:
            params[i] = values[k]
        return replace(self.program, const_vals=const_vals, params=params)


def moved_outputs(scenario: Scenario, inputs: Sequence[str]) -> tuple[str, ...]:
    """The outputs claims speak about that depend on any of ``inputs`` (else every output
    that does): those a sweep of them reports by default."""
    moved = [o.name for o in scenario.outputs
             if set(inputs) & _restricted(scenario, (o.name,)).dependencies()]
    claimed = {c.output for c in scenario.claims}
    return tuple(n for n in moved if n in claimed) or tuple(moved)


def _restricted(scenario: Scenario, outputs: Sequence[str]) -> Scenario:
    """``scenario`` computing only ``outputs`` (and their claims): a point draws less."""
    for name in outputs:
        scenario.output(name)
    keep = set(outputs)
    return replace(scenario, outputs=tuple(o for o in scenario.outputs if o.name in keep),
                   claims=tuple(c for c in scenario.claims if c.output in keep))


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the moves made and the statistics of the run there."""

    moves: tuple[tuple[str, str, float], ...]  # (input, how, value)
    summary: pd.DataFrame
    claims: pd.DataFrame
    wall_seconds: float


@dataclass(frozen=True)
class Sweep:
    """The result of ``sweep``: one run per point of the grid, all with one seed."""

    scenario: Scenario
    axes: tuple[Axis, ...]
    outputs: tuple[str, ...]
    draws: int
    seed: int
    ci: float
    points: tuple[Point, ...]
    wall_seconds: float
    cpu_seconds: float

    def __repr__(self) -> str:
        grid = " x ".join(f"{a.column} ({len(a.values)})" for a in self.axes)
        return (f"<Sweep of {self.scenario.name!r}: {grid}, {len(self.points)} points of "
                f"{self.draws:,} draws, seed {self.seed}; .to_frame()>")

    def to_frame(self) -> pd.DataFrame:
        """Tidy: one row per point, output (or claim) and statistic, with its standard error;
        a column per swept input holds the point's value."""
        rows = []
        columns = [a.column for a in self.axes]
        for k, pt in enumerate(self.points):
            where = {a.column: v for a, (_, _, v) in zip(self.axes, pt.moves, strict=True)}
            for row in pt.summary.itertuples(index=False):
                for stat in OUTPUT_STATS:
                    rows.append({"point": k, **where, "output": row.output, "claim": "",
                                 "statistic": stat, "value": getattr(row, stat),
                                 "se": getattr(row, f"{stat}_se")})
            for row in pt.claims.itertuples(index=False):
                for stat in CLAIM_STATS:
                    rows.append({"point": k, **where, "output": row.output, "claim": row.claim,
                                 "statistic": stat, "value": getattr(row, stat),
                                 "se": getattr(row, f"{stat}_se")})
        return pd.DataFrame(rows, columns=[FRAME_COLUMNS[0], *columns, *FRAME_COLUMNS[1:]])


def grid_size(axes: Sequence[Axis]) -> int:
    return math.prod(len(a.values) for a in axes)


def sweep(scenario: Scenario, set: Sequence[Axis | str] = (), scale: Sequence[Axis | str] = (),
          output: str | Sequence[str] | None = None, draws: int = 1_000_000,
          seed: int | None = None, ci: float = 0.90, threads: int | None = None,
          force: bool = False, warn: Warn | None = None,
          progress: Callable[[int, int], None] | None = None, *,
          executor: Executor | None = None) -> Sweep:
    """Run ``scenario`` at every point of the grid of ``set`` and ``scale`` axes (``Axis`` or
    ``"NAME=VALUES"`` text), each point with ``draws`` draws and the same ``seed``.

    ``output`` names the outputs to report (default: ``moved_outputs``). A grid
    over ``MAX_POINTS`` points needs ``force``. ``progress(points done, points)`` is called
    after each point. ``executor`` (``executors.py``) runs each point's draws; the points run
    one after another.
    """
    axes = tuple(a if isinstance(a, Axis) else parse_axis(a, how)
                 for how, group in (("set", set), ("scale", scale)) for a in group)
    if not axes:
        raise McsimError("sweep: give at least one input to move (--set or --scale)")
    for a in axes:
        check_axis(scenario, a)
    names = [a.input for a in axes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise McsimError(f"--set/--scale {twice[0]}: names the same input twice")
    size = grid_size(axes)
    if size > MAX_POINTS and not force:
        raise McsimError(f"sweep: the grid has {size:,} points, over {MAX_POINTS:,}; use fewer "
                         "values, or --force")
    for a in axes:  # no warning before a refusal
        check_axis(scenario, a, warn)
    level = check_level(ci)
    outputs = (moved_outputs(scenario, names) if output is None
               else (output,) if isinstance(output, str) else tuple(output))
    base = _restricted(scenario, outputs)
    seed = engine.new_seed() if seed is None else seed
    t0, c0 = time.perf_counter(), time.process_time()
    points = []
    lowered = Lowered.build(base, axes, int(seed))
    for values in product(*(a.values for a in axes)):
        sim = engine.simulate(base, draws, seed=seed, threads=threads,
                              program=lowered.at(values), executor=executor)
        points.append(Point(tuple((a.input, a.how, v) for a, v in zip(axes, values,
                                                                        strict=True)),
                            summarize(sim, level), audit_claims(sim), sim.wall_seconds))
        if progress is not None:
            progress(len(points), size)
    return Sweep(scenario, axes, tuple(outputs), draws, int(seed), level, tuple(points),
                 time.perf_counter() - t0, time.process_time() - c0)


# ---------------------------------------------------------------- break-even solving

EXPANSIONS = 6  # times a default bracket is widened (doubled) in search of a solution


@dataclass(frozen=True)
class Root:
    """The break-even value of one input, or why there is none in its bracket.

    ``at_lo`` and ``at_hi`` are the claim's standing (percentile, or P(exceed)) at the ends
    of the bracket searched; ``se`` is the solution's Monte Carlo standard error: that of the
    output's quantile at the solution over the local slope of the quantile in the input."""

    input: str
    how: str
    found: bool
    value: float
    se: float
    lo: float
    hi: float
    at_lo: float
    at_hi: float
    simulations: int


@dataclass(frozen=True)
class BreakEven:
    """The result of ``solve``: for each varied input, where the claim reaches its target."""

    scenario: Scenario
    claim: str
    output: str
    claimed: float
    target: str  # "percentile" or "exceed"
    level: float  # the percentile (0-100) or the probability of exceeding (0-1)
    draws: int
    seed: int
    roots: tuple[Root, ...]
    wall_seconds: float
    cpu_seconds: float

    def __repr__(self) -> str:
        return (f"<BreakEven of {self.claim!r} at {self.goal}: "
                f"{', '.join(r.input for r in self.roots)}; .to_frame()>")

    @property
    def goal(self) -> str:
        if self.target == "percentile":
            return f"p{self.level:g}" + (" (the median)" if self.level == 50 else "")
        return f"P(true > claimed) = {self.level:g}"

    @property
    def simulations(self) -> int:
        return sum(r.simulations for r in self.roots)

    def to_frame(self) -> pd.DataFrame:
        """One row per varied input: the solution and its error, or the bracket's ends."""
        return pd.DataFrame([{
            "claim": self.claim, "output": self.output, "claimed": self.claimed,
            "target": self.target, "level": self.level, "input": r.input, "how": r.how,
            "found": r.found, "value": r.value if r.found else math.nan,
            "se": r.se if r.found else math.nan, "lo": r.lo, "hi": r.hi,
            "at_lo": r.at_lo, "at_hi": r.at_hi, "simulations": r.simulations,
            "draws": self.draws, "seed": self.seed} for r in self.roots])

    def lines(self) -> list[str]:
        """One line per varied input, as the CLI prints them."""
        def standing(x: float) -> str:
            return f"p{x:.3g}" if self.target == "percentile" else f"P(exceed) {x:.3g}"

        out = []
        for r in self.roots:
            name = r.input if r.how == "set" else f"{r.input} x scale"
            if r.found:
                out.append(f"{name} = {with_error(r.value, r.se)} (Monte Carlo s.e.; "
                           f"{r.simulations} simulations of {self.draws:,} draws)")
            else:
                out.append(f"{name}: no solution in [{r.lo:,.6g}, {r.hi:,.6g}]: the claim "
                           f"sits at {standing(r.at_lo)} at {r.lo:,.6g} and "
                           f"{standing(r.at_hi)} at {r.hi:,.6g}")
        return out


def with_error(value: float, se: float) -> str:
    """``value +- se``, the error to two significant figures and the value to the same
    decimal place: ``30,916 +- 10``, ``2,954,400 +- 2,800``, ``2.000 +- 0.011``."""
    if not (math.isfinite(se) and se > 0):
        return f"{value:,.6g} +- {se:g}"
    place = 1 - math.floor(math.log10(se))  # decimals that keep two figures of se
    decimals = max(place, 0)
    return f"{round(value, place):,.{decimals}f} +- {round(se, place):,.{decimals}f}"


def find_claim(scenario: Scenario, name: str) -> Claim:
    """The claim called ``name``; an error naming the claims there are, if none is."""
    for c in scenario.claims:
        if c.name == name:
            return c
    known = [c.name for c in scenario.claims]
    raise McsimError(f"--claim {name}: {scenario.name} has no such claim"
                     f"{did_you_mean(name, known)}; claims: {', '.join(known) or 'none'}")


def parse_range(text: str) -> tuple[float, float]:
    """``LO:HI`` as two numbers, LO below HI."""
    try:
        lo, hi = (float(x.replace("_", "")) for x in text.split(":"))
    except ValueError:
        raise McsimError(f"--range: {text!r}: write LO:HI, e.g. 0:100000") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise McsimError(f"--range: {text!r} is empty: LO must be below HI")
    return lo, hi


def _default_bracket(prior: Distribution, how: str) -> tuple[float, float]:
    if how == "scale":
        return 0.25, 4.0
    lo, hi = support(prior)
    if not math.isfinite(lo) or not math.isfinite(hi):
        p_lo, p_hi = prior.ppf(np.array([0.001, 0.999]))
        lo = lo if math.isfinite(lo) else float(p_lo)
        hi = hi if math.isfinite(hi) else float(p_hi)
    return lo, hi


def _widen(lo: float, hi: float, how: str, floor: float) -> tuple[float, float]:
    if how == "scale":
        return lo / 4, hi * 4
    width = hi - lo
    return max(lo - width, floor), hi + width


def solve(scenario: Scenario, claim: str, vary: str | Sequence[str],
          percentile: float | None = None, exceed: float | None = None, how: str = "set",
          bracket: tuple[float, float] | None = None, draws: int = 1_000_000,
          seed: int | None = None, threads: int | None = None, *,
          executor: Executor | None = None) -> BreakEven:
    """For each input of ``vary`` on its own, the value at which ``claim`` sits at
    ``percentile`` of its output (default 50, the median), or at which the output exceeds
    the claimed value with probability ``exceed``.

    ``how`` is ``set`` (the input held at the value) or ``scale`` (its prior multiplied by
    it). Every simulation uses ``seed`` (common random numbers), so the claim's standing is a
    smooth function of the value: the solution is bracketed, then found by Brent's method.
    Without ``bracket`` the search starts on the prior's range (p0.1 to p99.9 where it is
    unbounded; factors 0.25 to 4 when scaling) and doubles it up to ``EXPANSIONS`` times.
    """
    if percentile is not None and exceed is not None:
        raise McsimError("solve: give --percentile or --exceed, not both")
    if exceed is not None:
        if not 0 < exceed < 1:
            raise McsimError(f"--exceed: must be a probability between 0 and 1 (got {exceed:g})")
        target, level, q = "exceed", float(exceed), 1.0 - exceed
    else:
        level = 50.0 if percentile is None else float(percentile)
        if not 0 < level < 100:
            raise McsimError(f"--percentile: must be between 0 and 100 (got {level:g})")
        target, q = "percentile", level / 100
    if how not in HOW:
        raise McsimError(f"solve: how must be one of {', '.join(HOW)} (got {how!r})")
    found = find_claim(scenario, claim)
    inputs = (vary,) if isinstance(vary, str) else tuple(vary)
    if not inputs:
        raise McsimError("solve: give at least one --vary INPUT")
    if bracket is not None and len(inputs) > 1:
        raise McsimError("--range: applies to one --vary at a time (the inputs' scales differ)")
    base = replace(_restricted(scenario, (found.output,)),
                   claims=(found,))
    seed = engine.new_seed() if seed is None else int(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    roots = tuple(_solve_one(base, found, name, how, q, target, bracket, draws, seed, threads,
                             executor) for name in inputs)
    return BreakEven(scenario, found.name, found.output, found.value, target, level, draws,
                     seed, roots, time.perf_counter() - t0, time.process_time() - c0)


def _solve_one(base: Scenario, claim: Claim, name: str, how: str, q: float, target: str,
               bracket: tuple[float, float] | None, draws: int, seed: int,
               threads: int | None, executor: Executor | None) -> Root:
    from scipy.optimize import brentq

    given = bracket
    lo, hi = bracket or (1.0, 1.0)
    check_axis(base, Axis(name, how, (lo, hi) if given else ()), option="--vary")
    prior = base.input(name).prior
    floor = 0.0 if support(prior)[0] >= 0 else -math.inf
    if given is None:
        lo, hi = _default_bracket(prior, how)
    runs: dict[float, engine.Simulation] = {}
    lowered = Lowered.build(base, [Axis(name, how, ())], seed)

    def run(x: float) -> engine.Simulation:
        if x not in runs:
            runs[x] = engine.simulate(base, draws, seed=seed, threads=threads,
                                      program=lowered.at([x]), executor=executor)
        return runs[x]

    def gap(x: float) -> float:
        value = float(run(x).quantile(claim.output, q)[0]) - claim.value
        if math.isnan(value):
            raise McsimError(f"solve: {claim.output} has no finite draws at {name} = {x:g}")
        return value

    def standing(x: float) -> float:
        cdf = run(x).outputs[claim.output].histogram.cdf(claim.value)
        return 100 * cdf if target == "percentile" else 1 - cdf

    g_lo, g_hi = gap(lo), gap(hi)
    widened = 0
    while given is None and g_lo * g_hi > 0 and widened < EXPANSIONS:
        lo, hi = _widen(lo, hi, how, floor)
        g_lo, g_hi = gap(lo), gap(hi)
        widened += 1
    if g_lo * g_hi > 0:
        return Root(name, how, False, math.nan, math.nan, lo, hi, standing(lo), standing(hi),
                    len(runs))
    if g_lo == 0 or g_hi == 0:
        x = lo if g_lo == 0 else hi
    else:
        x = float(brentq(gap, lo, hi, xtol=1e-6 * (hi - lo), rtol=1e-9, maxiter=100))
    se = _root_se(run, gap, claim.output, q, x, lo, hi)
    return Root(name, how, True, x, se, lo, hi, standing(lo), standing(hi), len(runs))


def _root_se(run, gap, output: str, q: float, x: float, lo: float, hi: float) -> float:
    """The solution's Monte Carlo error: the quantile's error at ``x`` over its slope there
    (a difference over 1% of the bracket, inside it)."""
    h = 0.01 * (hi - lo)
    a, b = max(x - h, lo), min(x + h, hi)
    slope = (gap(b) - gap(a)) / (b - a)
    se_q = float(quantile_se(run(x).outputs[output].histogram, np.array([q]))[0])
    return se_q / abs(slope) if slope else math.inf
