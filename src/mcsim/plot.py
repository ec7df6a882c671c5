"""Charts (matplotlib is an optional extra: ``pip install "mcsim[plot]"``), drawn headless
(Agg) and written atomically.

- ``distribution_figure``: an output's distribution, from the streamed histogram (no stored
  draws), on a log axis when it spans orders of magnitude; the credible interval shaded, the
  median marked, every claim on the output a labelled line with its percentile. Several
  simulations (scenarios drawn with the same seed) are overlaid on one axis.
- ``exceedance_figure``: P(output > x), with the claims and their exceedance probabilities.
- ``tornado_figure``: the sensitivity tornado of one output.
- ``sweep_figure``: a sweep's median and band against one input, or a P(exceed) heatmap.
- ``output_charts``: every output's charts as image bytes (for ``run --plot`` and the report).
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import McsimError
from .export import write_file
from .reduce import Exceedance, check_level, exceedance
from .units import format_compact, format_percentile, format_share, format_value, is_ratio

if TYPE_CHECKING:
    from .engine import Simulation
    from .histogram import Histogram
    from .sensitivity import Tornado
    from .sweep import Sweep

FORMATS = {".png", ".svg", ".pdf"}
FIGSIZE = (8.0, 4.5)  # inches; at DPI this is a 960 x 540 pixel PNG
DPI = 120
TAIL = 0.001  # the axis spans the 0.1th to the 99.9th percentile, and every claim
LOG_SPAN = 20.0  # ... on a log scale when its ends are more than this factor apart
SERIES_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f", "#17becf")
CLAIM_COLOURS = ("#d62728", "#ff7f0e", "#e377c2", "#bcbd22", "#000000", "#8c564b")
_STYLE = {"font.size": 9, "axes.titlesize": 11, "axes.spines.top": False,
          "axes.spines.right": False, "svg.hashsalt": "mcsim",
          "text.parse_math": False}  # "$1M to $2M" is money, not mathtext
PAD = 0.02  # margin at each end of the x axis, as a share of its length


def _pyplot():
    if "matplotlib" not in sys.modules and "MPLCONFIGDIR" not in os.environ \
            and not Path(os.path.expanduser("~")).is_dir():
        return _pyplot_without_home()
    try:
        import matplotlib
    except ImportError:
        raise McsimError('charts need matplotlib: pip install "mcsim[plot]" '
                         "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pyplot_without_home():
    """pyplot, where matplotlib would create the missing home folder for its settings and
    font cache: it reads them from a temporary folder instead, removed once pyplot is loaded
    (later, matplotlib writes there only a font cache it can do without)."""
    folder = tempfile.mkdtemp(prefix="mcsim-matplotlib-")
    os.environ["MPLCONFIGDIR"] = folder
    try:
        return _pyplot()
    finally:
        del os.environ["MPLCONFIGDIR"]
        shutil.rmtree(folder, ignore_errors=True)


def require_matplotlib() -> None:
    """Fail early (a one-line ``McsimError`` saying what to install) when charts cannot be
    drawn."""
    _pyplot()


def check_plot_path(path: str | Path) -> None:
    """Fail early on a file name no chart can be written to, or a missing matplotlib."""
    if Path(path).suffix.lower() not in FORMATS:
        raise McsimError(f"--plot: {Path(path).name}: use a .png, .svg or .pdf file name")
    _pyplot()


def _save(fig, path: Path, tight: bool = True) -> Path:
    check_plot_path(path)
    return write_file(path, figure_bytes(fig, path.suffix[1:].lower(), tight), "--plot")


def _save_options(fmt: str, tight: bool) -> dict:
    metadata = {"Date": None} if fmt in ("svg", "pdf") else {}  # same bytes for the same run
    options = {"format": fmt, "dpi": DPI if not tight else 150, "metadata": metadata}
    return {**options, "bbox_inches": "tight"} if tight else options


def figure_bytes(fig, fmt: str = "png", tight: bool = False) -> bytes:
    """The figure as an image file's bytes (png, svg or pdf); the figure is closed."""
    plt = _pyplot()
    if f".{fmt}" not in FORMATS:
        raise McsimError(f"--plot-format: {fmt!r}: use png, svg or pdf")
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, **_save_options(fmt, tight))
    finally:
        plt.close(fig)
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG (from its header), else (0, 0)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return 0, 0
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# ---------------------------------------------------------------- what the charts show


