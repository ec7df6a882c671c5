"""Smoke run of the speed suite at tiny sizes: the table and the history work (no timings)."""

from __future__ import annotations

import numpy as np

from builders import run_main
from mcsim import bench


def test_suite_runs_at_tiny_sizes_and_records_history(tmp_path):
    table = bench.run_suite(sizes=(5_000,), repeats=1, numpy_draws=5_000, families=True,
                            processes=False)
    cases = set(table["case"])
    assert {"deepseek", "synthetic14"} <= cases
    assert {f"family-{f}" for f in bench.SINGLE_FAMILY} <= cases
    assert {"mcsim", "numpy plain", "numpy tuned"} <= set(table["impl"])
    assert np.all(table["draws_per_second"] > 0)
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
    bench.append_history(bench.record(bench.run_suite((2_000,), 1, None, False, False),
                                      commit="abc"), tmp_path)
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
