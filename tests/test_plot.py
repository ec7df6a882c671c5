"""Charts: what they show equals the numbers (axis, bins, claims and their percentiles), the
images are valid files of the expected size, drawing is headless, and `run --plot` writes
them with the results."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from builders import make_scenario, run_main
from mcsim import plot
from mcsim.cli import cli
from mcsim.engine import sample, simulate
from mcsim.sensitivity import tornado
from mcsim.units import format_percent

mpl_image = pytest.importorskip("matplotlib.image")
SEED = 11
N = 100_000
PNG = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = (round(v * plot.DPI) for v in plot.FIGSIZE)
CLAIM_RED = np.array([0xD6, 0x27, 0x28]) / 255  # CLAIM_COLOURS[0], the first claim's line


def _scenario(shift: float = 0.0):
    return make_scenario(
        inputs={"gpus": {"p5": 8_000, "p95": 12_000},
                "price": {"dist": "lognormal", "mu": 10.0 + shift, "sigma": 0.2},
                "spread": {"dist": "lognormal", "mu": 0.0, "sigma": 1.5},
                "delta": {"dist": "normal", "loc": 0.0, "scale": 1.0}},
        outputs={"capex": {"formula": "gpus * price", "unit": "USD", "label": "Capex"},
                 "ratio": {"formula": "gpus * price / 6e6", "unit": "x", "label": "Ratio"},
                 "wide": {"formula": "spread * 1e6", "unit": "USD", "label": "Wide"},
                 "signed": {"formula": "delta", "unit": "", "label": "Signed"}},
        claims={"press": {"output": "ratio", "value": 40.0, "source": "a paper"},
                "low": {"output": "ratio", "value": 30.0, "source": "a blog"},
                "big": {"output": "capex", "value": 3e8, "source": "an analyst"}})


@pytest.fixture(scope="module")
def sim():
    return simulate(_scenario(), N, seed=SEED)


@pytest.fixture(scope="module")
def pair(sim):
    shifted = dataclasses.replace(_scenario(shift=0.3), name="shifted")
    return [sim, simulate(shifted, N, seed=SEED)]


# ---------------------------------------------------------------- what the charts show


def test_axis_is_log_only_where_the_range_spans_orders_of_magnitude(sim):
    hist = {name: sim.outputs[name].histogram for name in sim.outputs}
    assert plot.choose_axis([hist["wide"]]).log  # lognormal, sigma 1.5: ~4 decades
    assert not plot.choose_axis([hist["capex"]]).log  # a factor of ~2.5
    assert not plot.choose_axis([hist["signed"]]).log  # crosses zero
    axis = plot.choose_axis([hist["capex"]], [3e9])  # a far claim widens the axis...
    assert axis.log and axis.hi > 3e9  # ... and can make it a log axis
    q = hist["capex"].quantile([plot.TAIL, 1 - plot.TAIL])[0]
    plain = plot.choose_axis([hist["capex"]])
    assert plain.lo < q[0] < q[1] < plain.hi  # the 0.1th to 99.9th percentile, padded
    assert (q[0] - plain.lo) / (plain.hi - plain.lo) == pytest.approx(plot.PAD, rel=0.1)


def test_constant_output_gets_a_window_around_it():
    const = simulate(make_scenario({"c": {"dist": "constant", "value": 5.0}},
                                   {"out": "c"}), 1000, seed=1)
    axis = plot.choose_axis([const.outputs["out"].histogram])
    assert axis.lo < 5.0 < axis.hi and not axis.log
    plot.figure_bytes(plot.distribution_figure([const], "out"))  # draws without error


def test_binned_shares_are_the_shares_of_the_draws_in_each_bin(sim):
    """Bins from the streamed histogram agree with numpy's histogram of the same draws."""
    draws = sample(sim.scenario, N, seed=SEED, names=("wide", "capex"))
    for name in ("wide", "capex"):
        hist = sim.outputs[name].histogram
        axis = plot.choose_axis([hist])
        edges = axis.grid(plot.plot_bins(N) + 1)
        share = plot.binned_share(hist, edges)
        exact = np.histogram(draws[name].to_numpy(), bins=edges)[0] / N
        # only a draw within a fine bin (1/1024 of an octave) of a plot edge can differ
        np.testing.assert_allclose(share, exact, atol=5e-4)
        assert share.sum() == pytest.approx(1 - 2 * plot.TAIL, abs=2e-3)
        if axis.log:
            np.testing.assert_allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))


