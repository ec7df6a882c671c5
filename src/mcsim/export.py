"""Write results to disk so that a reader never sees half a file or a mix of two runs.

A results folder is replaced whole (``write_folder``):

1. under a lock (``.<name>.lock`` beside the folder: one writer at a time; a second one waits),
2. the complete new folder is written beside the old one as ``.<name>.mcsim-new-*``,
3. one ``renameat2(RENAME_EXCHANGE)`` swaps the two (Linux; elsewhere the old folder is
   renamed aside to ``.<name>.mcsim-old-*`` and the new one renamed into place, so for a
   moment there is no folder, never a mixed one),
4. the old folder, now under the temporary name, is removed.

From step 3 to the end, SIGINT, SIGTERM and SIGHUP are held by a Python-level handler and
acted on afterwards. CPython runs signal handlers in the main thread whichever thread the
kernel delivered the signal to (numba's workers included), so unlike a signal mask this holds
them all. On any exception, or a signal before step 3, the new folder is removed and the old
one is left as it was; a folder left by a killed writer (SIGKILL) is removed by the next
writer to that name. Single files (``write_file``) go to a temporary name and are renamed
into place. Every path committed is recorded (``written``), so an interrupted command can say
truthfully what it wrote.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import McsimError

if TYPE_CHECKING:
    import pandas as pd

    from .engine import Simulation

CHARTS = "charts"  # the subfolder of a results folder that holds run --plot's charts
# What mcsim writes into a results folder (run and report). A folder holding anything else is
# not replaced: it is someone's, and replacing a folder removes what it held.
RESULT_NAMES = frozenset({"summary.csv", "claims.csv", "manifest.json", "index.html",
                          "comparison.csv", "sweep.csv", "sweep.png", "quantiles.csv",
                          CHARTS})
LOCK_WAIT_SECONDS = 60.0  # how long a writer waits for another one to finish
TEST_HOOK = "MCSIM_TEST_EXPORT"  # see _test_step; read by this module only
_HELD_SIGNALS = tuple(getattr(signal, s) for s in ("SIGINT", "SIGTERM", "SIGHUP")
                      if hasattr(signal, s))
_written: list[Path] = []


def written() -> tuple[Path, ...]:
    """Every folder and file this process has committed to disk so far, in order."""
    return tuple(_written)


def default_out_dir(scenario_name: str, root: str | Path = "results") -> Path:
    """Create and return ``results/<scenario>-<UTC time>`` (with a suffix if that folder
    exists already): created here, so two runs in the same second never share one."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        for k in range(1, 10_000):
            folder = Path(root) / (f"{scenario_name}-{stamp}" + (f"-{k}" if k > 1 else ""))
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as err:
        raise McsimError(f"--out: cannot create a folder in {root}: {err.strerror or err}") \
            from None
    raise McsimError(f"--out: {root} holds 10,000 folders named {scenario_name}-{stamp}")


