"""Render results and scenarios as plain-text tables for the terminal."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .units import format_percentile, format_rate, format_share, format_value

if TYPE_CHECKING:
    from .engine import Simulation
    from .scenario import Scenario
    from .sensitivity import Tornado


MIN_COLUMN = 8  # a text column is never wrapped narrower than this
GAP = 2  # spaces between columns


def terminal_width() -> int | None:
    """The columns of the terminal the output goes to (``$COLUMNS`` first), or None when it
    goes to a file or a pipe, whose lines are left whole."""
    if os.environ.get("COLUMNS", "").strip().isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _wrap(text: str, width: int | None, indent: str = "") -> str:
    """``text`` folded to ``width`` columns (continuation lines indented), or whole."""
    if width is None or len(text) <= width:
        return text
    return textwrap.fill(text, width, subsequent_indent=indent + "  ", break_on_hyphens=False)


def _column_widths(header: list[str], rows: list[list[str]], right: set[int],
                   width: int | None) -> list[int]:
    """Each column's natural width, narrowed to fit ``width`` where it can: first the widest
    text (left-aligned) columns, down to their longest word; then the headers of number
    columns, down to their longest cell; last the text columns, down to ``MIN_COLUMN``."""
    cells = [[r[i] for r in rows] for i in range(len(header))]
    widths = [max(len(c) for c in [header[i], *cells[i]]) for i in range(len(header))]
    if width is None:
        return widths

    def longest_word(texts: list[str]) -> int:
        return max((len(w) for text in texts for w in text.split()), default=1)

    floors = [
        [widths[i] if i in right else min(widths[i], max(MIN_COLUMN, longest_word(cells[i])))
         for i in range(len(header))],
        [max(longest_word(cells[i]), longest_word([header[i]])) if i in right else widths[i]
         for i in range(len(header))],
        [widths[i] if i in right else min(widths[i], MIN_COLUMN) for i in range(len(header))],
    ]
    excess = sum(widths) + GAP * (len(widths) - 1) - width
    for floor in floors:
        while excess > 0:
            give = [i for i in range(len(widths)) if widths[i] > floor[i]]
            if not give:
                break
            widths[max(give, key=lambda i: widths[i])] -= 1
            excess -= 1
    return widths


def _table(header: list[str], rows: list[list[str]], right: set[int],
           width: int | None = None) -> str:
    """A plain-text table; with ``width``, text cells and headers wrap onto more lines so that
    the table fits, where it can. Numbers are never cut."""
    widths = _column_widths(header, rows, right, width)

    def lines(cells: list[str]) -> list[str]:
        parts = [textwrap.wrap(c, w, subsequent_indent=" ", break_on_hyphens=False) or [""]
                 if len(c) > w else [c]
                 for c, w in zip(cells, widths, strict=True)]
        out = []
        for k in range(max(map(len, parts))):
            row = [p[k] if k < len(p) else "" for p in parts]
            out.append("  ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                       .rstrip())
        return out

    body = [line for r in rows for line in lines(r)]
    return "\n".join([*lines(header), *lines(["-" * w for w in widths]), *body])


def scenario_label(scenario: Scenario) -> str:
    """Where a scenario came from, briefly: a built-in's name, else its path (relative to the
    working folder when it is inside it)."""
    from .scenario import builtin_scenarios

    if not scenario.path:
        return scenario.name
    path = Path(scenario.path).resolve()
    builtin = builtin_scenarios().get(scenario.name)
    if builtin is not None and builtin.resolve() == path:
        return scenario.name
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_header(sim: Simulation, width: int | None = None) -> str:
    s = sim.scenario
    kernels = (f"; {sim.kernel_seconds:.1f} s of it compiling or loading the kernels"
               if sim.kernel_seconds >= 0.05 else "")
    design = ""
    if sim.replicates:
        design = (f" ({sim.sampler}: {len(sim.replicates)} replicates of "
                  f"{sim.draws // len(sim.replicates):,}; errors from their spread)")
    where = (f"{sim.threads} thread{'s' if sim.threads != 1 else ''}"
             if sim.executor == "local" else f"on {sim.executor}")
    how = (f"{scenario_label(s)}: seed {sim.seed}, {sim.draws:,} draws{design}, {where}, "
           f"{sim.wall_seconds:.2f} s ({format_rate(sim.draws_per_second)} draws/s{kernels})")
    lines = [_wrap(s.title, width), _wrap(how, width)]
    if sim.weights is not None:
        w = sim.weights
        names = ", ".join(ev.name for ev in s.evidence)
        lines.append(_wrap(
            f"evidence ({names}): the draws are weighted by their likelihood, so the intervals "
            f"are posteriors; effective sample size {w.ess:,.0f} of {w.draws:,} draws "
            f"({100 * w.share:.2g}%); the prior's beside them; --no-evidence for the priors "
            "alone", width))
    return "\n".join(lines)


def summary_text(summary: pd.DataFrame, width: int | None = None) -> str:
    """The summary frame as a table: mean, median and the equal-tailed interval per output."""
    level = summary["ci_level"].iloc[0] if len(summary) else 0.9
    rows = [[r.label, format_value(r.mean, r.unit), format_value(r.median, r.unit),
             f"{format_value(r.ci_low, r.unit)} to {format_value(r.ci_high, r.unit)}"]
            for r in summary.itertuples()]
    header = ["output", "mean", "median", f"{100 * level:g}% interval"]
    if "prior_median" in summary:  # under evidence: the posterior, then the prior
        header = ["output", "mean", "median", f"{100 * level:g}% interval (posterior)",
                  "prior median", "prior interval"]
        rows = [[*row, format_value(r.prior_median, r.unit),
                 f"{format_value(r.prior_ci_low, r.unit)} to "
                 f"{format_value(r.prior_ci_high, r.unit)}"]
                for row, r in zip(rows, summary.itertuples(), strict=True)]
    text = _table(header, rows, {1, 2, 4}, width)
    return "\n".join([text, *(_wrap(f"note: {n}", width) for n in summary_notes(summary))])


def summary_notes(summary: pd.DataFrame) -> list[str]:
    """What a reader of the summary must know: non-finite draws left out, coarse quantiles."""
    notes = [f"{r.output}: {r.nonfinite:,} non-finite draws (e.g. a division by zero) "
             "were left out of its statistics" for r in summary.itertuples() if r.nonfinite]
    notes += [f"{r.output}: a quantile fell outside the histogram's fine range; "
              "it is bounded by the exact min and max only" for r in summary.itertuples()
              if r.coarse]
    return notes


def claims_text(claims: pd.DataFrame, width: int | None = None) -> str:
    """Where each claim falls: its percentile and the probability that the truth exceeds it
    (where no draw, or every draw, exceeds it: the bound the draws give, e.g. "<0.1%")."""
    if claims.empty:
        return "(no claims in this scenario)"
    rows = [[r.claim, r.output, format_value(r.value, r.unit),
             format_percentile(r.p_exceed, r.p_exceed_low, r.p_exceed_high),
             format_share(r.p_exceed, r.p_exceed_low, r.p_exceed_high)]
            for r in claims.itertuples()]
    header = ["claim", "output", "claimed", "percentile", "P(true > claimed)"]
    if "prior_percentile" in claims:  # under evidence: the posterior's, then the prior's
        header[3:] = ["percentile (posterior)", "P(true > claimed)", "prior percentile"]
        rows = [[*row, format_percentile(r.prior_p_exceed, r.prior_p_exceed_low,
                                         r.prior_p_exceed_high)]
                for row, r in zip(rows, claims.itertuples(), strict=True)]
    if claims["scope"].astype(bool).any():  # which reading of the figure each line audits
        header.append("scope")
        rows = [[*row, scope] for row, scope in zip(rows, claims["scope"], strict=True)]
    return _table(header, rows, {2, 3, 4}, width)


def check_text(scenario: Scenario, width: int | None = None) -> str:
    """Every input with its prior, p5/p50/p95, unit and source; then derived and outputs."""
    s = scenario
    lines = [f"{scenario_label(s)}: OK ({len(s.inputs)} inputs, {len(s.derived)} derived, "
             f"{len(s.outputs)} outputs, {len(s.claims)} claims)", s.title, ""]
    rows = []
    for inp in s.inputs:
        p5, p50, p95 = np.asarray(inp.prior.ppf([0.05, 0.5, 0.95]), dtype=float)
        rows.append([inp.name, inp.unit, format_value(p5), format_value(p50), format_value(p95),
                     inp.prior.describe()])
    lines.append(_table(["input", "unit", "p5", "p50", "p95", "prior"], rows, {2, 3, 4}, width))
    lines += ["", "sources:"]
    lines += [f"  {inp.name}: {inp.source}" for inp in s.inputs]
    if s.bibliography:
        lines += ["", "bibliography (the [@key]s cited above):"]
        lines += [f"  [@{src.key}] {src.reference()}" for src in s.bibliography]
    if s.derived:
        lines += ["", "derived:"]
        lines += [f"  {name} = {f.text}" for name, f in s.derived]
    lines += ["", "outputs:"]
    lines += [f"  {o.name} [{o.unit or '-'}] = {o.formula.text}  ({o.label})" for o in s.outputs]
    if s.claims:
        lines += ["", "claims:"]
        lines += [f"  {c.name}: {c.output} = {c.value:g}" + (f" [{c.scope}]" if c.scope else "")
                  + f"  ({c.source})" for c in s.claims]
    if s.evidence:
        lines += ["", "evidence (weights the draws; --no-evidence ignores it):"]
        lines += [f"  {ev.name}: {ev.describe()}  ({ev.source})" for ev in s.evidence]
    if s.correlations:
        lines += ["", "rank correlations (Gaussian copula):"]
        lines += [f"  {c.a} ~ {c.b}: {c.spearman:+.3f}" + (f"  ({c.source})" if c.source else "")
                  for c in s.correlations]
        lines += [f"  repaired {r.a} ~ {r.b}: {r.requested:+.3f} -> {r.repaired:+.3f}"
                  for r in s.repairs]
    unused = s.unused_inputs()
    if unused:
        lines += ["", f"warning: inputs no output uses: {', '.join(unused)}"]
    return "\n".join(line if "\n" in line
                     else _wrap(line, width, " " * (len(line) - len(line.lstrip())))
                     for line in lines)


def tornado_text(tor: Tornado, width: int | None = None) -> str:
    """Inputs ranked by the first method, one column per method; notes on disagreements."""
    t = tor.table
    cell = {}
    for r in t.itertuples():
        if r.method in ("binned", "swing"):
            text = f"{format_value(r.low, tor.unit)} to {format_value(r.high, tor.unit)}"
        elif r.method == "spearman":
            text = f"{r.value:+.3f}"
        elif r.method == "ctv":
            text = f"{100 * r.value:+.1f}%"
        elif r.method in ("s1", "st"):
            text = f"{r.value:.3f} ± {r.se:.3f}"
        else:
            text = f"{r.value:+.1f} pts"
        if r.negligible:
            text = "~0"
        cell[(r.input, r.method)] = text
    heads = {"binned": f"binned mean ({tor.bins} bins)",
             "swing": f"swing P{tor.percentiles[0]:g}-P{tor.percentiles[1]:g}",
             "spearman": "spearman", "ctv": "ctv (norm. rho^2)", "s1": "S1 (var. share)",
             "tail": f"tail shift (>P{100 * tor.tail_quantile:g})", "st": "S_T (total effect)"}
    order = tor.ranking()
    disagree = set(t.loc[t["disagrees"], "input"])
    rows = [[str(k + 1), name + (" *" if name in disagree else "")]
            + [cell.get((name, m), "") for m in tor.methods] for k, name in enumerate(order)]
    base = (f"; swing base case (all inputs at their medians): "
            f"{format_value(tor.baseline, tor.unit)}" if not np.isnan(tor.baseline) else "")
    lines = [_wrap(f"Sensitivity of {tor.output} ({tor.scenario}): {tor.draws:,} draws, seed "
                   f"{tor.seed}; median {format_value(tor.median, tor.unit)}{base}", width),
             _wrap(f"ranked by {tor.methods[0]}; ~0 = indistinguishable from zero; "
                   "* = ranks differ strongly between methods", width), "",
             _table(["rank", "input", *(heads[m] for m in tor.methods)], rows, {0}, width)]
    if tor.notes:
        lines += ["", *(_wrap(f"note: {n}", width) for n in tor.notes)]
    return "\n".join(lines)


def bench_text(table: pd.DataFrame, width: int | None = None) -> str:
    """The speed suite as a table: rates, cost per input-sample, ratio to tuned numpy."""
    rows = []
    for r in table.itertuples():
        if r.impl == "process":
            rows.append([r.case, "", "", f"{r.seconds:.2f}", "", "", "",
                         f"{r.peak_rss_mib:.0f}"])
            continue
        if r.impl == "dask note":
            rows.append([f"{r.case}: {r.note}", "", "", "", "", "", "", ""])
            continue
        ratio = "" if pd.isna(r.vs_numpy_tuned) else f"{r.vs_numpy_tuned:.1f}x"
        case = f"{r.case} ({r.impl})"
        if r.impl.startswith("dask "):
            case = (f"{r.case} ({r.impl}, {int(r.task_tiles)} tiles/task, "
                    f"{r.vs_local:.2f}x local speed)")
        if r.impl == "sweep":
            case = (f"{r.case}: {r.points_per_second:.2f} points/s, fixed "
                    f"{1e3 * r.fixed_seconds_per_point:.0f} ms/point")
        rows.append([case, f"{int(r.draws):,}", str(int(r.threads)),
                     f"{r.seconds:.3f}", f"{r.draws_per_second / 1e6:.3g}",
                     f"{r.ns_per_input_sample_per_core:.1f}", ratio,
                     f"{r.peak_rss_mib:.0f}" if r.impl.startswith("dask ") else ""])
    return _table(["case", "draws", "threads", "seconds", "Mdraws/s", "ns/input-sample/core",
                   "vs numpy tuned", "peak RSS MiB"], rows, {1, 2, 3, 4, 5, 6, 7}, width)


def precision_text(sim: Simulation, table: pd.DataFrame, width: int | None = None) -> str:
    """Why an --until run stopped, and its least precise statistic."""
    worst = table.loc[(table["relative_error"] / table["tolerance"]).idxmax()]
    why = {"converged": "every --until target met",
           "max-draws": "hit --max-draws before every --until target was met"}[sim.stopped]
    return _wrap(f"stopped after {sim.draws:,} draws: {why}; least precise: {worst.output} "
                 f"{worst.stat} +-{100 * worst.relative_error:.3g}% (target "
                 f"{100 * worst.tolerance:g}%)", width)


def correlations_text(table: pd.DataFrame, repairs: tuple = (),
                      width: int | None = None) -> str:
    """Requested and achieved rank correlations, and any repairs made to the request."""
    if table.empty:
        return ""
    rows = [[f"{r.a} ~ {r.b}", f"{r.requested:+.3f}", f"{r.achieved:+.3f} ± {r.se:.3f}"]
            for r in table.itertuples()]
    lines = [_table(["rank correlation", "requested", "achieved"], rows, {1, 2}, width)]
    lines += [_wrap(f"note: repaired {r.a} ~ {r.b}: {r.requested:+.3f} -> {r.repaired:+.3f} "
                    "(nearest valid correlation matrix)", width) for r in repairs]
    return "\n".join(lines)


def sweep_text(sw, width: int | None = None) -> str:
    """A sweep as one table per output: a row per point with the output's median, interval
    and mean, and each claim's percentile and P(true > claimed)."""
    blocks = []
    inputs = [a.column for a in sw.axes]
    for name in sw.outputs:
        out = sw.scenario.output(name)
        claims = [c for c in sw.scenario.claims if c.output == name]
        rows = []
        for pt in sw.points:
            s = pt.summary.set_index("output").loc[name]
            cl = pt.claims.set_index("claim")
            rows.append([*(f"{v:,.6g}" for _, _, v in pt.moves),
                         format_value(s["median"], out.unit),
                         f"{format_value(s.ci_low, out.unit)} to "
                         f"{format_value(s.ci_high, out.unit)}",
                         format_value(s["mean"], out.unit),
                         *(f"{format_percentile(*_exceedance(cl.loc[c.name]))} / "
                           f"{format_share(*_exceedance(cl.loc[c.name]))}" for c in claims)])
        header = [*inputs, "median", f"{100 * sw.ci:g}% interval", "mean",
                  *(f"{c.name} pct / P(>)" for c in claims)]
        blocks.append(_wrap(f"{out.label} ({name})", width) + "\n"
                      + _table(header, rows, set(range(len(header))), width))
    return "\n\n".join(blocks)


def _exceedance(claim: pd.Series) -> tuple[float, float, float]:
    """A claims row's P(true > claimed) with its interval, as ``format_share`` takes them."""
    return claim["p_exceed"], claim["p_exceed_low"], claim["p_exceed_high"]


def quantiles_text(table: pd.DataFrame, width: int | None = None) -> str:
    """The quantiles asked for: one row per output, each quantile with its standard error."""
    probs = list(dict.fromkeys(table["p"]))
    rows = []
    for _, group in table.groupby("output", sort=False):
        first = group.iloc[0]
        rows.append([first["label"], *(f"{format_value(r.value, r.unit)} ± "
                                       f"{format_value(r.se, r.unit)}"
                                       for r in group.itertuples())])
    header = ["output", *(f"p{100 * p:g}" for p in probs)]
    return _table(header, rows, set(range(1, len(header))), width)