@dataclass(frozen=True)
class Axis:
    """The x range of a chart, and whether it is drawn on a log scale."""

    lo: float
    hi: float
    log: bool

    def grid(self, n: int) -> np.ndarray:
        """``n`` points from ``lo`` to ``hi``, evenly spaced as the axis shows them."""
        return np.geomspace(self.lo, self.hi, n) if self.log else np.linspace(self.lo, self.hi, n)


def choose_axis(histograms: Sequence[Histogram], marks: Sequence[float] = ()) -> Axis:
    """An axis over the 0.1th to 99.9th percentile of every histogram and every mark (claim);
    log when all of it is positive and its ends are more than ``LOG_SPAN`` apart."""
    ends = [h.quantile(np.array([TAIL, 1 - TAIL]))[0] for h in histograms if h.total]
    values = np.concatenate([*ends, np.asarray(marks, dtype=float)]) if ends else np.asarray(
        marks, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Axis(0.0, 1.0, False)
    lo, hi = float(values.min()), float(values.max())
    if lo > 0 and hi / lo > LOG_SPAN:
        pad = (hi / lo) ** PAD
        return Axis(lo / pad, hi * pad, True)
    pad = (hi - lo) * PAD or abs(lo) * 0.05 or 1.0  # a constant: a window around it
    return Axis(lo - pad, hi + pad, False)


def binned_share(histogram: Histogram, edges: np.ndarray) -> np.ndarray:
    """The share of all finite draws in each interval between consecutive ``edges``."""
    return np.diff(histogram.cdf_at(edges))


def plot_bins(draws: int) -> int:
    """Bins across a chart: enough to show the shape, few enough not to show the noise."""
    return int(np.clip(math.sqrt(max(draws, 1)) / 2, 30, 120))


@dataclass(frozen=True)
class Series:
    """One simulation's view of one output, as a chart draws it."""

    name: str  # the scenario
    histogram: Histogram
    median: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Mark:
    """A claim on the output: its value and, per series, how often the draws exceed it."""

    name: str
    value: float
    above: tuple[Exceedance, ...]

    @property
    def cdf(self) -> tuple[float, ...]:
        """Per series, the share of draws at or below the claim."""
        return tuple(a.cdf for a in self.above)


def _series(sims: Sequence[Simulation], output: str,
            level: float) -> tuple[list[Series], list[Mark]]:
    series = []
    for sim in sims:
        st = sim.outputs[output]
        q = st.histogram.quantile(np.array([0.5, (1 - level) / 2, (1 + level) / 2]))[0]
        series.append(Series(sim.scenario.name, st.histogram, float(q[0]), float(q[1]),
                             float(q[2])))
    holders: dict[tuple[str, float], list[str]] = {}  # (claim, value) -> scenarios
    for sim in sims:
        for claim in sim.scenario.claims:
            if claim.output == output:
                holders.setdefault((claim.name, claim.value), []).append(sim.scenario.name)
    names = [name for name, _ in holders]
    marks = [Mark(name if names.count(name) == 1 else f"{name} ({', '.join(who)})", v,
                  tuple(exceedance(sim, output, v) for sim in sims))
             for (name, v), who in holders.items()]
    return series, sorted(marks, key=lambda m: m.value)


# ---------------------------------------------------------------- drawing


def tick_label(v: float, unit: str) -> str:
    """An axis tick: the value in its unit where that is short, without trailing zeros."""
    text = format_compact(v, unit)
    return re.sub(r"\.(\d*?)0+(?=\D*$)", lambda m: f".{m[1]}" if m[1] else "", text)


def _subtitle(sims: Sequence[Simulation], output: str) -> str:
    names = " vs ".join(s.scenario.name for s in sims)
    crn = "; same seed (common random numbers)" if len(sims) > 1 else ""
    text = f"{names}: {sims[0].draws:,} draws, seed {sims[0].seed}{crn}"
    dropped = sum(s.outputs[output].nonfinite for s in sims)
    return text + (f"; {dropped:,} non-finite draws left out" if dropped else "")


def _decorate(ax, sims: Sequence[Simulation], output: str, axis: Axis, ylabel: str) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    out = sims[0].scenario.output(output)
    ax.figure.suptitle("\n".join(textwrap.wrap(out.label, 90)), x=0.01, ha="left",
                       fontsize=11)
    ax.set_title(_subtitle(sims, output), loc="left", fontsize=8, color="#555555")
    ax.set_xlim(axis.lo, axis.hi)
    ticks = FuncFormatter(lambda v, _: tick_label(v, out.unit))
    if axis.log:
        ax.set_xscale("log")
        decades = math.log10(axis.hi / axis.lo)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 4 else (1.0,)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(7))
    ax.xaxis.set_major_formatter(ticks)
    unit = f" [{out.unit}]" if out.unit else ""
    ax.set_xlabel(f"{output}{unit}" + (", log scale" if axis.log else ""))
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)


