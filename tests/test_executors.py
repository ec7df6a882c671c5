"""Executors: a Dask cluster gives bit for bit what local threads give (1, 2 or 3 workers, any
task size, a worker killed mid-run); a real scheduler and workers behind the CLI; faults end
in one line, exit 2 and nothing written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import mcsim
from builders import make_scenario, run_main
from mcsim import executors
from mcsim._kernels import TILE
from mcsim.engine import _pilot, simulate
from mcsim.errors import McsimError
from mcsim.program import compile_program

MIXED = {
    "a": {"dist": "normal", "loc": 5, "scale": 2},
    "b": {"p5": 1, "p95": 30},
    "c": {"min": 0, "mode": 2, "max": 9},
    "d": {"dist": "discrete", "values": [1, 2, 4], "weights": [0.5, 0.3, 0.2]},
    "z": {"dist": "uniform", "min": -1, "max": 1},
}
# log(z) is nan for half the draws: non-finite counts travel too
MIXED_OUT = {"total": "a * b + c", "ratio": "b / d", "gap": "a - c", "logz": "log(z)"}
DRAWS = 7 * TILE + 123  # a partial last tile
SRC = str(Path(mcsim.__file__).parents[1])  # workers import this mcsim


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _assert_same(run, ref) -> None:
    pd.testing.assert_frame_equal(run.summary(0.9), ref.summary(0.9), check_exact=True)
    assert run.weights == ref.weights
    _assert_same_stats(run.outputs, ref.outputs)
    if ref.prior is not None:
        _assert_same_stats(run.prior, ref.prior)


def _assert_same_stats(outputs, reference) -> None:
    for name, st in reference.items():
        got = outputs[name]
        assert (got.count, got.nonfinite, got.minimum, got.maximum) == (
            st.count, st.nonfinite, st.minimum, st.maximum)
        assert got.mean == st.mean or (np.isnan(got.mean) and np.isnan(st.mean))
        assert got.std == st.std or (np.isnan(got.std) and np.isnan(st.std))
        assert got.ess == st.ess
        np.testing.assert_array_equal(got.histogram.counts, st.histogram.counts)


@pytest.fixture(scope="module")
def mixed():
    return make_scenario(MIXED, MIXED_OUT)


@pytest.fixture(scope="module")
def reference(mixed):
    return simulate(mixed, DRAWS, seed=21, threads=2)


def _cluster(n_workers: int):
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        dashboard_address=":0", env={"PYTHONPATH": _env()["PYTHONPATH"]})


@pytest.fixture(scope="module", params=[1, 2, 3], ids=lambda n: f"{n}-workers")
def client(request):
    with _cluster(request.param) as cluster, Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def two_workers():
    with _cluster(2) as cluster, Client(cluster, set_as_default=False) as c:
        yield c


# ---------------------------------------------------------------- the unit and its merge


EVIDENCE = [{"name": "m", "quantity": "a * b", "observed": 40.0, "likelihood": "normal",
             "sd": 15.0, "source": "test"},
            {"name": "k", "condition": "c < 7", "source": "test"}]


@pytest.mark.parametrize("evidence", [None, EVIDENCE], ids=["plain", "evidence"])
def test_partials_merged_in_tile_order_equal_one_kernel_call(evidence):
    """Without a cluster: tasks' partials merged in order give the batched kernel's sums
    (under evidence too, with a task long enough to flush its weight lanes)."""
    prog = compile_program(make_scenario(MIXED, MIXED_OUT, evidence=evidence), 3)
    layouts, shifts = _pilot(prog, 16_384, 2)
    job = executors.Job.build(prog, layouts, shifts, 0, 40 * TILE + 9)
    whole = executors.Reductions.empty(len(layouts), job.n_bins, 2, job.w_bins)
    whole.reduce(job, 0, job.n_tiles, 2)
    merged = executors.Reductions.empty(len(layouts), job.n_bins, 2, job.w_bins)
    for tile0, count in ((0, 3), (3, 1), (4, 37)):
        part = executors.reduce_part(job, tile0, count)
        assert part.n_tiles == count and part.counts.dtype == np.int32
        merged.merge(part)
    np.testing.assert_array_equal(merged.totals, whole.totals)
    np.testing.assert_array_equal(merged.histogram_counts(), whole.histogram_counts())
    np.testing.assert_array_equal(merged.nonfinite.sum(axis=0), whole.nonfinite.sum(axis=0))
    assert (merged.weighted is None) == (evidence is None)
    if merged.weighted is not None:
        for name in ("totals", "run"):
            np.testing.assert_array_equal(getattr(merged.weighted, name),
                                          getattr(whole.weighted, name))
        np.testing.assert_array_equal(merged.weighted.histogram_weights(),
                                      whole.weighted.histogram_weights())
        assert merged.weighted.run[2] > 0  # some draws kept weight


def test_importing_and_running_locally_imports_no_dask():
    code = ("import sys\nfrom builders import make_scenario\nfrom mcsim.engine import simulate\n"
            "simulate(make_scenario({'x': {'p5': 1, 'p95': 2}}, {'y': 'x'}), 1000, seed=1)\n"
            "assert not {'dask', 'distributed'} & set(sys.modules), 'imported dask'\n")
    env = _env()
    env["PYTHONPATH"] += os.pathsep + str(Path(__file__).parent)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


# ---------------------------------------------------------------- the same on a cluster


@pytest.mark.parametrize("task_tiles", [1, 3, None])
def test_same_histograms_and_moments_on_any_workers_and_task_size(client, mixed, reference,
                                                                  task_tiles):
    ex = executors.DaskExecutor(client, task_tiles=task_tiles, window=2)
    run = simulate(mixed, DRAWS, seed=21, threads=2, executor=ex)
    _assert_same(run, reference)
    assert run.executor.startswith("Dask")


def test_replicated_designs_and_stop_are_the_same_on_a_cluster(two_workers, mixed):
    ex = executors.DaskExecutor(two_workers, task_tiles=2)
    for kw in ({"sampler": "lhs", "replicates": 3}, {"sampler": "sobol", "replicates": 2}):
        _assert_same(simulate(mixed, 3 * TILE, seed=4, threads=2, executor=ex, **kw),
                     simulate(mixed, 3 * TILE, seed=4, threads=2, **kw))
    seen: list[int] = []

    def stop(sim):  # stops after the second batch: the batches must be the local run's
        seen.append(sim.draws)
        return len(seen) == 2

    local = simulate(mixed, 40 * TILE, seed=4, threads=2, stop=stop)
    local_seen, seen[:] = list(seen), []
    run = simulate(mixed, 40 * TILE, seed=4, threads=2, stop=stop, client=two_workers)
    assert seen == local_seen and run.stopped == local.stopped == "converged"
    _assert_same(run, local)


@pytest.mark.parametrize("task_tiles", [1, 40])  # 40: weight lanes flushed inside a task
def test_evidence_weights_are_the_same_on_a_cluster(two_workers, task_tiles):
    sc = make_scenario(MIXED, MIXED_OUT, evidence=EVIDENCE)
    draws = 45 * TILE + 5
    ex = executors.DaskExecutor(two_workers, task_tiles=task_tiles)
    ref = simulate(sc, draws, seed=8, threads=2)
    assert ref.weights is not None and 0 < ref.weights.positive < draws
    _assert_same(simulate(sc, draws, seed=8, threads=2, executor=ex), ref)


def test_a_killed_worker_changes_nothing(two_workers, mixed, reference):
    """The worker process is killed after the first task is merged: its tasks, and the
    job it may hold, are run again elsewhere (its nanny starts a new worker)."""
    pids = two_workers.run(os.getpid)
    ex = executors.DaskExecutor(two_workers, task_tiles=1, window=2)
    killed = []

    def kill_one(done, total):
        if not killed:
            victim = next(iter(pids.values()))
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    run = simulate(mixed, DRAWS, seed=21, threads=2, executor=ex, progress=kill_one)
    assert killed
    _assert_same(run, reference)
    two_workers.wait_for_workers(2, timeout=60)  # the nanny's new worker, for later tests


def test_interrupting_a_run_cancels_its_tasks(two_workers, mixed):
    def interrupt(done, total):
        raise KeyboardInterrupt

    ex = executors.DaskExecutor(two_workers, task_tiles=1, window=4)
    with pytest.raises(KeyboardInterrupt):
        simulate(mixed, DRAWS, seed=21, executor=ex, progress=interrupt)
    deadline = time.monotonic() + 10
    while two_workers.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
        assert time.monotonic() < deadline, "tasks left on the scheduler"
        time.sleep(0.05)


def test_executor_and_client_are_one_or_the_other(two_workers, mixed):
    with pytest.raises(McsimError, match="not both"):
        simulate(mixed, 1000, seed=1, executor=executors.LocalExecutor(), client=two_workers)


# ---------------------------------------------------------------- the command line


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("summary.csv", "claims.csv")}


def test_run_with_dask_local_writes_the_same_files(scenario_file, tmp_path, monkeypatch,
                                                   capsys):
    args = ["run", str(scenario_file), "-n", "300k", "--seed", "1", "-q", "--out"]
    code, _, _ = run_main([*args, str(tmp_path / "local")], monkeypatch, capsys)
    assert code == 0
    code, out, err = run_main([*args, str(tmp_path / "dask"), "--dask", "local:2"],
                              monkeypatch, capsys)
    assert code == 0, err
    assert "on Dask, 2 worker threads" in out
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["executor"] == "Dask, 2 worker threads"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(scenario_file, tmp_path,
                                                                monkeypatch, capsys):
    out = tmp_path / "out"
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setattr(executors, "CONNECT_SECONDS", 1)
    code, _, err = run_main(["run", str(scenario_file), "-n", "10k", "--seed", "1", "-q",
                             "--out", str(out), "--scheduler", address], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"mcsim: error: --scheduler {address}: cannot reach a Dask "
                          "scheduler within 1 s")
    assert not out.exists()


@pytest.mark.parametrize("option", [["--dask", "local:2"], ["--scheduler", "tcp://x:1"]])
def test_without_dask_the_options_say_what_to_install(option, scenario_file, tmp_path,
                                                      monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    code, _, err = run_main(["run", str(scenario_file), "-n", "10k", "--seed", "1", "-q",
                             "--out", str(tmp_path / "out"), *option], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert 'pip install "mcsim[dask]"' in err
    assert not (tmp_path / "out").exists()


def test_bad_dask_options_are_one_line(scenario_file, monkeypatch, capsys):
    for option in (["--dask", "local:0"], ["--dask", "remote"],
                   ["--dask", "local", "--scheduler", "tcp://x:1"]):
        code, _, err = run_main(["run", str(scenario_file), "-n", "10k", "-q", *option],
                                monkeypatch, capsys)
        assert code == 2 and err.count("\n") == 1 and "--dask" in err, err


class _RealCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (ports chosen by the
    scheduler, read from its scheduler file); ``stop`` ends them all."""

    def __init__(self, folder: Path, workers: int):
        self.file = folder / "scheduler.json"
        self.logs = [open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed in stop
                     for name in ["scheduler", *(f"worker{i}" for i in range(workers))]]
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)], env=_env(), stdout=self.logs[0],
            stderr=subprocess.STDOUT)
        self.workers: list[subprocess.Popen] = []
        try:
            self.address = self._address()
            self.workers = [subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", self.address, "--nthreads", "1",
                 "--no-dashboard", "--host", "127.0.0.1"], env=_env(), stdout=log,
                stderr=subprocess.STDOUT)
                for log in self.logs[1:]]
        except BaseException:
            self.stop()
            raise

    def _address(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited ({self.scheduler.returncode})")
            if self.file.exists() and self.file.stat().st_size:
                return json.loads(self.file.read_text())["address"]
            time.sleep(0.05)
        raise TimeoutError("no dask scheduler after 60 s")

    def wait_for_workers(self, n: int) -> None:
        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(n, timeout=60)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


def test_the_cli_on_a_real_scheduler_and_two_workers(scenario_file, tmp_path, monkeypatch,
                                                     capsys):
    args = ["run", str(scenario_file), "-n", "500k", "--seed", "3", "-q", "--out"]
    cluster = _RealCluster(tmp_path, workers=2)
    try:
        local = run_main([*args, str(tmp_path / "local")], monkeypatch, capsys)
        assert local[0] == 0, local
        cluster.wait_for_workers(2)
        code, out, err = run_main([*args, str(tmp_path / "remote"), "--scheduler",
                                   cluster.address], monkeypatch, capsys)
        assert code == 0, err
        assert "on Dask, 2 worker threads" in out
    finally:
        cluster.stop()
    assert _files(tmp_path / "remote") == _files(tmp_path / "local")


def test_a_scheduler_that_goes_away_is_one_line_and_writes_nothing(scenario_file, tmp_path):
    cluster = _RealCluster(tmp_path, workers=0)  # no workers: the run waits for them
    try:
        out = tmp_path / "out"
        run = subprocess.Popen(
            [sys.executable, "-m", "mcsim", "run", str(scenario_file), "-n", "1M", "-q",
             "--seed", "1", "--out", str(out), "--scheduler", cluster.address], env=_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with Client(cluster.address, timeout=30, set_as_default=False) as c:
                deadline = time.monotonic() + 60
                while not c.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
                    assert time.monotonic() < deadline and run.poll() is None, "no tasks"
                    time.sleep(0.05)
            cluster.scheduler.kill()
            stdout, stderr = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    finally:
        cluster.stop()
    assert run.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "scheduler went away" in stderr, stderr
    assert not out.exists() and not stdout
