"""Smoke run of the speed suite at tiny sizes: the table and the history work (no timings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from builders import run_main
from mcsim import __version__, bench


def test_suite_runs_at_tiny_sizes_and_records_history(tmp_path):
    table = bench.run_suite(sizes=(5_000,), repeats=1, numpy_draws=5_000, families=True,
                            processes=False)
    cases = set(table["case"])
    assert {"deepseek", "deepseek+evidence", "synthetic14"} <= cases
    weighted = table[table["case"] == "deepseek+evidence"]
    assert set(weighted["impl"]) == {"mcsim"}  # the numpy baselines know no evidence
    assert {f"family-{f}" for f in bench.SINGLE_FAMILY} <= cases
    assert {"mcsim", "numpy plain", "numpy tuned", "sweep"} <= set(table["impl"])
    assert np.all(table["draws_per_second"] > 0)
    swept = table[table["impl"] == "sweep"].iloc[0]
    assert swept["draws"] == 21 * 5_000 and swept["points_per_second"] > 0
    assert swept["fixed_seconds_per_point"] == pytest.approx(1 / swept["points_per_second"])
    assert len(bench.synthetic().inputs) == 14
    bench.append_history(bench.record(table, commit="test"), tmp_path)
    bench.append_history(bench.record(table, commit="test2"), tmp_path)
    hist = bench.history(tmp_path)
    assert hist["commit"].tolist() == ["test", "test2"]
    assert "synthetic14 Mdraws/s" in hist


def test_numpy_baselines_agree_with_mcsim():
    """The baselines compute the same model: means agree within Monte Carlo error."""
    from mcsim.engine import simulate
    from mcsim.numpy_baseline import run_plain, run_tuned

    sc = bench.synthetic()
    n = 200_000
    ours = simulate(sc, n, seed=3)
    plain = run_plain(sc, n, seed=3)
    tuned = run_tuned(sc, n, seed=3)
    for name, st in ours.outputs.items():
        tol = 5 * st.std / np.sqrt(n)
        assert abs(plain[name]["mean"] - st.mean) < tol * 1.5, name
        assert abs(tuned[name]["mean"] - st.mean) < tol * 1.5, name


def test_bench_history_command(tmp_path, monkeypatch, capsys):
    bench.append_history(bench.record(bench.run_suite((2_000,), 1, None, False, False,
                                                      sweeps=False), commit="abc"), tmp_path)
    code, out, _ = run_main(["bench", "--history", "--save", str(tmp_path)], monkeypatch, capsys)
    assert code == 0 and "abc" in out


def test_whole_process_timing_takes_the_median_of_its_runs(monkeypatch):
    """The warm ``mcsim run`` row is the median of several whole processes."""
    seen = []
    real = bench.statistics.median
    monkeypatch.setattr(bench.statistics, "median", lambda xs: seen.append(list(xs)) or real(
        seen[-1]))
    row = bench.time_process("2k", cold=False, repeats=2)
    assert row["case"] == "mcsim run --draws 2k (warm)"
    assert len(seen[-1]) == 2 and row["seconds"] == real(seen[-1]) > 0
    assert row["peak_rss_mib"] > 10


def test_bench_command_prints_sane_figures_and_appends_only_where_told(tmp_path, monkeypatch,
                                                                        capsys):
    """A tiny ``mcsim bench``: a table of positive rates; the history goes to ``--save``, and
    without it nowhere but an existing ``benchmarks/results`` of the working folder."""
    repo_history = Path(bench.__file__).resolve().parents[2] / "benchmarks/results"
    before = {p: p.read_bytes() for p in repo_history.glob("*")} if repo_history.is_dir() else {}
    monkeypatch.chdir(tmp_path)
    args = ["bench", "--draws", "5k", "--repeats", "1", "--numpy-draws", "5k", "--no-families",
            "--no-process"]
    code, out, err = run_main([*args, "--save", str(tmp_path / "saved")], monkeypatch, capsys)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.startswith(("deepseek ",
                                                                           "synthetic14 "))]
    assert {(r[0], r[1]) for r in rows} == {
        (case, impl) for case in ("deepseek", "synthetic14")
        for impl in ("(mcsim)", "(numpy")}
    for r in rows:
        draws_col = 2 if r[1] == "(mcsim)" else 3
        assert r[draws_col] == "5,000" and float(r[draws_col + 3]) > 0  # draws, Mdraws/s
    saved = tmp_path / "saved" / bench.HISTORY_FILE
    assert f"appended to {saved}" in out
    record = json.loads(saved.read_text().splitlines()[-1])
    # per thread count: deepseek (priors alone), deepseek+evidence, synthetic14; 2 x 2 numpy
    # baselines; the sweep
    assert record["mcsim"] == __version__ and len(record["rows"]) == 11
    assert any(line.startswith("deepseek+evidence (mcsim)") for line in out.splitlines())
    assert "sweep deepseek h20_count x21: " in out and " points/s, fixed " in out
    code, out, err = run_main(args, monkeypatch, capsys)  # no --save, no benchmarks/results
    assert code == 0 and "appended" not in out and sorted(tmp_path.iterdir()) == [
        tmp_path / "saved"]
    after = {p: p.read_bytes() for p in repo_history.glob("*")} if repo_history.is_dir() else {}
    assert after == before


def test_numpy_baselines_draw_the_correlations_too(deepseek):
    """A correlated scenario is the same model in the baselines: the copula's rank
    correlations are reproduced, and the means agree with mcsim's."""
    from scipy import stats

    from mcsim.engine import simulate
    from mcsim.numpy_baseline import draw_inputs, run_plain

    assert deepseek.correlations
    draws = draw_inputs(deepseek, np.random.default_rng(1), 100_000)
    for c in deepseek.correlations:
        rho = stats.spearmanr(draws[c.a], draws[c.b])[0]
        assert abs(rho - c.spearman) < 0.015, (c, rho)
    n = 200_000
    priors = deepseek.without_evidence()  # the baselines draw the priors
    ours, plain = simulate(priors, n, seed=3), run_plain(priors, n, seed=3)
    for name in ("capex_servers", "ratio_server_tco_to_6m", "v3_run_cost_owned"):
        st = ours.outputs[name]
        assert abs(plain[name]["mean"] - st.mean) < 7 * st.std / np.sqrt(n), name


def test_dask_cases_run_at_tiny_sizes():
    """``mcsim bench --dask``: each case is a row, and the table renders (no timings)."""
    from mcsim.render import bench_text

    table = bench.time_dask("local:1", (100_000,), 1, cold=False, task_tiles=2)
    assert list(table["impl"]) == ["dask note", "mcsim", "dask local:1", "dask note"]
    row = table[table["impl"] == "dask local:1"].iloc[0]
    assert row["draws"] == 100_000 and row["task_tiles"] == 1
    assert row["peak_rss_mib"] > 50 and row["vs_local"] > 0
    text = bench_text(table)
    assert "warm (from the cache)" in text and "ms/task" in text and "MB, merged in" in text
