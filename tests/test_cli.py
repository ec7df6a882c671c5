"""The CLI prints and writes exactly what the library returns; bad input is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from builders import CLI_SCENARIO as SCENARIO
from builders import run_main, write_scenario
from mcsim.cli import cli
from mcsim.engine import simulate
from mcsim.scenario import load_scenario
from mcsim.units import format_percent, format_value


def test_run_prints_and_writes_what_the_library_returns(scenario_file, tmp_path):
    out_dir = tmp_path / "res"
    result = CliRunner().invoke(cli, ["run", str(scenario_file), "--draws", "200k", "--seed",
                                      "7", "--ci", "80", "--out", str(out_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    sim = simulate(load_scenario(scenario_file), 200_000, seed=7)
    summary, claims = sim.summary(0.8), sim.claims()
    assert "seed 7, 200,000 draws" in result.output
    assert "80% interval" in result.output
    for row in summary.itertuples():
        line = next(ln for ln in result.output.splitlines() if ln.startswith(row.label))
        for value in (row.mean, row.median, row.ci_low, row.ci_high):
            assert format_value(value, row.unit) in line
    claim_line = next(ln for ln in result.output.splitlines() if ln.startswith("big "))
    assert format_percent(claims.loc[0, "percentile"] / 100) in claim_line
    written = pd.read_csv(out_dir / "summary.csv")
    pd.testing.assert_frame_equal(written, summary, check_dtype=False)
    written_claims = pd.read_csv(out_dir / "claims.csv")
    pd.testing.assert_frame_equal(written_claims.drop(columns="scope"),
                                  claims.drop(columns="scope"), check_dtype=False)
    assert claims["scope"].eq("").all() and written_claims["scope"].isna().all()  # empty field
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["draws"] == 200_000
    assert manifest["scenario"]["sha256"] == load_scenario(scenario_file).sha256
    assert manifest["ci_level"] == 0.8 and manifest["draws_per_second"] > 0
    assert not list(tmp_path.glob(".*tmp"))  # no temporary leftovers


def test_run_without_seed_prints_one_that_reproduces(scenario_file, tmp_path):
    runner = CliRunner()
    first = runner.invoke(cli, ["run", str(scenario_file), "-n", "50k", "--out",
                                str(tmp_path / "a"), "-q"])
    seed = int(first.output.split("seed ")[1].split(",")[0])
    again = runner.invoke(cli, ["run", str(scenario_file), "-n", "50k", "--seed", str(seed),
                                "--out", str(tmp_path / "b"), "-q"])
    assert first.exit_code == 0 and again.exit_code == 0
    assert (tmp_path / "a" / "summary.csv").read_text() == \
        (tmp_path / "b" / "summary.csv").read_text()


def test_default_scenario_and_default_out_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "--draws", "20k", "--seed", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "press_266x" in result.output
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("deepseek-")
    assert sorted(p.name for p in folder.iterdir()) == ["claims.csv", "manifest.json",
                                                        "summary.csv"]


def test_check_lists_every_input_with_its_source(scenario_file):
    result = CliRunner().invoke(cli, ["check", str(scenario_file)])
    assert result.exit_code == 0
    assert "OK (2 inputs, 0 derived, 2 outputs, 1 claims)" in result.output
    assert "x: test" in result.output and "y: test" in result.output
    deepseek = CliRunner().invoke(cli, ["check"])
    for inp in load_scenario().inputs:
        assert f"{inp.name}: {inp.source}" in deepseek.output


@pytest.mark.parametrize("args, message", [
    (["run", "--draws", "2.5x"], "--draws"),
    (["run", "--draws", "0"], "--draws"),
    (["run", "missing.toml"], "missing.toml: no such scenario file"),
    (["run", "--ci", "120", "-n", "1k"], "ci: must be a level"),
    (["run", "--threads", "99999", "-n", "1k", "-q"], "--threads"),
    (["check", "BROKEN"], "BROKEN.toml: inputs.x.p5: must be less than p95"),
    (["run", "--bogus"], "No such option"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BROKEN.toml").write_text(SCENARIO.replace("p5 = 1", "p5 = 11"))
    args = [str(tmp_path / "BROKEN.toml") if a == "BROKEN" else a for a in args]
    code, out, err = run_main(args, monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("mcsim: error: ")
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_unwritable_out_is_a_clean_error(scenario_file, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run_main(["run", str(scenario_file), "-n", "1k", "-q", "--out",
                               str(blocker / "sub")], monkeypatch, capsys)
    assert code == 2 and err.startswith("mcsim: error: --out: cannot create")
    assert "is a file" in err and out == ""  # refused before the run, nothing printed


def test_default_folders_never_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for seed in ("1", "2"):
        result = runner.invoke(cli, ["run", "--draws", "5k", "--seed", seed, "-q"])
        assert result.exit_code == 0
    folders = sorted((tmp_path / "results").iterdir())
    assert len(folders) == 2
    seeds = {json.loads((f / "manifest.json").read_text())["seed"] for f in folders}
    assert seeds == {1, 2}


def test_existing_out_folder_is_replaced_whole(scenario_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "res"
    runner = CliRunner()
    for seed in ("1", "2"):
        if out.exists():
            (out / "comparison.csv").write_text("an earlier report's")  # mcsim's, so replaced
        assert runner.invoke(cli, ["run", str(scenario_file), "-n", "5k", "--seed", seed,
                                   "--out", str(out), "-q"]).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["claims.csv", "manifest.json",
                                                     "summary.csv"]
    (out / "mine.txt").write_text("keep me")  # a folder with files not mcsim's is not replaced
    code, printed, err = run_main(["run", str(scenario_file), "-n", "5k", "--out", str(out)],
                                  monkeypatch, capsys)
    assert code == 2 and printed == "" and err.count("\n") == 1
    assert err == (f"mcsim: error: --out: {out} holds mine.txt, not an mcsim result file; "
                   "results replace their folder whole, so choose a new or empty folder\n")
    assert (out / "mine.txt").read_text() == "keep me"
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2


def test_help_and_version_compile_nothing():
    code = ("import sys; from mcsim.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'numba' not in sys.modules, 'help imported numba'\n"
            "assert 'scipy' not in sys.modules, 'help imported scipy'\n"
            "assert 'numpy' not in sys.modules, 'help imported numpy'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "--draws" in proc.stdout
    version = subprocess.run([sys.executable, "-m", "mcsim", "--version"], capture_output=True,
                             text=True)
    assert version.returncode == 0 and "mcsim, version" in version.stdout


def test_run_until_reports_why_it_stopped(scenario_file, tmp_path, monkeypatch, capsys):
    result = CliRunner().invoke(cli, ["run", str(scenario_file), "--until", "median:1%",
                                      "--seed", "3", "--out", str(tmp_path / "u"), "-q"])
    assert result.exit_code == 0, result.output
    assert "every --until target met" in result.output
    manifest = json.loads((tmp_path / "u" / "manifest.json").read_text())
    assert manifest["stopped"] == "converged" and manifest["draws"] % 65536 == 0
    code, _, err = run_main(["run", str(scenario_file), "--until", "median"], monkeypatch,
                            capsys)
    assert code == 2 and err.startswith("mcsim: error: --until:") and err.count("\n") == 1
    code, _, err = run_main(["run", str(scenario_file), "--until", "nope.median:1%"],
                            monkeypatch, capsys)
    assert code == 2 and "unknown output 'nope'" in err


def test_results_are_written_even_when_the_reader_stops_early(tmp_path):
    """`mcsim run | head -1`: the pipe closes after one line, while the summary (long labels:
    more than a pipe's 64 KB) is still being printed; the files must already be there."""
    label = "x" * 1000
    outputs = "".join(f'[outputs.y{k}]\nformula = "a * {k + 1}"\nlabel = "{label}{k}"\n'
                      for k in range(80))
    path = tmp_path / "long.toml"
    path.write_text('schema = 1\n[inputs.a]\ndist = "uniform"\nmin = 1\nmax = 2\nunit = "u"\n'
                    'source = "t"\n' + outputs)
    out = tmp_path / "piped"
    proc = subprocess.Popen([sys.executable, "-m", "mcsim", "run", str(path), "-n", "20k",
                             "--seed", "1", "-q", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    proc.wait(timeout=120)
    assert sorted(p.name for p in out.iterdir()) == ["claims.csv", "manifest.json",
                                                     "summary.csv"]


def test_the_command_exits_fast_but_loses_no_output_or_exit_code(scenario_file, tmp_path):
    """``console`` skips the interpreter's teardown: stdout must still arrive whole, files
    be written, and errors keep their one line and exit code 2."""
    ok = subprocess.run([sys.executable, "-m", "mcsim", "run", str(scenario_file), "-n", "10k",
                         "--seed", "1", "-q", "--out", str(tmp_path / "r")],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.rstrip().endswith("summary.csv, claims.csv, manifest.json")
    assert (tmp_path / "r" / "manifest.json").exists()
    bad = subprocess.run([sys.executable, "-m", "mcsim", "run", str(tmp_path / "nope.toml")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("mcsim: error: ") and bad.stderr.count("\n") == 1
    usage = subprocess.run([sys.executable, "-m", "mcsim", "run", "--draws", "many"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "draws" in usage.stderr


def test_claims_with_a_scope_show_it_in_the_table_and_the_csv(scenario_file, tmp_path):
    path = write_scenario(tmp_path, SCENARIO + '[claims.big_narrow]\noutput = "cost"\n'
                          'value = 5e6\nscope = "narrow reading"\nsource = "someone"\n',
                          name="scoped.toml")
    result = CliRunner().invoke(cli, ["run", str(path), "-n", "20k", "--seed", "1", "-q",
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert next(ln for ln in lines if ln.startswith("claim ")).rstrip().endswith("scope")
    assert next(ln for ln in lines if ln.startswith("big_narrow")).endswith("narrow reading")
    claims = pd.read_csv(tmp_path / "r" / "claims.csv").set_index("claim")
    assert claims.loc["big_narrow", "scope"] == "narrow reading"
    plain = CliRunner().invoke(cli, ["run", str(scenario_file), "-n", "20k", "-q",
                                     "--out", str(tmp_path / "q")])
    assert "scope" not in next(ln for ln in plain.output.splitlines()
                               if ln.startswith("claim "))


@pytest.mark.parametrize("args", [
    ["run", "--draws", "1e19"], ["run", "--until", "p95:1%", "--max-draws", "1e17"],
    ["sensitivity", "-o", "cost", "--draws", "1e19"], ["report", "--draws", "1e17"],
    ["report", "--tornado-draws", "1e19"], ["bench", "--numpy-draws", "1e17"],
    ["bench", "--draws", "1M,1e19"],
])
def test_every_draw_count_has_the_same_maximum(args, monkeypatch, capsys):
    code, out, err = run_main(args, monkeypatch, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "at most 1e13 draws" in err and "Traceback" not in err


def test_simulate_refuses_more_than_the_maximum(scenario_file):
    from mcsim.errors import McsimError

    with pytest.raises(McsimError, match="at most 1e13 draws"):
        simulate(load_scenario(scenario_file), 10**19, seed=1)


def test_max_draws_needs_until(scenario_file, tmp_path, monkeypatch, capsys):
    """--max-draws without --until was silently ignored."""
    code, out, err = run_main(["run", str(scenario_file), "--max-draws", "1k", "-q"],
                              monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err == ("mcsim: error: --max-draws: caps a run with --until; without it, set the "
                   "run's size with --draws\n")
    code, out, err = run_main(["run", str(scenario_file), "--until", "p95:50%", "--max-draws",
                               "1k", "--seed", "1", "-q", "--out", str(tmp_path / "r")],
                              monkeypatch, capsys)
    assert code == 0 and "every --until target met" in out and "hit --max-draws" not in out


NONFINITE = """schema = 1
[inputs.a]
dist = "uniform"
min = 600
max = 800
unit = "u"
source = "t"
[derived]
big = "exp(a)"
[outputs.cost]
formula = "{formula}"
unit = "USD"
[outputs.other]
formula = "log(a - 900)"
"""


def test_a_run_with_no_finite_output_is_an_error(tmp_path, monkeypatch, capsys):
    """Every draw non-finite ran "successfully", with n/a everywhere; now exit 2 (the cause
    is the scenario, bad input like any other), one line naming the first culprit."""
    path = tmp_path / "inf.toml"
    path.write_text(NONFINITE.format(formula="big * big"))
    out_dir = tmp_path / "r"
    code, out, err = run_main(["run", str(path), "-n", "10k", "--seed", "1", "-q", "--out",
                               str(out_dir)], monkeypatch, capsys)
    assert code == 2 and out == "" and not out_dir.exists()
    assert err == (f"mcsim: error: {path}: every draw of every output is inf or nan (nothing "
                   "to summarise); the first never finite: outputs.cost.formula = "
                   "'big * big'\n")


def test_huge_outputs_print_no_numpy_warnings(tmp_path):
    """exp(600..800): partly inf, the rest near 1e300; numpy warned from the sums and the
    histogram's edges, and the figures ran to 300 digits."""
    path = tmp_path / "big.toml"
    path.write_text(NONFINITE.format(formula="big"))
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "mcsim", "run",
                           str(path), "-n", "20k", "--seed", "1", "-q", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-800:]
    cost = next(line for line in proc.stdout.splitlines() if line.startswith("cost"))
    assert "e+3" in cost and len(cost) < 80


def test_a_report_with_no_finite_output_is_an_error(tmp_path, monkeypatch, capsys):
    path = tmp_path / "inf.toml"
    path.write_text(NONFINITE.format(formula="big * big"))
    code, out, err = run_main(["report", str(path), "-n", "10k", "--seed", "1", "-q",
                               "--out", str(tmp_path / "r")], monkeypatch, capsys)
    assert code == 2 and "every draw of every output is inf or nan" in err
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()
