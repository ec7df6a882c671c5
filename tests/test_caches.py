"""Caches are a convenience: with nowhere to keep them, mcsim runs without them after one
warning line, and it never creates a home folder that does not exist."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mcsim
from mcsim import _kernels as K
from mcsim import distributions as D
from mcsim import tables

PACKAGE = Path(mcsim.__file__).parent
KERNELS_WARNING = ("mcsim: warning: no writable folder for compiled kernels (set NUMBA_CACHE_DIR); "
                   "they are compiled again in every run\n")


def _python(code_or_args: list[str], env: dict[str, str], cwd: Path):
    base = {k: v for k, v in os.environ.items()
            if k not in ("MCSIM_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR", "MPLCONFIGDIR")}
    return subprocess.run([sys.executable, *code_or_args], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_no_writable_kernel_cache_means_uncached_kernels_and_one_line(tmp_path):
    """numba's cache folder, the package's __pycache__ and HOME all unusable (even for root:
    each is under a file), as on a read-only install: the kernels still run."""
    copy = tmp_path / "site"
    shutil.copytree(PACKAGE, copy / "mcsim", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "mcsim" / "__pycache__").write_text("a file, so no folder can be made here")
    env = {"PYTHONPATH": str(copy), "HOME": "/dev/null", "NUMBA_CACHE_DIR": "/dev/null/numba"}
    code = "from mcsim import _jit, _kernels as K\nprint(_jit.CACHE, repr(K.uniform01(1, 2)))"
    proc = _python(["-c", code], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"False {K.uniform01(1, 2)!r}\n"
    assert proc.stderr == KERNELS_WARNING


def test_a_missing_home_is_never_created(tmp_path):
    """``HOME=/nonexistent``: the run goes on with tables built in memory, one warning, and
    matplotlib (which would create the home for its settings) reads them from a temporary
    folder that is gone afterwards."""
    home, temp = tmp_path / "nonexistent", tmp_path / "tmp"
    temp.mkdir()
    proc = _python(["-m", "mcsim", "run", "-n", "10k", "--seed", "1", "-q",  # PERTs: tables
                    "--plot", "--out", str(tmp_path / "r")],
                   {"HOME": str(home), "TMPDIR": str(temp)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (f"mcsim: warning: no home folder at {home}; "
                           "inverse-CDF tables are not cached (set MCSIM_CACHE_DIR)\n")
    assert not home.exists()
    assert not list(temp.glob("mcsim-matplotlib-*"))
    assert (tmp_path / "r" / "summary.csv").exists() and list((tmp_path / "r" / "charts").iterdir())


def test_tables_say_once_that_they_cannot_be_cached(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MCSIM_CACHE_DIR", str(blocker))
    monkeypatch.setattr(tables, "_NOT_CACHED_SAID", [])
    tables._table.cache_clear()
    try:
        for dist in (D.pert(1.0, 2.0, 7.0), D.pert(1.0, 3.0, 7.0)):
            assert dist.kernel_spec().family == D.K.F_TABLE
    finally:
        tables._table.cache_clear()
    err = capsys.readouterr().err
    assert err == (f"mcsim: warning: cannot write {blocker}/tables: Not a directory; "
                   "inverse-CDF tables are not cached (set MCSIM_CACHE_DIR)\n")
