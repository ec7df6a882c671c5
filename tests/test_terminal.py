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

from mcsim.cli import _progress_bar

BAR = re.compile(r"\d+%\|.*\| *[\d.]+M?/[\d.]+M \[.*draws/s\]")


def _run_on_a_terminal(args: list[str], columns: int = 80) -> tuple[int, str, str]:
    """``python -m mcsim ARGS`` with stderr on a pseudo-terminal ``columns`` wide: exit code,
    stdout (a pipe) and what the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "mcsim", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=env)
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
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), shown.decode(errors="replace")


def test_progress_bar_shows_on_a_terminal_and_only_there(tmp_path):
    """A run of a few seconds draws the bar on stderr (a terminal); stdout stays clean."""
    code, out, shown = _run_on_a_terminal(
        ["run", "--draws", "15M", "--threads", "1", "--seed", "1", "--out",
         str(tmp_path / "r")])
    assert code == 0, shown
    assert BAR.search(shown), shown
    assert "%|" not in out and "summary.csv" in out


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