def _per_series(series: Sequence[Series], values: list[str]) -> str:
    """One value, or each scenario's value named, a line each (labels run along the line,
    and one long line would run off the chart)."""
    if len(series) == 1:
        return values[0]
    return "".join(f"\n{s.name} {v}" for s, v in zip(series, values, strict=True))


def _claim_lines(ax, marks: Sequence[Mark], unit: str, axis: Axis, describe) -> None:
    """Each claim a vertical line, labelled along it (sides alternate where two are close)."""
    def position(v: float) -> float:
        if axis.log:
            return math.log(v / axis.lo) / math.log(axis.hi / axis.lo)
        return (v - axis.lo) / (axis.hi - axis.lo)

    shown = [m for m in marks if not axis.log or m.value > 0]
    where = [position(m.value) for m in shown]
    for k, m in enumerate(shown):
        colour = CLAIM_COLOURS[k % len(CLAIM_COLOURS)]
        ax.axvline(m.value, color=colour, linewidth=1.6, zorder=4)
        close_next = k + 1 < len(shown) and where[k + 1] - where[k] < 0.04
        right = where[k] < 0.97 and not close_next
        ax.text(m.value, 0.98, f" {m.name} = {format_value(m.value, unit)}: {describe(m)} ",
                transform=ax.get_xaxis_transform(), rotation=90, va="top",
                ha="left" if right else "right", fontsize=8, color=colour, zorder=5,
                bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})


def _figure(plt):
    return plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")


@dataclass(frozen=True)
class _View:
    """What a chart of one output in several simulations draws on."""

    level: float
    unit: str
    series: list[Series]
    marks: list[Mark]
    axis: Axis


def _view(sims: Sequence[Simulation], output: str, ci: float) -> _View:
    level = check_level(ci)
    series, marks = _series(sims, output, level)
    axis = choose_axis([s.histogram for s in series], [m.value for m in marks])
    return _View(level, sims[0].scenario.output(output).unit, series, marks, axis)


def distribution_figure(sims: Sequence[Simulation], output: str, ci: float = 0.90):
    """The distribution of ``output`` in each simulation (overlaid), as a matplotlib Figure."""
    plt = _pyplot()
    v = _view(sims, output, ci)
    level, unit, series, marks, axis = v.level, v.unit, v.series, v.marks, v.axis
    edges = axis.grid(plot_bins(sims[0].draws) + 1)
    single = len(series) == 1
    with plt.rc_context(_STYLE):
        fig, ax = _figure(plt)
        top = 0.0
        for k, s in enumerate(series):
            colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
            if s.histogram.total == 0:
                continue
            share = 100 * binned_share(s.histogram, edges)
            top = max(top, float(share.max()))
            interval = f"{format_value(s.ci_low, unit)} to {format_value(s.ci_high, unit)}"
            if single:
                ax.stairs(share, edges, fill=True, color="#dddddd", zorder=1)
            ax.stairs(share, np.clip(edges, s.ci_low, s.ci_high), fill=True, color=colour,
                      alpha=0.45 if single else 0.18, zorder=2,
                      label=f"{100 * level:g}% interval: {interval}" if single else None)
            ax.stairs(share, edges, color=colour, linewidth=1.3, zorder=3,
                      label=None if single else f"{s.name}: median "
                      f"{format_value(s.median, unit)}; {100 * level:g}% interval {interval}")
            at = int(np.clip(np.searchsorted(edges, s.median) - 1, 0, len(share) - 1))
            ax.vlines(s.median, 0, share[at], colors="black" if single else colour,
                      linestyles="--", linewidth=1.4, zorder=4,
                      label=f"median: {format_value(s.median, unit)}" if single else None)
        if top == 0.0:
            ax.text(0.5, 0.5, "no finite draws", transform=ax.transAxes, ha="center")
        ax.set_ylim(0, (top or 1.0) * 1.08)

        def describe(m: Mark) -> str:
            return "percentile " + _per_series(
                series, [format_percentile(a.p, a.low, a.high) for a in m.above])

        _claim_lines(ax, marks, unit, axis, describe)
        _decorate(ax, sims, output, axis, f"% of draws per bin ({len(edges) - 1} bins)")
        if ax.get_legend_handles_labels()[0]:  # none when no draw is finite
            fig.legend(loc="outside lower left", ncols=1 if not single else 2, fontsize=8,
                       frameon=False)
    return fig