def check_out_dir(out_dir: str | Path, option: str = "--out") -> Path:
    """Fail before a run, not after it, when results could not be written to ``out_dir``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise McsimError(f"{option}: {out_dir} exists and is not a folder")
    parent = out_dir if out_dir.is_dir() else out_dir.parent
    for p in [parent, *parent.parents]:
        if p.exists():
            if not p.is_dir():
                raise McsimError(f"{option}: cannot create {out_dir}: {p} is a file")
            if not os.access(p, os.W_OK | os.X_OK):
                raise McsimError(f"{option}: cannot write in {p}: permission denied")
            break
    return out_dir


def check_results_dir(out_dir: str | Path, option: str = "--out") -> Path:
    """``check_out_dir``, and that ``out_dir`` may be replaced whole: it does not exist, or
    holds nothing but what mcsim writes (``RESULT_NAMES``), and is not the working folder."""
    out_dir = check_out_dir(out_dir, option)
    _check_replaceable(out_dir, option)
    return out_dir


def manifest(sim: Simulation, ci: float) -> dict:
    """How a run was made: enough to reproduce it and to compare its speed."""
    import numba
    import numpy
    import pandas
    import scipy

    from . import __version__

    return {
        "mcsim": __version__,
        "scenario": {"name": sim.scenario.name, "title": sim.scenario.title,
                     "path": sim.scenario.path, "sha256": sim.scenario.sha256},
        "correlation_repairs": [{"a": r.a, "b": r.b, "requested": r.requested,
                                 "repaired": r.repaired} for r in sim.scenario.repairs],
        "seed": sim.seed, "draws": sim.draws, "stopped": sim.stopped, "ci_level": ci,
        "sampler": sim.sampler, "quantiles": list(sim.quantiles),
        "replicates": len(sim.replicates) or None,
        "errors": ("spread of independent replicates" if sim.replicates
                   else "iid Monte Carlo formulas"),
        "evidence": _evidence_record(sim),
        "threads": sim.threads, "executor": sim.executor,
        "wall_seconds": round(sim.wall_seconds, 4),
        "kernel_seconds": round(sim.kernel_seconds, 4),
        "draws_per_second": round(sim.draws_per_second),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "numpy": numpy.__version__,
                     "scipy": scipy.__version__, "pandas": pandas.__version__,
                     "numba": numba.__version__},
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
        "command": sys.argv,
    }


def _evidence_record(sim: Simulation) -> dict | None:
    """What weighted the draws, and how many effective draws it left (None: no evidence)."""
    w = sim.weights
    if w is None:
        return None
    return {"pieces": [{"name": ev.name, "what": ev.describe(), "source": ev.source}
                       for ev in sim.scenario.evidence],
            "effective_sample_size": round(w.ess, 1), "share": w.share,
            "positive_weights": w.positive, "nonfinite_weights": w.nonfinite,
            "weight_unit": "2**-40 of the largest likelihood"}


def write_results(sim: Simulation, out_dir: str | Path, ci: float,
                  summary: pd.DataFrame | None = None, claims: pd.DataFrame | None = None,
                  extra: Mapping[str, str | bytes] | None = None) -> Path:
    """Replace ``out_dir`` by a folder of summary.csv, claims.csv and manifest.json (and
    quantiles.csv when the run asked for quantiles, and ``extra`` files, such as charts), all
    or nothing (see ``write_folder``).

    Pass the ``summary`` and ``claims`` frames already shown to the user, so that the files
    hold exactly what was printed.
    """
    summary = sim.summary(ci) if summary is None else summary
    claims = sim.claims() if claims is None else claims
    files = {
        "summary.csv": summary.to_csv(index=False),
        "claims.csv": claims.to_csv(index=False),
        "manifest.json": json.dumps(manifest(sim, ci), indent=2) + "\n",
        **(extra or {}),
    }
    if sim.quantiles:
        files["quantiles.csv"] = sim.quantile_table().to_csv(index=False)
    return write_folder(Path(out_dir), files)


def write_folder(out_dir: Path, files: Mapping[str, str | bytes],
                 option: str = "--out") -> Path:
    """Replace ``out_dir`` by a folder holding exactly ``files`` (relative name -> text or
    bytes), in one step, as the module docstring describes.

    ``out_dir`` may not exist yet, or must pass ``check_results_dir``. Another writer to the
    same folder is waited for (``LOCK_WAIT_SECONDS`` at most).
    """
    out_dir = Path(out_dir)
    target = out_dir.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target, option):
            _test_step("locked")
            _remove_leftovers(target)
            _check_replaceable(out_dir, option)
            new = Path(tempfile.mkdtemp(prefix=f".{target.name}.mcsim-new-",
                                        dir=target.parent))
            try:
                new.chmod(0o777 & ~_umask())  # mkdtemp's folder is private; results are not
                for name, data in files.items():
                    (new / name).parent.mkdir(parents=True, exist_ok=True)
                    (new / name).write_bytes(_encode(data))
                _test_step("built")
                with _signals_held():
                    old = _swap(new, target)
                    _written.append(out_dir)
                    _test_step("swapped")
                    if old is not None:  # what cannot be removed now, the next writer does
                        shutil.rmtree(old, ignore_errors=True)
            except BaseException:
                with _signals_held():
                    shutil.rmtree(new, ignore_errors=True)
                raise
    except OSError as err:
        raise McsimError(f"{option}: cannot write {out_dir}: {err.strerror or err}") from None
    return out_dir


def write_file(path: str | Path, data: str | bytes, option: str) -> Path:
    """Write one file atomically: a temporary file beside it, renamed into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's file is private; results are not
            with os.fdopen(fd, "wb") as fh:
                fh.write(_encode(data))
            _test_step("built")
            with _signals_held():
                os.replace(tmp, path)
                _written.append(path)
        except BaseException:
            with _signals_held():
                Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise McsimError(f"{option}: cannot write {path}: {err.strerror or err}") from None
    return path


