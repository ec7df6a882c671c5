"""The one-page report: a self-contained HTML page (charts embedded as data URIs, tables and
styles inline, nothing fetched over a network) with the runs' settings, the summary and
claims tables, every input with its prior and source, the distribution charts and the
tornados; with several scenarios, drawn with one seed (common random numbers), the same
outputs overlaid and the differences of their medians with Monte Carlo errors.

``build_report`` runs everything and returns a ``Report`` (the page and its tables);
``write_report`` writes index.html beside summary.csv, claims.csv and manifest.json (and
comparison.csv for several scenarios), atomically.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, plot
from .compare import REPLICATES, Comparison, common_outputs, compare_medians
from .distributions import Distribution
from .engine import Simulation, require_finite, simulate
from .errors import McsimError
from .executors import Executor
from .export import manifest, write_folder
from .reduce import check_level
from .render import summary_notes
from .scenario import Scenario
from .sensitivity import Tornado, tornado
from .sweep import check_axis, parse_axis, sweep
from .units import format_compact, format_percent, format_percentile, format_share, format_value

TORNADO_DRAWS = 500_000  # sensitivity draws per tornado (capped at the run's draws)
MAX_TORNADOS = 6  # default: the outputs that have claims, at most this many


@dataclass(frozen=True)
class Report:
    """The page and the tables behind it (one row per scenario and output or claim)."""

    html: str
    summary: pd.DataFrame
    claims: pd.DataFrame
    comparison: Comparison | None
    manifest: dict

    def __repr__(self) -> str:
        names = ", ".join(s["name"] or s["title"] for s in self.manifest.get("scenarios", []))
        return (f"<Report of {names}: a page of {len(self.html) // 1000:,} kB, "
                f"{len(self.summary)} summary rows, {len(self.claims)} claims; .files()>")

    def files(self) -> dict[str, str]:
        """File name -> text, as ``write_report`` writes them."""
        files = {"index.html": self.html, "summary.csv": self.summary.to_csv(index=False),
                 "claims.csv": self.claims.to_csv(index=False),
                 "manifest.json": json.dumps(self.manifest, indent=2) + "\n"}
        if self.comparison is not None:
            files["comparison.csv"] = self.comparison.to_frame().to_csv(index=False)
        return files


def headline_outputs(scenarios: Sequence[Scenario]) -> list[str]:
    """The outputs that claims speak about (common to every scenario), in claim order; the
    first output when there are none."""
    common = {o.name for o in scenarios[0].outputs}
    for sc in scenarios[1:]:
        common &= {o.name for o in sc.outputs}
    names = [c.output for sc in scenarios for c in sc.claims if c.output in common]
    names = list(dict.fromkeys(names))
    first = [o.name for o in scenarios[0].outputs if o.name in common][:1]
    return names or first


def check_scenarios(scenarios: Sequence[Scenario], tornado_outputs: Sequence[str]) -> None:
    """Fail before any run on scenarios given twice or a tornado output one of them lacks."""
    if not scenarios:
        raise McsimError("report: no scenario given")
    seen: dict[str, Scenario] = {}
    for sc in scenarios:
        if sc.name in seen:
            other = seen[sc.name]
            same = "is given twice" if other.path == sc.path else (
                f"names two files ({other.path}, {sc.path}); rename one")
            raise McsimError(f"report: scenario {sc.name!r} {same}")
        seen[sc.name] = sc
    for name in tornado_outputs:
        for sc in scenarios:
            try:
                sc.output(name)
            except McsimError as err:
                raise McsimError(f"--tornado: {sc.name}: {err}") from None


def build_report(scenarios: Sequence[Scenario], draws: int, seed: int, ci: float = 0.90,
                 tornado_outputs: Sequence[str] | None = None,
                 tornado_draws: int = TORNADO_DRAWS, replicates: int = REPLICATES,
                 threads: int | None = None,
                 log: Callable[[str], None] | None = None,
                 sweeps: Sequence[str] = (), *, executor: Executor | None = None) -> Report:
    """Simulate every scenario with ``seed``, compare them, rank their inputs, draw the
    charts and lay it all out on one page. Each of ``sweeps`` (``NAME=VALUES``, as
    ``mcsim sweep --set``) adds a sweep of the first scenario, ``tornado_draws`` per point.

    ``executor`` (``executors.py``) runs the scenarios' draws, the paired sub-runs, the
    tornados' first passes and the sweeps' points; the tornados' other passes run here."""
    say = log or (lambda message: None)
    level = check_level(ci)
    chosen = list(tornado_outputs) if tornado_outputs else headline_outputs(scenarios)[
        :MAX_TORNADOS]
    check_scenarios(scenarios, chosen)
    axes = [parse_axis(text, "set", "--sweep") for text in sweeps]
    for axis in axes:
        check_axis(scenarios[0], axis, option="--sweep")
    plot.require_matplotlib()
    t0 = time.perf_counter()
    sims = []
    for sc in scenarios:
        say(f"simulating {sc.name}: {draws:,} draws, seed {seed}")
        sims.append(simulate(sc, draws, seed=seed, threads=threads, executor=executor))
        require_finite(sims[-1])
    comparison = None
    if len(sims) > 1:
        say(f"comparing medians: {replicates} paired sub-runs per scenario")
        comparison = compare_medians(sims, replicates, threads=threads, executor=executor)
    n_tornado = min(tornado_draws, draws)
    tornados: list[tuple[str, list[Tornado | str]]] = []
    for name in chosen:
        say(f"tornado of {name}: {n_tornado:,} draws")
        tornados.append((name, [_tornado(sc, name, n_tornado, seed, threads, executor)
                                for sc in scenarios]))
    swept = []
    for axis in axes:
        say(f"sweep of {axis.input}: {len(axis.values)} points of {n_tornado:,} draws")
        sw = sweep(scenarios[0], [axis], draws=n_tornado, seed=seed, ci=level,
                   threads=threads, executor=executor)
        swept.append((sw, plot.figure_bytes(plot.sweep_figure(sw), "png", tight=True)))
    say("drawing the charts")
    outputs = common_outputs(sims)
    first = headline_outputs(scenarios)
    order = [o for o in first if o in outputs] + [o for o in outputs if o not in first]
    charts = plot.output_charts(sims, level, "png", order)
    summary = _stack([s.summary(level) for s in sims], sims)
    claims = _stack([s.claims() for s in sims], sims)
    wall = time.perf_counter() - t0
    info = {"mcsim": __version__, "seed": seed, "draws": draws, "ci_level": level,
            "scenarios": [{"name": s.name, "title": s.title, "path": s.path,
                           "sha256": s.sha256} for s in scenarios],
            "tornado": {"outputs": chosen, "draws": n_tornado},
            "comparison": None if comparison is None else {
                "reference": comparison.reference, "replicates": comparison.replicates,
                "replicate_draws": comparison.replicate_draws},
            "wall_seconds": round(wall, 3),
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    info["sweeps"] = [{"input": sw.axes[0].input, "values": list(sw.axes[0].values),
                       "draws": sw.draws} for sw, _ in swept]
    page = _Page(sims, level, info, summary, claims, comparison, charts, tornados, first,
                 swept)
    return Report(html=page.render(), summary=summary, claims=claims, comparison=comparison,
                  manifest={"report": info, "runs": [manifest(s, level) for s in sims]})


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Replace ``out_dir`` by a folder of the report's files (built beside it, then swapped
    into place: ``export.write_folder``)."""
    return write_folder(Path(out_dir), report.files())


def _tornado(sc: Scenario, output: str, draws: int, seed: int, threads: int | None,
             executor: Executor | None) -> Tornado | str:
    """The tornado, or why there is none (e.g. nothing uncertain to rank)."""
    try:
        return tornado(sc, output, draws, seed, threads=threads, executor=executor)
    except McsimError as err:
        return str(err)


def _stack(frames: list[pd.DataFrame], sims: list[Simulation]) -> pd.DataFrame:
    """One scenario: its frame as ``run`` writes it; several: stacked, a scenario column first."""
    if len(frames) == 1:
        return frames[0]
    return pd.concat([f.assign(scenario=s.scenario.name)[["scenario", *f.columns]]
                      for f, s in zip(frames, sims, strict=True)], ignore_index=True)


# ---------------------------------------------------------------- inputs, readably

_FAMILY_NAMES = {"pert": "PERT", "truncnormal": "truncated normal", "loguniform": "log-uniform"}
_UNIT_PARAMS = {"value", "min", "max", "mode", "loc", "scale", "median"}  # in the input's unit


def prior_text(prior: Distribution, unit: str) -> str:
    """A prior as a reader says it: family and parameters, values in the input's unit."""
    p = prior.params

    def val(v: float) -> str:
        return format_compact(v, unit)

    family = _FAMILY_NAMES.get(prior.family, prior.family)
    if prior.family == "constant":
        return f"constant {val(p['value'])}"
    if prior.family == "discrete":
        return "discrete: " + ", ".join(f"{val(v)} ({format_percent(w)})"
                                        for v, w in zip(p["values"], p["weights"], strict=True))
    if prior.family == "lognormal":
        text = f"lognormal: median {val(p['median'])}, log-sd {p['sigma']:.3g}"
        if p["sign"] < 0 or not math.isclose(p["scale"], p["median"]):
            text += f"; shifted, scale {val(p['scale'])}"
            text += ", mirrored (long left tail)" if p["sign"] < 0 else ""
        return text
    parts = [f"{k} {val(v) if k in _UNIT_PARAMS else f'{v:.4g}'}" for k, v in p.items()
             if math.isfinite(v)]
    return f"{family}: {', '.join(parts)}"