def exceedance_figure(sims: Sequence[Simulation], output: str, ci: float = 0.90):
    """P(``output`` > x) in each simulation, with the claims marked, as a matplotlib Figure."""
    plt = _pyplot()
    v = _view(sims, output, ci)
    unit, series, marks, axis = v.unit, v.series, v.marks, v.axis
    xs = axis.grid(400)
    with plt.rc_context(_STYLE):
        fig, ax = _figure(plt)
        for k, s in enumerate(series):
            colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
            ax.plot(xs, 100 * (1 - s.histogram.cdf_at(xs)), color=colour, linewidth=1.6,
                    zorder=3, label=f"{s.name}: median {format_value(s.median, unit)}")
            for m in marks:
                if not axis.log or m.value > 0:
                    ax.plot(m.value, 100 * (1 - m.cdf[k]), "o", color=colour, zorder=6,
                            markeredgecolor="white", markersize=6)
        ax.set_ylim(0, 100)
        ax.set_yticks([0, 10, 25, 50, 75, 90, 100])

        def describe(m: Mark) -> str:
            return "P(>) " + _per_series(series, [format_share(a.p, a.low, a.high)
                                                  for a in m.above])

        _claim_lines(ax, marks, unit, axis, describe)
        _decorate(ax, sims, output, axis, "P(value > x), %")
        ax.grid(True, axis="x", which="major", color="#eeeeee", linewidth=0.6)
        fig.legend(loc="outside lower left", ncols=2, fontsize=8, frameon=False)
    return fig


