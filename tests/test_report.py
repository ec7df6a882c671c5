"""`mcsim report`: one self-contained HTML page whose numbers are those of summary.csv (and of
`run` with the same seed), with every input's prior and source, the charts embedded, and
several scenarios compared; opened in a real headless Chromium."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import warnings
from html.parser import HTMLParser

import pandas as pd
import pytest
from click.testing import CliRunner

from builders import run_main
from mcsim import __version__, distributions
from mcsim.cli import cli
from mcsim.plot import image_size
from mcsim.report import prior_text
from mcsim.scenario import load_scenario
from mcsim.units import format_percent, format_value

pytest.importorskip("matplotlib")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must need no network
                  "--window-size=1280,1800"]
SEED = 5
BASE = """
schema = 1
title = "Report test: a fleet's cost"
description = "A small fleet, to test the report."
[inputs.gpus]
p5 = 800
p95 = 1200
unit = "GPU"
source = "a vendor's count"
note = "a 90% interval"
[inputs.price]
dist = "pert"
min = 20000
mode = 25000
max = 40000
unit = "USD/GPU"
source = "price quotes"
[inputs.rate]
dist = "constant"
value = 6e6
unit = "USD"
source = "the claimed cost"
[outputs.capex]
formula = "gpus * price"
unit = "USD"
label = "Fleet capex"
[outputs.ratio]
formula = "gpus * price / rate"
unit = "x"
label = "Capex / claimed cost"
[claims.press]
output = "ratio"
value = 5
source = "a newspaper"
note = "like for like"
[claims.analyst]
output = "capex"
value = 3.5e7
source = "an analyst"
"""
VIEW = """
schema = 1
extends = "base.toml"
title = "A sceptic's view"
[inputs.gpus]
p5 = 400
p95 = 900
unit = "GPU"
source = "a sceptic"
"""


class _Page(HTMLParser):
    """Cells with data-stat (and their row's data-* attributes), images, title, links."""

    def __init__(self, text: str):
        super().__init__()
        self.cells: list[dict] = []
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.title = ""
        self._row: dict = {}
        self._cell: dict | None = None
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.urls += [a[k] for k in ("src", "href") if k in a]
        if tag == "tr":
            self._row = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        elif tag == "td" and "data-stat" in a:
            self._cell = {**self._row, "stat": a["data-stat"],
                          "value": float(a["data-value"]), "text": ""}
        elif tag == "img":
            self.images.append(a)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None
        self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_title:
            self.title += data

    def cell(self, stat: str, **row) -> dict:
        (match,) = [c for c in self.cells if c["stat"] == stat
                    and all(c.get(k) == v for k, v in row.items())]
        return match


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenarios")
    (folder / "base.toml").write_text(BASE)
    (folder / "view.toml").write_text(VIEW)
    return folder / "base.toml", folder / "view.toml"


@pytest.fixture(scope="module")
def single(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "report"
    result = CliRunner().invoke(cli, ["report", str(files[0]), "--draws", "50k", "--seed",
                                      str(SEED), "--tornado-draws", "20k", "--ci", "80",
                                      "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def multi(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("multi") / "compare"
    result = CliRunner().invoke(cli, ["report", *map(str, files), "--draws", "40k", "--seed",
                                      str(SEED), "--tornado-draws", "20k", "--paired-runs", "8",
                                      "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out, result.output


def _run_summary(path, draws: str, ci: str, folder) -> pd.DataFrame:
    result = CliRunner().invoke(cli, ["run", str(path), "-n", draws, "--seed", str(SEED),
                                      "--ci", ci, "--out", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(folder / "summary.csv")


def test_numbers_in_the_page_equal_summary_csv_and_run(single, files, tmp_path):
    out, printed = single
    assert f"wrote {out}/index.html, summary.csv, claims.csv, manifest.json" in printed
    summary = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(summary, _run_summary(files[0], "50k", "80", tmp_path / "r"))
    page = _Page((out / "index.html").read_text())
    for row in summary.itertuples():
        for stat in ("mean", "median", "ci_low", "ci_high", "min", "max"):
            cell = page.cell(stat, output=row.output)
            assert cell["value"] == pytest.approx(getattr(row, stat), rel=1e-14, abs=0)
            assert cell["text"].startswith(format_value(getattr(row, stat), row.unit))
        assert f"± {format_value(row.median_se, row.unit)}" in page.cell(
            "median", output=row.output)["text"]
    claims = pd.read_csv(out / "claims.csv")
    assert list(claims["claim"]) == ["press", "analyst"]
    pd.testing.assert_frame_equal(claims, pd.read_csv(tmp_path / "r" / "claims.csv"))
    for row in claims.itertuples():
        cell = page.cell("percentile", claim=row.claim)
        assert cell["value"] == pytest.approx(row.percentile, rel=1e-14)
        assert cell["text"].startswith(format_percent(row.percentile / 100))
        assert page.cell("p_exceed", claim=row.claim)["text"] == format_percent(row.p_exceed)
        assert page.cell("value", claim=row.claim)["text"] == format_value(row.value, row.unit)


def test_page_states_the_run_and_every_input_with_prior_and_source(single, files):
    out, _ = single
    text = (out / "index.html").read_text()
    page = _Page(text)
    assert page.title == "mcsim report: base (seed 5, 50,000 draws)"
    for fact in ("Report test: a fleet&#x27;s cost", "A small fleet, to test the report.",
                 f"mcsim {__version__}", "50,000 per scenario", "80% (equal-tailed)",
                 f"--seed {SEED}", str(files[0]), load_scenario(files[0]).sha256[:16],
                 "a newspaper", "like for like"):
        assert fact in text, fact
    for inp in load_scenario(files[0]).inputs:
        for fact in (inp.name, inp.source, inp.note, prior_text(inp.prior, inp.unit)):
            assert fact.replace("'", "&#x27;") in text, fact
        p50 = page.cell("p50", input=inp.name)["value"]
        assert p50 == pytest.approx(float(inp.prior.ppf(0.5)))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["report"]["seed"] == SEED and manifest["report"]["draws"] == 50_000
    assert manifest["report"]["mcsim"] == __version__
    assert manifest["report"]["tornado"] == {"outputs": ["ratio", "capex"], "draws": 20_000}
    assert [r["scenario"]["sha256"] for r in manifest["runs"]] == [
        load_scenario(files[0]).sha256]


def test_page_is_self_contained(single):
    out, _ = single
    page = _Page((out / "index.html").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["claims.csv", "index.html",
                                                     "manifest.json", "summary.csv"]
    assert not list(out.parent.glob(".*"))  # no temporary leftovers
    assert "script" not in page.tags
    assert all(u.startswith(("data:", "#")) for u in page.urls), page.urls
    kinds = sorted(img["alt"].split(": ")[-1] for img in page.images if ": " in img["alt"])
    assert kinds == ["P(value > x)", "distribution", "distribution"]  # capex; ratio (+ curve)
    tornados = [img for img in page.images if img["alt"].startswith("Tornado of")]
    assert [img["alt"] for img in tornados] == ["Tornado of ratio (base)",
                                                "Tornado of capex (base)"]
    for img in page.images:
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64"
        png = base64.b64decode(data, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert image_size(png) == (int(img["width"]), int(img["height"]))
        assert int(img["width"]) > 300 and int(img["height"]) > 100


def test_several_scenarios_are_overlaid_and_compared(multi, files, tmp_path):
    out, printed = multi
    assert "base vs view: seed 5, 40,000 draws" in printed
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["scenario"].unique()) == ["base", "view"]
    for k, (name, path) in enumerate(zip(("base", "view"), files, strict=True)):
        own = summary[summary["scenario"] == name].drop(columns="scenario")
        pd.testing.assert_frame_equal(own.reset_index(drop=True),
                                      _run_summary(path, "40k", "90", tmp_path / str(k)))
    comparison = pd.read_csv(out / "comparison.csv")
    medians = summary.set_index(["scenario", "output"])["median"]
    page = _Page((out / "index.html").read_text())
    for row in comparison.itertuples():
        assert row.scenario == "view" and row.reference == "base"
        assert row.difference == pytest.approx(medians["view", row.output]
                                               - medians["base", row.output], rel=1e-12)
        # gpus is drawn from the same stream in both: the medians move together
        assert 0 < row.difference_se < 0.5 * row.independent_se
        for stat in ("difference", "difference_se", "independent_se"):
            cell = page.cell(stat, scenario="view", output=row.output)
            assert cell["value"] == pytest.approx(getattr(row, stat), rel=1e-12)
        assert row.replicates == 8 and row.seed == SEED and row.draws == 40_000
    text = (out / "index.html").read_text()
    assert "common random numbers" in text
    assert text.count('<tr data-input="gpus" class=changed>') == 1  # view's own prior
    assert "a sceptic" in text and "A sceptic&#x27;s view" in text
    charts = [img for img in page.images if img["alt"].endswith(("distribution", "x)"))]
    tornados = [img["alt"] for img in page.images if img["alt"].startswith("Tornado")]
    assert len(charts) == 3  # the same outputs overlaid, not one chart per scenario
    assert tornados == ["Tornado of ratio (base)", "Tornado of ratio (view)",
                        "Tornado of capex (base)", "Tornado of capex (view)"]
    assert sorted(p.name for p in out.iterdir()) == [
        "claims.csv", "comparison.csv", "index.html", "manifest.json", "summary.csv"]


AWKWARD = """
schema = 1
title = "Awkward outputs"
[inputs.x]
dist = "constant"
value = 3
unit = "USD"
source = "fixed"
[inputs.z]
dist = "normal"
loc = 0
scale = 1
unit = "1"
source = "noise"
[outputs.bad]
formula = "1 / (x - x) - 1 / (x - x)"
unit = "x"
[outputs.const]
formula = "x"
unit = "USD"
[outputs.signed]
formula = "z * 1e6"
unit = "USD"
[claims.c]
output = "bad"
value = 2
source = "t"
[claims.neg]
output = "signed"
value = -3e6
source = "t"
[claims.beyond]
output = "signed"
value = 1e8
source = "t"
"""


def test_awkward_outputs_still_make_a_page(tmp_path):
    """No finite draw, a constant, both signs, a claim beyond every draw: charts say so,
    tornados explain their absence, the claim shows the bound the draws give."""
    path = tmp_path / "awkward.toml"
    path.write_text(AWKWARD)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        result = CliRunner().invoke(cli, ["report", str(path), "-n", "20k", "--seed", "1",
                                          "--tornado", "bad", "--tornado", "const",
                                          "--tornado", "signed", "--tornado-draws", "5k",
                                          "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "index.html").read_text()
    assert "no tornado (bad: fewer than two finite draws; nothing to rank)" in text
    assert "no tornado (const: the output is constant (3); nothing to rank)" in text
    assert "bad: 20,000 non-finite draws (e.g. a division by zero)" in text
    page = _Page(text)
    assert page.cell("median", output="bad")["text"].startswith("n/a")
    assert page.cell("median", output="const")["value"] == 3.0
    assert [img["alt"] for img in page.images if img["alt"].startswith("Tornado")] == [
        "Tornado of signed (awkward)"]
    beyond = page.cell("percentile", claim="beyond")["text"]  # was "100.0% ± 0 pts"
    assert beyond.startswith(">99.9% ± ") and not beyond.endswith("± 0 pts"), beyond
    assert page.cell("p_exceed", claim="beyond")["text"] == "<0.1%"


def test_priors_read_as_a_person_says_them():
    d = distributions
    assert prior_text(d.pert(2048, 4000, 10000), "GPU") == (
        "PERT: min 2,048, mode 4,000, max 10,000, lambda 4")
    assert prior_text(d.lognormal_from_interval(1e6, 4e6), "USD") == (
        "lognormal: median $2.00M, log-sd 0.421")
    assert prior_text(d.from_p10_p50_p90(1, 2, 4), "x").startswith(
        "lognormal: median 2.00x, log-sd ")
    assert "shifted, scale" in prior_text(d.from_p10_p50_p90(1, 2, 5), "x")
    assert "mirrored" in prior_text(d.from_p10_p50_p90(1, 3, 4), "")
    assert prior_text(d.constant(6e6), "USD") == "constant $6.00M"
    assert prior_text(d.discrete([1, 2], [0.25, 0.75]), "") == (
        "discrete: 1.00 (25.0%), 2.00 (75.0%)")
    assert prior_text(d.truncnormal(5, 2, lo=0), "") == (
        "truncated normal: loc 5.00, scale 2.00, min 0")
    assert prior_text(d.uniform(0.5, 0.9), "fraction") == "uniform: min 0.500, max 0.900"


@pytest.mark.parametrize("args, message", [
    (["missing.toml"], "missing.toml: no such scenario file"),
    (["BASE", "BASE"], "scenario 'base' is given twice"),
    (["BASE", "--tornado", "ratoi"], "--tornado: base: unknown output 'ratoi'"),
    (["BASE", "--ci", "150"], "ci: must be a level"),
    (["BASE", "--draws", "0"], "--draws"),
    (["BASE", "--paired-runs", "1"], "--paired-runs"),
    (["BASE", "--out", "FILE"], "'--out'"),
    (["BASE", "--out", "FILE/sub"], "--out: cannot create"),
    (["BROKEN"], "inputs.gpus.p5: must be less than p95"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    (tmp_path / "BROKEN.toml").write_text(BASE.replace("p5 = 800", "p5 = 8000"))
    swap = {"BASE": str(files[0]), "BROKEN": str(tmp_path / "BROKEN.toml"),
            "FILE": str(tmp_path / "FILE")}
    args = [swap.get(a, a).replace("FILE/", f"{tmp_path}/FILE/") for a in args]
    code, out, err = run_main(["report", "-n", "2k", "-q", *args], monkeypatch, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("mcsim: error: "), err
    assert message in err and "Traceback" not in err
    assert out == "" and not (tmp_path / "results").exists()


def test_without_matplotlib_it_says_what_to_install_before_running(files, tmp_path,
                                                                   without_matplotlib):
    out = without_matplotlib(["report", str(files[0]), "-n", "2k", "--out", str(tmp_path / "r")])
    assert out == "" and not (tmp_path / "r").exists()


# ---------------------------------------------------------------- in a real browser


def _chromium(tmp_path):
    """A headless Chromium driven by selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"no headless browser: {path} is missing (apt-get install {package}; "
                        ".ci/run installs it)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_report_opens_in_headless_chromium(single, multi, tmp_path):
    driver = _chromium(tmp_path)
    try:
        for out in (single[0], multi[0]):
            page = _Page((out / "index.html").read_text())
            driver.get((out / "index.html").as_uri())
            problems = [e for e in driver.get_log("browser")
                        if e["level"] in ("SEVERE", "WARNING")]
            assert problems == [], problems
            assert driver.title == page.title and driver.title.startswith("mcsim report: ")
            images = driver.execute_script(
                "return Array.from(document.images).map(i => "
                "[i.complete, i.naturalWidth, i.naturalHeight, i.getAttribute('width')])")
            assert len(images) == len(page.images) >= 5
            for complete, width, height, declared in images:
                assert complete and width > 0 and height > 0
                assert width == int(declared)  # decoded at its own size
            summary = pd.read_csv(out / "summary.csv").iloc[0]
            scenario = summary.get("scenario", "base")
            shown = driver.execute_script(
                "return document.querySelector(arguments[0]).innerText",
                f'#summary tr[data-scenario="{scenario}"][data-output="{summary["output"]}"] '
                'td[data-stat="median"]')
            assert shown.startswith(format_value(summary["median"], summary["unit"]))
            shot = tmp_path / f"{out.name}.png"
            assert driver.save_screenshot(str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert image_size(shot.read_bytes())[0] > 600
        # the console check can fail: a page with a broken image logs an error
        bad = tmp_path / "bad.html"
        bad.write_text('<!DOCTYPE html><title>bad</title><img src="missing.png">')
        driver.get(bad.as_uri())
        assert any(e["level"] == "SEVERE" for e in driver.get_log("browser"))
    finally:
        driver.quit()


def test_rewriting_a_report_folder_keeps_files_readable_and_drops_an_old_comparison(
        multi, files, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(multi[0], out)
    assert (out / "comparison.csv").exists()
    result = CliRunner().invoke(cli, ["report", str(files[0]), "--draws", "20k", "--seed", "1",
                                      "--tornado-draws", "10k", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert not (out / "comparison.csv").exists()
    mask = os.umask(0)
    os.umask(mask)
    for name in ("index.html", "summary.csv", "claims.csv", "manifest.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_the_page_gives_a_command_that_reproduces_it(multi, files):
    text = (multi[0] / "index.html").read_text()
    command = text.split("<pre><code>", 1)[1].split("</code></pre>", 1)[0]
    for part in ("--draws 40000", f"--seed {SEED}", "--tornado-draws 20000", "--paired-runs 8",
                 str(files[0]), str(files[1])):
        assert part in command, command


def test_citations_link_to_the_bibliography_and_claims_show_their_scope(files, tmp_path):
    from mcsim.report import build_report, write_report
    cited = tmp_path / "cited.toml"
    cited.write_text(files[0].read_text()
                     .replace('source = "price quotes"',
                              'source = "[@huxiu-2024] quotes; '
                              '[@caixin-2023; @reuters-2025-05-h20]"')
                     .replace('[claims.press]', '[claims.press]\nscope = "capex only"', 1))
    sc = load_scenario(cited)
    assert [s.key for s in sc.bibliography] == ["huxiu-2024", "caixin-2023",
                                                "reuters-2025-05-h20"]
    report = build_report([sc], draws=20_000, seed=SEED, tornado_draws=10_000)
    out = write_report(report, tmp_path / "r")
    text = (out / "index.html").read_text()
    for s in sc.bibliography:  # each cited entry is in the bibliography, with its address
        assert f'id="src-{s.key}"' in text and f'href="#src-{s.key}"' in text
        assert f'href="{s.url}"' in text
    assert '<section id="sources">' in text
    page = _Page(text)
    assert "capex only" in text and page.tags >= {"cite"}


def test_a_sweep_adds_a_section_with_the_sweep_s_numbers(files, tmp_path, monkeypatch,
                                                          capsys):
    from mcsim.report import build_report
    from mcsim.sweep import sweep

    sc = load_scenario(files[0])
    report = build_report([sc], draws=20_000, seed=SEED, tornado_outputs=["ratio"],
                          tornado_draws=10_000, sweeps=["gpus=500,1500"])
    text = report.html
    assert '<section id="sweeps">' in text and 'data-kind="sweep"' in text
    sw = sweep(sc, set=["gpus=500,1500"], draws=10_000, seed=SEED)
    for pt in sw.points:  # each point's median and P(exceed) of the first output's claims
        st = pt.summary.iloc[0]
        assert format_value(st["median"], sc.output(st["output"]).unit) in text
    assert report.manifest["report"]["sweeps"] == [
        {"input": "gpus", "values": [500.0, 1500.0], "draws": 10_000}]
    code, _, err = run_main(["report", str(files[0]), "-n", "2k", "-q", "--sweep", "gpu=1,2"],
                            monkeypatch, capsys)
    assert code == 2 and "--sweep gpu: unknown input (did you mean 'gpus'?)" in err