def _claim_texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_distribution_marks_median_interval_and_each_claim_with_its_percentile(sim):
    fig = plot.distribution_figure([sim], "ratio", ci=80)
    ax = fig.axes[0]
    hist = sim.outputs["ratio"].histogram
    texts = _claim_texts(fig)
    for name, value in (("press", 40.0), ("low", 30.0)):
        label = next(t for t in texts if t.strip().startswith(f"{name} = "))
        assert f"{value:.1f}x" in label
        assert f"percentile {format_percent(hist.cdf(value))}" in label
        assert any(np.allclose(line.get_xdata(), [value, value]) for line in ax.lines)
    row = sim.summary(0.8).set_index("output").loc["ratio"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(f"80% interval: {row['ci_low']:.1f}x to {row['ci_high']:.1f}x" in t
               for t in legend), legend
    assert any(f"median: {row['median']:.1f}x" in t for t in legend), legend
    assert ax.get_xscale() == "linear"
    assert "ratio [x]" in ax.get_xlabel()
    plot.figure_bytes(fig)


def test_a_claim_beyond_every_draw_is_labelled_with_its_bound_not_as_certain():
    sc = make_scenario({"u": {"dist": "uniform", "min": 1, "max": 2}},
                       {"y": {"formula": "u", "unit": "x"}},
                       claims={"far": {"output": "y", "value": 3.0, "source": "s"}})
    one = simulate(sc, N, seed=SEED)
    for fig, text in ((plot.distribution_figure([one], "y"), "percentile >99.9%"),
                      (plot.exceedance_figure([one], "y"), "P(>) <0.1%")):
        label = next(t for t in _claim_texts(fig) if t.strip().startswith("far = "))
        assert text in label and "100.0%" not in label and "0.0%" not in label, label
        plot.figure_bytes(fig)


def test_overlay_has_one_series_per_scenario_and_each_claims_percentiles(pair):
    fig = plot.distribution_figure(pair, "ratio")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == 2 and all(t.startswith(f"{s.scenario.name}: median") for s, t in
                                    zip(pair, legend, strict=True))
    label = next(t for t in _claim_texts(fig) if t.strip().startswith("press = "))
    cdfs = [f"{s.scenario.name} {format_percent(s.outputs['ratio'].histogram.cdf(40.0))}"
            for s in pair]
    assert "\n".join(cdfs) in label
    assert "shifted" in legend[1]
    assert "common random numbers" in fig.axes[0].get_title(loc="left")
    plot.figure_bytes(fig)


def test_exceedance_curve_is_one_minus_the_cdf_and_marks_the_claims(sim):
    fig = plot.exceedance_figure([sim], "ratio")
    ax = fig.axes[0]
    hist = sim.outputs["ratio"].histogram
    curve = ax.lines[0]
    x, y = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(y, 100 * (1 - hist.cdf_at(x)))
    assert np.all(np.diff(y) <= 1e-12)  # never increases
    dots = {float(line.get_xdata()[0]): float(line.get_ydata()[0]) for line in ax.lines[1:]
            if line.get_marker() == "o"}
    for value in (30.0, 40.0):
        assert dots[value] == pytest.approx(100 * (1 - hist.cdf(value)))
    label = next(t for t in _claim_texts(fig) if t.strip().startswith("press = "))
    assert f"P(>) {format_percent(1 - hist.cdf(40.0))}" in label
    plot.figure_bytes(fig)


def test_log_axis_chart_has_readable_ticks(sim):
    fig = plot.distribution_figure([sim], "wide")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "log scale" in ax.get_xlabel()
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(ticks) >= 4 and all(t.startswith("$") for t in ticks), ticks
    plot.figure_bytes(fig)


def test_tick_labels_drop_trailing_zeros():
    assert plot.tick_label(240, "x") == "240x"
    assert plot.tick_label(2e9, "USD") == "$2B"
    assert plot.tick_label(1.5e9, "USD") == "$1.5B"
    assert plot.tick_label(5e8, "USD/yr") == "$500M/yr"
    assert plot.tick_label(1.05, "x") == "1.05x"


# ---------------------------------------------------------------- image files


def test_png_svg_and_pdf_are_valid_images_of_the_expected_size(sim):
    charts = {c.filename: c for c in plot.output_charts([sim])}
    assert sorted(charts) == ["capex.png", "ratio-exceedance.png", "ratio.png", "signed.png",
                              "wide.png"]  # exceedance curves for the ratio only
    for chart in charts.values():
        assert chart.data[:8] == PNG and len(chart.data) > 10_000
        assert plot.image_size(chart.data) == (WIDTH, HEIGHT)
        pixels = mpl_image.imread(io.BytesIO(chart.data))
        assert pixels.shape[:2] == (HEIGHT, WIDTH) and pixels[..., :3].std() > 0.05
    pixels = mpl_image.imread(io.BytesIO(charts["ratio.png"].data))[..., :3]
    red = np.all(np.abs(pixels - CLAIM_RED) < 0.06, axis=-1)
    assert red.sum() > HEIGHT // 2  # the first claim's line runs the height of the plot

    (svg,) = plot.output_charts([sim], fmt="svg", outputs=["capex"])
    root = ET.fromstring(svg.data)
    assert root.tag.endswith("svg")
    assert root.get("width") == f"{plot.FIGSIZE[0] * 72:g}pt"
    assert root.get("height") == f"{plot.FIGSIZE[1] * 72:g}pt"
    (pdf,) = plot.output_charts([sim], fmt="pdf", outputs=["capex"])
    assert pdf.data.startswith(b"%PDF") and pdf.data.rstrip().endswith(b"%%EOF")


def test_charts_are_drawn_headless_with_agg(tmp_path):
    """No display and an interactive backend asked for: the charts still come, via Agg."""
    code = ("import matplotlib; from mcsim import plot\n"
            "from builders import make_scenario\nfrom mcsim.engine import simulate\n"
            "sim = simulate(make_scenario({'x': {'p5': 1, 'p95': 10}}, {'y': 'x'}), 5000, 1)\n"
            "(chart,) = plot.output_charts([sim])\n"
            "assert chart.data[:4] == b'\\x89PNG'\n"
            "print(matplotlib.get_backend())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "TkAgg"
    env["PYTHONPATH"] = ":".join(sys.path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().lower() == "agg"


# ---------------------------------------------------------------- run --plot



def test_run_plot_writes_the_charts_with_the_results(scenario_file, tmp_path):
    out = tmp_path / "res"
    result = CliRunner().invoke(cli, ["run", str(scenario_file), "-n", "50k", "--seed", "3",
                                      "--out", str(out), "--plot", "-q"])
    assert result.exit_code == 0, result.output
    assert f"wrote 3 charts in {out}/charts/" in result.output
    names = sorted(p.name for p in (out / "charts").iterdir())
    assert names == ["cost.png", "ratio-exceedance.png", "ratio.png"]
    for name in names:
        data = (out / "charts" / name).read_bytes()
        assert data[:8] == PNG and plot.image_size(data) == (WIDTH, HEIGHT)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3
    assert not list(tmp_path.rglob(".*tmp"))

    # the same folder again, as SVG, then without charts: no charts of an earlier run remain
    result = CliRunner().invoke(cli, ["run", str(scenario_file), "-n", "20k", "--seed", "4",
                                      "--out", str(out), "--plot", "--plot-format", "svg",
                                      "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "charts").iterdir()) == [
        "cost.svg", "ratio-exceedance.svg", "ratio.svg"]
    assert CliRunner().invoke(cli, ["run", str(scenario_file), "-n", "20k", "--seed", "5",
                                    "--out", str(out), "-q"]).exit_code == 0
    assert not (out / "charts").exists()


def test_run_plot_without_matplotlib_fails_before_the_run(scenario_file, tmp_path,
                                                          without_matplotlib):
    out = without_matplotlib(["run", str(scenario_file), "-n", "1k", "--seed", "1", "-q",
                              "--plot", "--out", str(tmp_path / "r")])
    assert out == "" and not (tmp_path / "r").exists()


def test_bad_plot_format_is_one_line_and_exit_2(scenario_file, monkeypatch, capsys):
    code, _, err = run_main(["run", str(scenario_file), "--plot", "--plot-format", "jpg"],
                            monkeypatch, capsys)
    assert code == 2 and err.startswith("mcsim: error: ") and err.count("\n") == 1
    assert "jpg" in err and "Traceback" not in err


def test_a_claim_with_different_values_in_two_views_gets_a_line_for_each(sim):
    other = make_scenario(
        inputs={"gpus": {"p5": 8_000, "p95": 12_000},
                "price": {"dist": "lognormal", "mu": 10.0, "sigma": 0.2},
                "spread": {"dist": "lognormal", "mu": 0.0, "sigma": 1.5},
                "delta": {"dist": "normal", "loc": 0.0, "scale": 1.0}},
        outputs={"capex": {"formula": "gpus * price", "unit": "USD"},
                 "ratio": {"formula": "gpus * price / 6e6", "unit": "x"},
                 "wide": {"formula": "spread * 1e6", "unit": "USD"},
                 "signed": {"formula": "delta", "unit": ""}},
        claims={"press": {"output": "ratio", "value": 35.0, "source": "another paper"}})
    view = simulate(dataclasses.replace(other, name="view"), N, seed=SEED)
    texts = _claim_texts(plot.distribution_figure([sim, view], "ratio"))
    assert any(t.strip().startswith("press (scenario) = 40.0x") for t in texts), texts
    assert any(t.strip().startswith("press (view) = 35.0x") for t in texts), texts


def test_binned_tornado_puts_red_at_the_inputs_top_bin():
    sc = make_scenario(inputs={"up": {"dist": "uniform", "min": 0, "max": 1},
                               "down": {"dist": "uniform", "min": 0, "max": 1}},
                       outputs={"y": "2 * up - down"})
    tor = tornado(sc, "y", draws=200_000, seed=1, methods=("binned",))
    rows = tor.table.set_index("input")
    assert rows.loc["down", "value"] < 0 < rows.loc["up", "value"]
    ax = plot.tornado_figure(tor).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    red = {labels[round(p.get_y() + p.get_height() / 2)]: p.get_width()
           for p in ax.patches if p.get_facecolor()[0] > 0.6}
    assert red["up"] > 0 > red["down"]  # up's top bin is right of the mean, down's left
    assert [t.get_text() for t in ax.get_legend().get_texts()][0].startswith("input high")


def test_plot_format_alone_draws_the_charts(scenario_file, tmp_path):
    out = tmp_path / "svg"
    result = CliRunner().invoke(cli, ["run", str(scenario_file), "--draws", "20k", "--seed", "1",
                                      "-q", "--plot-format", "svg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    charts = sorted(p.suffix for p in (out / "charts").iterdir())
    assert charts and set(charts) == {".svg"}