def tornado_figure(tor: Tornado, top: int = 15):
    """Bars for the first method, inputs ranked top-down (negligible ones left out): low-high
    bars around the base case (swing) or the mean (binned), else the value with 2 se."""
    plt = _pyplot()
    method = tor.methods[0]
    rows = tor.table[(tor.table["method"] == method) & ~tor.table["negligible"]]
    rows = rows.sort_values("rank").head(top)
    rows = rows.iloc[::-1]
    height = 0.8 + 0.35 * len(rows)
    fig, ax = plt.subplots(figsize=(8, height))
    y = np.arange(len(rows))
    if method in ("binned", "swing"):
        ref = tor.baseline if method == "swing" else tor.mean
        low = rows["low"].to_numpy()
        high = rows["high"].to_numpy()
        if method == "binned":  # low/high are the smallest/largest bin means: put each at
            # the end of the input it belongs to (value < 0: the output falls as it rises)
            falls = rows["value"].to_numpy() < 0
            low, high = np.where(falls, high, low), np.where(falls, low, high)
        ax.barh(y, high - ref, left=ref, color="#c0504d",
                label="input high (P90, or its top bin)")
        ax.barh(y, low - ref, left=ref, color="#4f81bd",
                label="input low (P10, or its bottom bin)")
        ax.axvline(ref, color="black", linewidth=0.8)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel(f"{tor.output} ({tor.unit or 'value'}); line: "
                      f"{'base case' if method == 'swing' else 'mean'} "
                      f"{format_value(ref, tor.unit)}")
    else:
        values = rows["value"].to_numpy()
        ax.barh(y, values, xerr=2 * rows["se"].to_numpy(),
                color=np.where(values >= 0, "#c0504d", "#4f81bd"))
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{method} ({tor.output})")
    ax.set_yticks(y, rows["input"].tolist())
    ax.set_title(f"Tornado: {tor.output} ({tor.scenario}) by {method} ({tor.draws:,} draws, "
                 f"seed {tor.seed})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def tornado_chart(tor: Tornado, path: str | Path, top: int = 15) -> Path:
    """Draw ``tornado_figure`` to ``path`` (.png, .svg or .pdf), atomically."""
    plt = _pyplot()
    fig = tornado_figure(tor, top)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


# ---------------------------------------------------------------- sweeps


def sweep_figure(sw: Sweep, output: str | None = None, claim: str | None = None):
    """A sweep's chart. One input: ``output``'s median against the input, its credible
    interval as a band, the mean dashed and the claims on it as lines. Two inputs: a heatmap
    of P(true > claimed) of ``claim`` (default: the first on the output), 50% contoured; of
    the median when the output has no claim."""
    plt = _pyplot()
    output = output or sw.outputs[0]
    out = sw.scenario.output(output)
    frame = sw.to_frame()
    rows = frame[frame["output"] == output]
    axes = sw.axes
    title = f"{sw.scenario.name}: {sw.draws:,} draws per point, seed {sw.seed}"
    with plt.rc_context(_STYLE):
        fig, ax = _figure(plt)
        if len(axes) == 1:
            x = np.asarray(axes[0].values)

            def stat(name: str) -> np.ndarray:
                return rows[rows["statistic"] == name]["value"].to_numpy()

            ax.fill_between(x, stat("ci_low"), stat("ci_high"), color=SERIES_COLOURS[0],
                            alpha=0.2, label=f"{100 * sw.ci:g}% interval")
            ax.plot(x, stat("median"), color=SERIES_COLOURS[0], marker="o", markersize=3,
                    label="median")
            ax.plot(x, stat("mean"), color=SERIES_COLOURS[0], linestyle="--", linewidth=0.8,
                    label="mean")
            for k, c in enumerate(c for c in sw.scenario.claims if c.output == output):
                ax.axhline(c.value, color=CLAIM_COLOURS[k % len(CLAIM_COLOURS)],
                           linestyle=":", linewidth=1, label=f"{c.name} ({c.value:g})")
            if axes[0].log:
                ax.set_xscale("log")
            ax.set_xlabel(axes[0].column)
            ax.set_ylabel(f"{output} ({out.unit})" if out.unit else output)
            ax.legend(fontsize=8)
            ax.set_title(f"{out.label}\n{title}", fontsize=10)
        else:
            names = [c.name for c in sw.scenario.claims if c.output == output]
            name = claim or (names[0] if names else None)
            pick = (rows[(rows["claim"] == name) & (rows["statistic"] == "p_exceed")] if name
                    else rows[(rows["claim"] == "") & (rows["statistic"] == "median")])
            grid = pick["value"].to_numpy().reshape(len(axes[0].values), len(axes[1].values))
            x, y = np.asarray(axes[0].values), np.asarray(axes[1].values)
            mesh = ax.pcolormesh(x, y, grid.T, shading="nearest", cmap="viridis",
                                 **({"vmin": 0, "vmax": 1} if name else {}))
            if name and min(grid.shape) > 1:
                ax.contour(x, y, grid.T, levels=[0.5], colors="white", linewidths=1)
            fig.colorbar(mesh, ax=ax, label=f"P({output} > {name})" if name
                         else f"median of {output}")
            for axis, set_scale in ((axes[0], ax.set_xscale), (axes[1], ax.set_yscale)):
                if axis.log:
                    set_scale("log")
            ax.set_xlabel(axes[0].column)
            ax.set_ylabel(axes[1].column)
            what = f"P(true > claimed) of {name}; white: 50%" if name else f"{out.label}: median"
            ax.set_title(f"{what}\n{title}", fontsize=10)
    return fig


# ---------------------------------------------------------------- every output's charts


@dataclass(frozen=True)
class Chart:
    """One chart's image: ``kind`` is distribution, exceedance or tornado."""

    output: str
    kind: str
    format: str
    data: bytes

    @property
    def filename(self) -> str:
        suffix = "" if self.kind == "distribution" else f"-{self.kind}"
        return f"{self.output}{suffix}.{self.format}"


def output_charts(sims: Sequence[Simulation], ci: float = 0.90, fmt: str = "png",
                  outputs: Sequence[str] | None = None) -> list[Chart]:
    """The distribution chart of every output common to ``sims`` (or of ``outputs``), and the
    exceedance curve of every ratio (unit "x")."""
    from .compare import common_outputs

    charts = []
    for name in common_outputs(sims) if outputs is None else outputs:
        charts.append(Chart(name, "distribution", fmt,
                            figure_bytes(distribution_figure(sims, name, ci), fmt)))
        if is_ratio(sims[0].scenario.output(name).unit):
            charts.append(Chart(name, "exceedance", fmt,
                                figure_bytes(exceedance_figure(sims, name, ci), fmt)))
    return charts