def write_csv(frame, path: str | Path, option: str = "--csv") -> Path:
    """Write a DataFrame as CSV atomically (temporary file, then rename)."""
    return write_file(path, frame.to_csv(index=False), option)


def _check_replaceable(out_dir: Path, option: str) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise McsimError(f"{option}: {out_dir} exists and is not a folder")
    folder = out_dir.resolve()
    try:
        cwd = Path.cwd()
    except OSError:  # the working folder was removed: it cannot be inside out_dir
        cwd = None
    if cwd is not None and (folder == cwd or folder in cwd.parents):
        raise McsimError(f"{option}: {out_dir} holds the working folder; results replace "
                         f"their folder whole, so give them one of their own")
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in RESULT_NAMES)
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise McsimError(f"{option}: {out_dir} holds {foreign[0]}{more}, not an mcsim result "
                         f"file; results replace their folder whole, so choose a new or empty "
                         f"folder")


@contextmanager
def _locked(target: Path, option: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``.<name>.lock`` beside ``target``, waiting for another
    writer up to ``LOCK_WAIT_SECONDS``. The kernel releases it when a process dies, however it
    dies; the file is removed on release, and a lock taken on a file that its holder had
    just removed is dropped and taken again on the new one."""
    import fcntl

    path = target.with_name(f".{target.name}.lock")
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    waiting = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() > deadline:
                raise McsimError(f"{option}: another mcsim has been writing {target} for "
                                 f"{LOCK_WAIT_SECONDS:.0f} s; try again later") from None
            if not waiting:
                _test_step("waiting")
                waiting = True
            time.sleep(0.05)
            continue
        except BaseException:
            os.close(fd)
            raise
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder removed it after we opened it: lock the file there now
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before the release, so no one else holds it then
        os.close(fd)


def _remove_leftovers(target: Path) -> None:
    """Remove the temporary folders of a writer to ``target`` killed before it could (only
    called with the lock held, so no live writer owns them)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.mcsim-(new|old)-[a-z0-9_]{{8}}")
    for p in target.parent.iterdir():
        if pattern.fullmatch(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)


def _swap(new: Path, target: Path) -> Path | None:
    """Put folder ``new`` at ``target``; return where the old folder now is (None if there
    was none)."""
    if not target.exists():
        os.rename(new, target)
        return None
    if "two-renames" not in _test_settings() and _exchange(new, target):
        return new
    aside = new.with_name(new.name.replace(".mcsim-new-", ".mcsim-old-"))
    os.rename(target, aside)
    _test_step("moved-aside")
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    return aside


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False
    where the platform or the file system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    import ctypes
    import errno

    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@cache
def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc >= 2.28
    except OSError:
        return None


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then act on them as usual.

    A Python-level handler, not a signal mask: it holds a signal whichever thread the kernel
    delivered it to. Outside the main thread, where handlers cannot be set, the block just
    runs (a library caller's thread has no handlers of its own to keep).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
                for s in _HELD_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)


def _test_settings() -> dict[str, str]:
    """``MCSIM_TEST_EXPORT``: comma-separated ``step=FILE`` (at that step, wait until FILE
    exists) and ``two-renames`` (do not swap in one step); for the tests of interruption."""
    items = (i.partition("=") for i in os.environ.get(TEST_HOOK, "").split(",") if i)
    return {step: gate for step, _, gate in items}


def _test_step(step: str) -> None:
    """Under the test hook: say which step the write has reached, and wait if asked to."""
    settings = _test_settings()
    if not settings:
        return
    print(f"mcsim-test: {step}", file=sys.stderr, flush=True)
    gate = settings.get(step)
    if gate:
        while not os.path.exists(gate):
            time.sleep(0.01)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _encode(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")
