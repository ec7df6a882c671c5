"""What a person at a terminal sees: the progress bar (on a real pseudo-terminal), and nothing
of it when stderr is not a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

from builders import run_main, write_scenario
from mcsim.cli import _progress_bar
from mcsim.scenario import load_scenario

BAR = re.compile(r"\d+%\|.*\| *[\d.]+M?/[\d.]+M \[.*draws/s\]")


def _run_on_a_terminal(args: list[str], columns: int = 80) -> tuple[int, str]:
    """``python -m mcsim ARGS`` with stdout and stderr on a pseudo-terminal ``columns`` wide:
    the exit code and what the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "mcsim", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal's other end has closed it
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=120), shown.decode()


def test_a_run_on_an_80_column_terminal_shows_a_bar_and_fits(tmp_path):
    """A run of a few seconds draws the progress bar, and every line of its tables fits."""
    code, shown = _run_on_a_terminal(
        ["run", "--draws", "15M", "--threads", "1", "--seed", "1", "--out",
         str(tmp_path / "r")])
    assert code == 0, shown
    assert BAR.search(shown), shown
    lines = re.split(r"\r\n|\r|\n", shown)
    assert "deepseek: seed 1, 15,000,000 draws, 1 thread," in shown
    assert [line for line in lines if len(line) > 80 and not line.startswith("wrote ")] == []
    assert any(line.startswith("press_266x") for line in lines)


def test_no_progress_bar_when_quiet_on_a_terminal(monkeypatch):
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal, os.fdopen(master, "rb", buffering=0):
        monkeypatch.setattr(sys, "stderr", terminal)
        with _progress_bar(1000, quiet=True) as progress:
            assert progress is None
        with _progress_bar(1000, quiet=False) as progress:
            assert progress is not None  # the same terminal, not quiet: a bar


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, monkeypatch):
    with open(tmp_path / "err", "w") as not_a_terminal:
        monkeypatch.setattr(sys, "stderr", not_a_terminal)
        with _progress_bar(1000, quiet=False) as progress:
            assert progress is None
    assert (tmp_path / "err").read_text() == ""


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("wrote ")]


def test_every_command_fits_80_columns_and_the_csvs_stay_whole(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    out_dir = tmp_path / "r"
    for args in (["run", "-n", "20k", "--seed", "1", "--out", str(out_dir)], ["check"],
                 ["sensitivity", "-o", "tco", "-n", "20k", "--seed", "1"]):
        code, out, err = run_main(args, monkeypatch, capsys)
        assert code == 0, err
        too_wide = [line for line in _lines(out) if len(line) > 80]
        assert too_wide == [], (args[0], too_wide)
    labels = [o.label for o in load_scenario().outputs]
    assert max(map(len, labels)) > 40  # so that the table above had to wrap them
    assert (out_dir / "summary.csv").read_text().count(max(labels, key=len)) == 1


def test_output_to_a_file_keeps_its_lines_whole(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, err = run_main(["run", "-n", "20k", "--seed", "1", "-q", "--out",
                               str(tmp_path / "r")], monkeypatch, capsys)
    assert code == 0, err
    longest = max(load_scenario().outputs, key=lambda o: len(o.label)).label
    assert any(line.startswith(longest) for line in out.splitlines())


def test_the_header_names_a_builtin_scenario_and_a_file_by_its_relative_path(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "views").mkdir()
    path = write_scenario(tmp_path / "views")
    header = {}
    for name, spec in (("builtin", "deepseek"), ("relative", "views/view.toml"),
                       ("absolute", str(path))):
        code, out, err = run_main(["run", spec, "-n", "2k", "--seed", "1", "-q", "--out",
                                   str(tmp_path / name)], monkeypatch, capsys)
        assert code == 0, err
        header[name] = out.splitlines()[1]
    assert header["builtin"].startswith("deepseek: seed 1, 2,000 draws")
    assert header["relative"].startswith("views/view.toml: seed 1")
    assert header["absolute"].startswith("views/view.toml: seed 1")  # inside the working folder
    monkeypatch.chdir(tmp_path / "builtin")
    code, out, _ = run_main(["check", str(path)], monkeypatch, capsys)
    assert out.startswith(f"{path}: OK")  # outside it: the whole path
