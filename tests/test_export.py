"""A results folder never holds files from two runs: it is swapped whole, one writer at a time,
and signals (real ones, sent while the renames are held up by the test hook) leave either the
old folder or the new one, no temporary files, and a message that says which."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import mcsim
from builders import run_main, write_scenario
from mcsim import export, plot
from mcsim.cli import cli
from mcsim.errors import McsimError

RESULTS = ["claims.csv", "manifest.json", "summary.csv"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A scenario file and, for seeds 1 and 2, the files of a run (reference results)."""
    folder = tmp_path_factory.mktemp("runs")
    scenario = write_scenario(folder)
    for seed in (1, 2):
        result = CliRunner().invoke(cli, ["run", str(scenario), "-n", "5k", "--seed", str(seed),
                                          "-q", "--out", str(folder / f"seed{seed}")])
        assert result.exit_code == 0, result.output
    return scenario, folder


def _which_run(out: Path, runs) -> int:
    """The seed of the one run whose files ``out`` holds; fails on a mix of two runs."""
    _, refs = runs
    assert sorted(p.name for p in out.iterdir()) == RESULTS
    seed = json.loads((out / "manifest.json").read_text())["seed"]
    for name in ("summary.csv", "claims.csv"):
        assert (out / name).read_bytes() == (refs / f"seed{seed}" / name).read_bytes(), name
    return seed


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _start(args: list[str], hook: str = "", **env: str) -> subprocess.Popen:
    """``python -m mcsim ARGS`` from this tree, with the export test hook set to ``hook``."""
    src = str(Path(mcsim.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           export.TEST_HOOK: hook, **env}
    return subprocess.Popen([sys.executable, "-m", "mcsim", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(proc: subprocess.Popen, line: str, timeout: float = 120) -> str:
    """Read ``proc``'s stderr up to ``line``; return what came before it."""
    assert proc.stderr is not None
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = proc.stderr.readline()
        if got.strip() == line:
            return "".join(seen)
        if not got:
            break
        seen.append(got)
    proc.kill()
    raise AssertionError(f"no {line!r} from mcsim; stderr was:\n{''.join(seen)}")


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


# ---------------------------------------------------------------- in process


def test_a_folder_is_swapped_whole_and_leaves_nothing_beside_it(tmp_path, monkeypatch):
    out = tmp_path / "res"
    export.write_folder(out, {"summary.csv": "a\n", "charts/x.png": b"png"})
    for hook in ("", "two-renames"):  # one renameat2 exchange, then the two-rename fallback
        before = out.stat().st_ino
        monkeypatch.setenv(export.TEST_HOOK, hook)
        export.write_folder(out, {"summary.csv": f"b{hook}\n", "claims.csv": "c\n"})
        assert sorted(p.name for p in out.iterdir()) == ["claims.csv", "summary.csv"]
        assert (out / "summary.csv").read_text() == f"b{hook}\n"
        assert out.stat().st_ino != before  # a new folder, not the old one rewritten
        assert _hidden(tmp_path) == []
    assert export.written()[-3:] == (out, out, out)


def test_a_folder_mcsim_did_not_write_is_never_replaced(tmp_path, monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(McsimError, match="holds notes.txt, not an mcsim result file"):
        export.write_folder(out, {"summary.csv": "a\n"})
    assert (out / "notes.txt").read_text() == "keep me"
    assert _hidden(tmp_path) == []
    monkeypatch.chdir(tmp_path / "mine")
    (out / "notes.txt").unlink()
    with pytest.raises(McsimError, match="holds the working folder"):
        export.check_results_dir(".")


def test_a_signal_taken_by_another_thread_waits_for_the_swap(tmp_path, monkeypatch):
    """numba's workers, like any thread, can take a process's SIGINT: whichever takes it, the
    swap finishes and Ctrl-C takes effect after it."""
    out = tmp_path / "res"
    export.write_folder(out, {"summary.csv": "old\n", "claims.csv": "old\n"})
    idle = threading.Event()
    worker = threading.Thread(target=idle.wait)
    worker.start()
    steps = []

    def step(name):
        steps.append(name)
        if name == "moved-aside":  # the old folder is aside and the new one not yet in place
            signal.pthread_kill(worker.ident, signal.SIGINT)
            time.sleep(0.05)  # the main thread runs Python code meanwhile

    monkeypatch.setattr(export, "_test_step", step)
    monkeypatch.setenv(export.TEST_HOOK, "two-renames")
    try:
        with pytest.raises(KeyboardInterrupt):
            export.write_folder(out, {"summary.csv": "new\n", "claims.csv": "new\n"})
    finally:
        idle.set()
        worker.join()
    assert steps == ["locked", "built", "moved-aside", "swapped"]
    assert [(out / n).read_text() for n in ("claims.csv", "summary.csv")] == ["new\n"] * 2
    assert export.written()[-1] == out
    assert _hidden(tmp_path) == []


def test_leftovers_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    out = tmp_path / "res"
    for name in (".res.mcsim-new-abcd_123", ".res.mcsim-old-zz99xx00", ".resx.mcsim-new-abcdefgh"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.csv").write_text("stale")
    (tmp_path / ".res.lock").touch()
    export.write_folder(out, {"summary.csv": "a\n"})
    assert _hidden(tmp_path) == [".resx.mcsim-new-abcdefgh"]  # another folder's: not ours


def test_a_writer_waits_for_another_then_gives_up_in_one_line(tmp_path, monkeypatch):
    out = tmp_path / "res"
    monkeypatch.setattr(export, "LOCK_WAIT_SECONDS", 0.3)
    with export._locked(out.resolve(), "--out"):  # another open file: flock says busy
        start = time.monotonic()
        with pytest.raises(McsimError, match="another mcsim has been writing .* try again"):
            export.write_folder(out, {"summary.csv": "a\n"})
        assert time.monotonic() - start >= 0.3
    assert not out.exists() and _hidden(tmp_path) == []


def test_existing_single_files_are_replaced_atomically(tmp_path):
    path = tmp_path / "t.csv"
    for text in ("one\n", "two\n"):
        assert export.write_file(path, text, "--csv") == path
    assert path.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


# ---------------------------------------------------------------- real signals, real processes


@pytest.mark.parametrize(("step", "sig", "hook", "after"), [
    ("built", signal.SIGINT, "", 1),  # the new folder is complete, nothing swapped yet
    ("built", signal.SIGTERM, "", 1),
    ("swapped", signal.SIGINT, "", 2),  # swapped; the old folder is not yet removed
    ("moved-aside", signal.SIGTERM, "two-renames", 2),  # no folder at the name for a moment
    ("moved-aside", signal.SIGHUP, "two-renames", 2),
])
def test_a_signal_during_the_renames_leaves_one_whole_run(step, sig, hook, after, runs, tmp_path):
    scenario, refs = runs
    out = tmp_path / "res"
    CliRunner().invoke(cli, ["run", str(scenario), "-n", "5k", "--seed", "1", "-q",
                             "--out", str(out)])
    gate = tmp_path / "go"
    proc = _start(["run", str(scenario), "-n", "5k", "--seed", "2", "-q", "--out", str(out)],
                  ",".join(filter(None, [hook, f"{step}={gate}"])))
    _wait_for(proc, f"mcsim-test: {step}")
    os.kill(proc.pid, sig)
    time.sleep(0.2)  # the signal is taken, and held if the swap has begun
    gate.touch()
    code, err = _finish(proc)
    how = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
           signal.SIGHUP: "hung up"}[sig]
    assert code == 128 + sig
    said = err.strip().splitlines()[-1]
    assert said == (f"mcsim: {how}; no results written" if after == 1
                    else f"mcsim: {how} after writing {out}")
    assert "Traceback" not in err
    assert _which_run(out, runs) == after
    assert _hidden(tmp_path) == []


def test_sigkill_leaves_the_old_run_and_the_next_writer_cleans_up(runs, tmp_path):
    scenario, _ = runs
    out = tmp_path / "res"
    args = ["run", str(scenario), "-n", "5k", "-q", "--out", str(out)]
    CliRunner().invoke(cli, [*args, "--seed", "1"])
    proc = _start([*args, "--seed", "2"], f"built={tmp_path / 'never'}")
    _wait_for(proc, "mcsim-test: built")
    proc.kill()
    assert _finish(proc)[0] == -signal.SIGKILL
    assert _which_run(out, runs) == 1
    assert len(_hidden(tmp_path)) == 2  # .res.lock and .res.mcsim-new-*: nothing can catch it
    assert CliRunner().invoke(cli, [*args, "--seed", "2"]).exit_code == 0
    assert _which_run(out, runs) == 2
    assert _hidden(tmp_path) == []


def test_two_runs_to_one_folder_take_turns(runs, tmp_path):
    """The second writer waits while the first holds the folder, then replaces it whole."""
    scenario, _ = runs
    out = tmp_path / "res"
    gate = tmp_path / "go"
    args = ["run", str(scenario), "-n", "5k", "-q", "--out", str(out)]
    first = _start([*args, "--seed", "1"], f"built={gate}")
    _wait_for(first, "mcsim-test: built")  # holding the lock, its new folder complete
    second = _start([*args, "--seed", "2"], "two-renames")
    _wait_for(second, "mcsim-test: waiting")
    gate.touch()
    assert _finish(first)[0] == 0
    code, err = _finish(second)
    assert code == 0, err
    assert err.split() == ["mcsim-test:", "locked", "mcsim-test:", "built", "mcsim-test:",
                           "moved-aside", "mcsim-test:", "swapped"]
    assert _which_run(out, runs) == 2
    assert _hidden(tmp_path) == []


def test_ctrl_c_during_the_draws_exits_130_and_writes_nothing(runs, tmp_path):
    scenario, _ = runs
    out = tmp_path / "res"
    proc = _start(["run", str(scenario), "-n", "1B", "--seed", "1", "-q", "--out", str(out)],
                  OPENBLAS_NUM_THREADS="1")  # so that a second thread means numba's pool
    deadline = time.monotonic() + 120
    while _threads(proc.pid) < 2 and time.monotonic() < deadline:  # numba's pool: drawing
        time.sleep(0.05)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130
    assert err.strip() == "mcsim: interrupted; no results written"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():  # not Linux: assume the draws have begun after a while
        time.sleep(3)
        return 2
    line = next(ln for ln in status.read_text().splitlines() if ln.startswith("Threads:"))
    return int(line.split()[1])


def test_an_interrupt_after_a_file_was_written_names_it(runs, tmp_path, monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(plot, "tornado_chart", interrupted)  # Ctrl-C between the two files
    scenario, _ = runs
    csv, png = tmp_path / "t.csv", tmp_path / "t.png"
    code, _, err = run_main(["sensitivity", str(scenario), "--output", "cost", "-n", "20k",
                             "--seed", "1", "-q", "--csv", str(csv), "--plot", str(png)],
                            monkeypatch, capsys)
    assert code == 130
    assert err.strip() == f"mcsim: interrupted after writing {csv}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