# ---------------------------------------------------------------- the page

_CSS = """
:root { --ink: #1d1d1f; --muted: #5f6368; --line: #d9d9de; --band: #f5f6f8; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3em; margin: 2em 0 0.5em; padding-bottom: 0.2em;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 1.5em 0 0.4em; }
p.lead { color: var(--muted); margin-top: 0; }
nav { margin: 1em 0; font-size: 0.95em; }
nav a { margin-right: 1.1em; color: var(--accent); text-decoration: none; }
code { font: 0.88em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--band); padding: 10px 12px; overflow-x: auto; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: 0.6em 0 1em; font-size: 0.9em; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td { overflow-wrap: anywhere; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums;
  overflow-wrap: normal; }
.scroll { overflow-x: auto; }
td > code { white-space: nowrap; overflow-wrap: normal; }
details.description { margin-top: 4px; }
details.description div { white-space: pre-line; }
tr.changed td:first-child { border-left: 3px solid #d97706; }
table.kv th { width: 13em; background: none; }
.small { font-size: 0.85em; color: var(--muted); }
.se { color: var(--muted); font-size: 0.9em; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
  gap: 18px; }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 0.85em; color: var(--muted); margin-top: 4px; }
.tornados { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
  gap: 18px; }
ul.notes { color: var(--muted); font-size: 0.88em; }
footer { margin-top: 3em; color: var(--muted); font-size: 0.85em; }
@media print { nav { display: none; } .charts, .tornados { display: block; }
  figure { break-inside: avoid; margin-bottom: 12px; } }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cited(text: str) -> str:
    """Escaped text whose [@key] citations link to the bibliography section."""
    def link(match: re.Match[str]) -> str:
        keys = [k.strip().removeprefix("@").strip() for k in match.group(1).split(";")]
        return "[" + "; ".join(f'<a href="#src-{k}">@{k}</a>' for k in keys) + "]"
    return re.sub(r"\[@([^\]]*)\]", link, _e(text))


def _num(value: float, text: str, stat: str, extra: str = "") -> str:
    """A numeric cell: shown formatted, the exact value in ``data-value`` for machines."""
    data = repr(float(value)) if value is not None else "nan"
    return (f'<td class="num" data-stat="{_e(stat)}" data-value="{_e(data)}">{_e(text)}'
            f"{extra}</td>")


def _se(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return ""
    return f' <span class="se">± {_e(format_value(value, unit))}</span>'


def _img(data: bytes, alt: str) -> str:
    width, height = plot.image_size(data)
    encoded = base64.b64encode(data).decode("ascii")
    return (f'<img src="data:image/png;base64,{encoded}" width="{width}" height="{height}" '
            f'alt="{_e(alt)}">')


def _table(head: list[tuple[str, bool]], rows: list[str], cls: str = "") -> str:
    cells = "".join(f'<th{" class=num" if num else ""}>{_e(h)}</th>' for h, num in head)
    klass = f' class="{cls}"' if cls else ""
    return (f'<div class="scroll"><table{klass}><thead><tr>{cells}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


class _Page:
    """Lays the report out as HTML; every section is a method returning a string."""

    def __init__(self, sims, level, info, summary, claims, comparison, charts, tornados,
                 headline, sweeps=()):
        self.sims, self.level, self.info = sims, level, info
        self.summary, self.claims, self.comparison = summary, claims, comparison
        self.charts, self.tornados, self.headline = charts, tornados, headline
        self.sweeps = sweeps
        self.multi = len(sims) > 1
        self.names = [s.scenario.name for s in sims]

    def render(self) -> str:
        sections = [("run", "How it was run", self.run_section()),
                    ("claims", "Claims", self.claims_section())]
        if self.comparison is not None:
            sections.append(("comparison", "Scenarios compared", self.comparison_section()))
        sections += [("summary", "Summary", self.summary_section()),
                     ("distributions", "Distributions", self.charts_section()),
                     ("sensitivity", "What drives the answer", self.tornado_section())]
        if self.sweeps:
            sections.append(("sweeps", "If an input were known", self.sweep_section()))
        sections += [
                     ("inputs", "Inputs, priors and sources", self.inputs_section()),
                     ("sources", "Bibliography", self.sources_section()),
                     ("method", "How to read it", self.method_section())]
        nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
        body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>'
                       for key, title, content in sections)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<meta name="generator" content="mcsim {_e(__version__)}">'
                f'<link rel="icon" href="data:,"><title>{_e(self.title())}</title>'
                f"<style>{_CSS}</style></head><body><main>"
                f"<h1>{_e(self.heading())}</h1><p class=\"lead\">{_e(self.lead())}</p>"
                f"<nav>{nav}</nav>{body}"
                f"<footer>Made by mcsim {_e(__version__)} on {_e(self.info['created_utc'])}; "
                f"this page is self-contained (no network needed).</footer>"
                f"</main></body></html>\n")

    # -- header

    def title(self) -> str:
        return (f"mcsim report: {' vs '.join(self.names)} (seed {self.info['seed']}, "
                f"{self.info['draws']:,} draws)")

    def heading(self) -> str:
        if self.multi:
            return f"{len(self.sims)} scenarios compared: {', '.join(self.names)}"
        return self.sims[0].scenario.title

    def lead(self) -> str:
        return (f"Monte Carlo report by mcsim {__version__}: {self.info['draws']:,} draws per "
                f"scenario, seed {self.info['seed']}, {100 * self.level:g}% equal-tailed "
                "intervals.")

    def run_section(self) -> str:
        rows = []
        for sim in self.sims:
            sc = sim.scenario
            desc = (f'<details class="description small"><summary>description</summary>'
                    f"<div>{_e(sc.description.strip())}</div></details>"
                    if sc.description.strip() else "")
            rows.append(f"<tr><th>Scenario <code>{_e(sc.name)}</code></th><td>"
                        f"<strong>{_e(sc.title)}</strong><br><span class=\"small\">file "
                        f"<code>{_e(sc.path or '(built from a dict)')}</code>, sha256 "
                        f"<code>{_e(sc.sha256[:16])}</code></span>{desc}</td></tr>")
            if sim.weights is not None:
                w = sim.weights
                pieces = "".join(f"<li><code>{_e(ev.name)}</code>: {_e(ev.describe())}</li>"
                                 for ev in sc.evidence)
                rows.append(f"<tr><th>Evidence (<code>{_e(sc.name)}</code>)</th><td>The draws "
                            "are weighted by the likelihood of what was observed, so the "
                            "intervals and percentiles are posteriors (summary.csv and "
                            "claims.csv give the prior's beside them); effective sample size "
                            f"{w.ess:,.0f} of {w.draws:,} draws ({100 * w.share:.3g}%)."
                            f"<ul class=\"small\">{pieces}</ul></td></tr>")
        first = self.sims[0]
        facts = [("Seed", f"{self.info['seed']}" + (" (the same for every scenario: common "
                                                     "random numbers)" if self.multi else "")),
                 ("Draws", f"{self.info['draws']:,} per scenario"),
                 ("Credible level", f"{100 * self.level:g}% (equal-tailed)"),
                 ("Tornados", f"{self.info['tornado']['draws']:,} draws each"),
                 ("mcsim version", __version__),
                 ("Threads", str(first.threads)),
                 ("Time", f"{self.info['wall_seconds']:.1f} s for the whole report"),
                 ("Created (UTC)", self.info["created_utc"])]
        rows += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts]
        cmd = shlex.join(["mcsim", "report", *(str(s.scenario.path or s.scenario.name)
                                                for s in self.sims),
                          "--draws", str(self.info["draws"]), "--seed", str(self.info["seed"]),
                          "--ci", f"{100 * self.level:g}",
                          *(x for o in self.info["tornado"]["outputs"] for x in ("--tornado", o)),
                          "--tornado-draws", str(self.info["tornado"]["draws"]),
                          *(["--paired-runs", str(self.info["comparison"]["replicates"])]
                            if self.info["comparison"] else []),
                          *(["--repair-correlations"] if any(s.scenario.repairs
                                                             for s in self.sims) else [])])
        return (f'<table class="kv">{"".join(rows)}</table>'
                f"<p>Reproduce it with</p><pre><code>{_e(cmd)}</code></pre>")

    # -- tables

    def _scenario_cell(self, name: str) -> str:
        return f"<td><code>{_e(name)}</code></td>" if self.multi else ""

    def claims_section(self) -> str:
        if self.claims.empty:
            return "<p>No claims in this scenario.</p>"
        head = [("claim", False), *([("scenario", False)] if self.multi else []),
                ("output", False), ("scope", False), ("claimed", True), ("percentile", True),
                ("P(true > claimed)", True), ("source", False)]
        frame = self.claims.sort_values(["claim"] + (["scenario"] if self.multi else []),
                                        kind="stable") if self.multi else self.claims
        notes = {(s.scenario.name, c.name): c.note for s in self.sims for c in s.scenario.claims}
        rows = []
        for r in frame.itertuples():
            scen = getattr(r, "scenario", self.names[0])
            text = notes.get((scen, r.claim), "")
            note = f'<div class="small">{_e(text)}</div>' if text else ""
            rows.append(
                f'<tr data-scenario="{_e(scen)}" data-claim="{_e(r.claim)}">'
                f"<td><code>{_e(r.claim)}</code></td>{self._scenario_cell(scen)}"
                f"<td><code>{_e(r.output)}</code></td><td>{_e(r.scope)}</td>"
                + _num(r.value, format_value(r.value, r.unit), "value")
                + _num(r.percentile,
                       format_percentile(r.p_exceed, r.p_exceed_low, r.p_exceed_high),
                       "percentile", f' <span class="se">± {r.percentile_se:.2g} pts</span>')
                + _num(r.p_exceed, format_share(r.p_exceed, r.p_exceed_low, r.p_exceed_high),
                       "p_exceed")
                + f"<td>{_cited(r.source)}{note}</td></tr>")
        return ("<p>Where each published figure falls in the simulated distribution of the "
                "output it speaks about: its percentile (with its Monte Carlo standard error) "
                "and the probability that the true value exceeds it under these priors.</p>"
                + _table(head, rows))

    def summary_section(self) -> str:
        pct = f"{100 * self.level:g}%"
        head = [("output", False), *([("scenario", False)] if self.multi else []),
                ("mean", True), ("median", True), (f"{pct} interval from", True),
                ("to", True), ("min", True), ("max", True)]
        frame = self.summary
        if self.multi:
            order = {n: k for k, n in enumerate(frame["output"].drop_duplicates())}
            frame = frame.assign(_o=frame["output"].map(order)).sort_values(
                ["_o"], kind="stable")
        rows = []
        for r in frame.itertuples():
            scen = getattr(r, "scenario", self.names[0])
            u = r.unit
            rows.append(
                f'<tr data-scenario="{_e(scen)}" data-output="{_e(r.output)}">'
                f"<td>{_e(r.label)}<br><code class=\"small\">{_e(r.output)}</code></td>"
                f"{self._scenario_cell(scen)}"
                + _num(r.mean, format_value(r.mean, u), "mean", _se(r.mean_se, u))
                + _num(r.median, format_value(r.median, u), "median", _se(r.median_se, u))
                + _num(r.ci_low, format_value(r.ci_low, u), "ci_low", _se(r.ci_low_se, u))
                + _num(r.ci_high, format_value(r.ci_high, u), "ci_high", _se(r.ci_high_se, u))
                + _num(r.min, format_value(r.min, u), "min")
                + _num(r.max, format_value(r.max, u), "max") + "</tr>")
        notes = summary_notes(self.summary)
        extra = ("<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                 + "</ul>") if notes else ""
        return ("<p>Every output over all draws; ± is the Monte Carlo standard error. The same "
                "numbers are in <code>summary.csv</code> beside this page.</p>"
                + _table(head, rows) + extra)

    def comparison_section(self) -> str:
        c = self.comparison
        head = [("output", False), ("scenario", False), (f"median ({c.reference})", True),
                ("median", True), ("difference", True), ("se (common random numbers)", True),
                ("se if independent", True), ("difference / se", True)]
        table = c.table
        rank = {name: k for k, name in enumerate(
            [*(o for o in self.headline if o in set(table["output"])),
             *(o for o in table["output"].drop_duplicates() if o not in self.headline)])}
        table = table.assign(_rank=table["output"].map(rank)).sort_values("_rank", kind="stable")
        rows = []
        for r in table.itertuples():
            z = (math.nan if not r.difference_se >= 0 else
                 r.difference / r.difference_se if r.difference_se > 0 else math.inf)
            rows.append(
                f'<tr data-scenario="{_e(r.scenario)}" data-output="{_e(r.output)}">'
                f"<td>{_e(r.label)}<br><code class=\"small\">{_e(r.output)}</code></td>"
                f"<td><code>{_e(r.scenario)}</code></td>"
                + _num(r.reference_median, format_value(r.reference_median, r.unit),
                       "reference_median")
                + _num(r.median, format_value(r.median, r.unit), "median")
                + _num(r.difference, format_value(r.difference, r.unit), "difference")
                + _num(r.difference_se, format_value(r.difference_se, r.unit), "difference_se")
                + _num(r.independent_se, format_value(r.independent_se, r.unit),
                       "independent_se")
                + _num(z, f"{z:+.1f}" if math.isfinite(z) else ("n/a" if z != z else "exact"),
                       "z") + "</tr>")
        return (f"<p>Each scenario's median minus that of <code>{_e(c.reference)}</code>, all "
                f"drawn with seed {c.seed}: inputs with the same name get the very same draws "
                "(common random numbers), so the medians move together and their difference "
                f"is known better than two independent runs would allow. Its standard error "
                f"comes from {c.replicates} paired sub-runs of {c.replicate_draws:,} draws "
                "(each with a seed of its own, the same for every scenario): the spread of "
                "their differences, scaled to the full run's draws. The naive "
                "sqrt(se&#8321;&#178; + se&#8322;&#178;), which ignores the pairing, is shown "
                "beside it. Also in <code>comparison.csv</code>.</p>" + _table(head, rows))

    # -- charts

    def charts_section(self) -> str:
        by_output: dict[str, list[plot.Chart]] = {}
        for chart in self.charts:
            by_output.setdefault(chart.output, []).append(chart)
        sc = self.sims[0].scenario
        parts = []
        claimed = [o for o in by_output if o in self.headline]
        others = [o for o in by_output if o not in self.headline]
        for heading, names in (("Outputs with claims", claimed), ("Other outputs", others)):
            if not names:
                continue
            figures = []
            for name in names:
                label = sc.output(name).label
                for chart in by_output[name]:
                    what = "P(value > x)" if chart.kind == "exceedance" else "distribution"
                    figures.append(
                        f'<figure id="chart-{_e(chart.filename)}" data-output="{_e(name)}" '
                        f'data-kind="{_e(chart.kind)}">'
                        f"{_img(chart.data, f'{label}: {what}')}"
                        f"<figcaption>{_e(label)}: {_e(what)} (<code>{_e(name)}</code>)"
                        f"</figcaption></figure>")
            parts.append(f"<h3>{_e(heading)}</h3><div class=\"charts\">{''.join(figures)}</div>")
        overlay = (" Scenarios are overlaid, each in its own colour, its interval shaded "
                   "and its median dashed." if self.multi else "")
        return (f"<p>Each output's distribution over all draws ({100 * self.level:g}% interval "
                "shaded, median dashed), on a log axis where it spans orders of magnitude; "
                "every claim about the output is a labelled line with its percentile. Ratios "
                f"also get the exceedance curve P(value > x).{overlay}</p>" + "".join(parts))

    def tornado_section(self) -> str:
        if not self.tornados:
            return "<p>No tornado was asked for.</p>"
        parts = []
        for output, results in self.tornados:
            figures = []
            for name, tor in zip(self.names, results, strict=True):
                if isinstance(tor, str):
                    figures.append(f"<p>{_e(name)}: no tornado ({_e(tor)}).</p>")
                    continue
                fig = plot.figure_bytes(plot.tornado_figure(tor), "png", tight=True)
                notes = "".join(f"<li>{_e(n)}</li>" for n in tor.notes)
                top = ", ".join(tor.ranking()[:3])
                figures.append(
                    f'<figure data-output="{_e(output)}" data-kind="tornado">'
                    f"{_img(fig, f'Tornado of {output} ({name})')}"
                    f"<figcaption>{_e(name)}: inputs ranked by their {_e(tor.methods[0])} "
                    f"effect on <code>{_e(output)}</code>; most influential: {_e(top)}."
                    f"</figcaption>{f'<ul class=notes>{notes}</ul>' if notes else ''}"
                    "</figure>")
            parts.append(f"<h3><code>{_e(output)}</code></h3>"
                         f"<div class=\"tornados\">{''.join(figures)}</div>")
        return ("<p>Which inputs move each claimed output most: the output's mean in each "
                "of 10 equal-probability bins of an input; each bar spans the lowest to the "
                "highest of those means, around the overall mean, red at the end of the "
                "input's top bin and blue at its bottom bin (so a red bar on the left: the "
                "output falls as the input rises). Same kind of run, same seed. "
                "<code>mcsim sensitivity</code> gives every method's table.</p>"
                + "".join(parts))

    def sweep_section(self) -> str:
        parts = []
        for sw, png in self.sweeps:
            axis, output = sw.axes[0], sw.outputs[0]
            unit = sw.scenario.output(output).unit
            claims = [c.name for c in sw.scenario.claims if c.output == output]
            head = [(axis.input, True), ("median", True),
                    (f"{100 * sw.ci:g}% interval", True),
                    *((f"P(> {c})", True) for c in claims)]
            rows = []
            for pt in sw.points:
                st = pt.summary.set_index("output").loc[output]
                exceed = pt.claims.set_index("claim")
                rows.append(
                    f"<tr><td class=num>{pt.moves[0][2]:,.6g}</td>"
                    + _num(st["median"], format_value(st["median"], unit), "median",
                           _se(st["median_se"], unit))
                    + f"<td class=num>{_e(format_value(st['ci_low'], unit))} to "
                    f"{_e(format_value(st['ci_high'], unit))}</td>"
                    + "".join("<td class=num>" + _e(format_share(
                        exceed.loc[c, "p_exceed"], exceed.loc[c, "p_exceed_low"],
                        exceed.loc[c, "p_exceed_high"])) + "</td>"
                              for c in claims) + "</tr>")
            parts.append(
                f"<h3><code>{_e(axis.input)}</code> held at each value</h3>"
                f"<figure data-kind=\"sweep\">{_img(png, f'Sweep of {axis.input}')}"
                f"<figcaption><code>{_e(output)}</code> as <code>{_e(axis.input)}</code> "
                f"is held at each value ({sw.draws:,} draws per point, seed {sw.seed}); "
                "its other outputs are in <code>mcsim sweep</code>'s CSV.</figcaption>"
                "</figure>" + _table(head, rows))
        return ("<p>The first scenario run again with one input held at each value and "
                "every other input drawn exactly as before (the same seed: common random "
                "numbers), so the differences between rows are the model's, not noise. "
                "<code>mcsim solve</code> finds the value at which a claim becomes the "
                "median.</p>" + "".join(parts))

    # -- inputs

    def inputs_section(self) -> str:
        ref = {i.name: i for i in self.sims[0].scenario.inputs}
        parts = []
        for k, sim in enumerate(self.sims):
            sc = sim.scenario
            rows = []
            for inp in sc.inputs:
                q = np.asarray(inp.prior.ppf([0.05, 0.5, 0.95]), dtype=float)
                changed = k > 0 and (inp.name not in ref or ref[inp.name].prior != inp.prior)
                note = f'<div class="small">{_e(inp.note)}</div>' if inp.note else ""
                rows.append(
                    f'<tr data-input="{_e(inp.name)}"{" class=changed" if changed else ""}>'
                    f"<td><code>{_e(inp.name)}</code></td><td>{_e(inp.unit)}</td>"
                    f"<td>{_e(prior_text(inp.prior, inp.unit))}</td>"
                    + "".join(_num(v, format_compact(v, inp.unit), s)
                              for v, s in zip(q, ("p5", "p50", "p95"), strict=True))
                    + f"<td>{_cited(inp.source)}{note}</td></tr>")
            head = [("input", False), ("unit", False), ("prior", False), ("p5", True),
                    ("p50", True), ("p95", True), ("source and note", False)]
            changed_note = (f" Inputs whose prior differs from <code>{_e(self.names[0])}</code> "
                            "are marked on the left." if k > 0 else "")
            title = f"<h3><code>{_e(sc.name)}</code></h3>" if self.multi else ""
            parts.append(f"{title}<p class=\"small\">{len(sc.inputs)} inputs.{changed_note}"
                         f"</p>{_table(head, rows)}")
        return "".join(parts)

    def sources_section(self) -> str:
        entries = {s.key: s for sim in self.sims for s in sim.scenario.bibliography}
        if not entries:
            return "<p>The scenario cites no bibliography entries ([@key]).</p>"
        items = []
        for s in entries.values():
            who = f"{s.authors}, {s.publisher}" if s.authors else s.publisher
            figures = "".join(f"<li>{_e(f.what)}: {_e(f.value)} <em>({_e(f.status)})</em></li>"
                              for f in s.figures)
            items.append(f'<li id="src-{_e(s.key)}"><code>[@{_e(s.key)}]</code> {_e(who)} '
                         f"({_e(s.date)}). <cite>{_e(s.title)}</cite>. "
                         f'<a href="{_e(s.url)}">{_e(s.url)}</a>'
                         + (f'<div class="small">Read: {_e(s.access)}.</div>' if s.access else "")
                         + (f'<ul class="small">{figures}</ul>' if figures else "") + "</li>")
        return ("<p>Every source the inputs and claims cite, with the figures taken from it and "
                "how far each was checked: <em>verified</em> in the primary text, "
                "<em>secondary</em> (through a third party), <em>derived</em> (arithmetic on "
                "sourced numbers), <em>unverified</em>.</p>"
                f"<ol class=\"sources\">{''.join(items)}</ol>")

    def method_section(self) -> str:
        items = [
            "Every input is drawn from its prior; derived quantities and outputs are "
            "computed per draw. Quantiles (median, interval, percentiles of claims) come from "
            "a streamed log-octave histogram (1,024 bins per octave), whose error is far below "
            "the Monte Carlo error; no draws are stored.",
            "± is a Monte Carlo standard error: for the mean sd/sqrt(n); for quantiles from "
            "order statistics (distribution-free); for a claim's percentile binomial. More "
            "draws shrink them.",
            "A claim's percentile is the share of draws at or below it; P(true > claimed) is "
            "the rest. A claim near the 50th percentile is the model's central estimate. "
            "Where no draw (or every draw) exceeds a claim, or too few to show, the table "
            "gives the 95% bound the draws allow (e.g. <0.1%; about 3.7/n for n draws), "
            "never 0% or 100%.",
            "The charts show the share of draws in each of the bins across the axis; the "
            "axis spans the 0.1th to the 99.9th percentile and every claim.",
        ]
        if self.multi:
            items.append("Scenarios share one seed, and every input's stream depends only on "
                         "the seed and the input's name, so an input two scenarios share is "
                         "drawn identically in both (common random numbers).")
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"
