"""Write results to disk atomically: files go to a temporary name and are renamed into place,
so an interrupted run never leaves a half-written CSV or manifest."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import McsimError

if TYPE_CHECKING:
    import pandas as pd

    from .engine import Simulation


def default_out_dir(scenario_name: str, root: str | Path = "results") -> Path:
    """``results/<scenario>-<UTC time>``, with a suffix if that folder exists already."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(root) / f"{scenario_name}-{stamp}"
    k = 2
    while folder.exists():
        folder = Path(root) / f"{scenario_name}-{stamp}-{k}"
        k += 1
    return folder


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
        "sampler": sim.sampler,
        "replicates": len(sim.replicates) or None,
        "errors": ("spread of independent replicates" if sim.replicates
                   else "iid Monte Carlo formulas"),
        "threads": sim.threads,
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


def write_results(sim: Simulation, out_dir: str | Path, ci: float,
                  summary: pd.DataFrame | None = None, claims: pd.DataFrame | None = None,
                  extra: Mapping[str, str | bytes] | None = None) -> Path:
    """Write summary.csv, claims.csv and manifest.json (and ``extra`` files, such as charts)
    into ``out_dir``, all or nothing.

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
    return write_files(Path(out_dir), files, owned=(CHARTS,))


CHARTS = "charts"  # the subfolder of a results folder that holds run --plot's charts


def write_files(out_dir: Path, files: Mapping[str, str | bytes],
                owned: tuple[str, ...] = ()) -> Path:
    """Create ``out_dir`` with ``files`` (relative name -> text or bytes) atomically.

    A new folder is built under a temporary name beside it and renamed into place. In an
    existing folder every file is first written under a temporary name; then all are renamed
    over the old ones with Ctrl-C held off, and files of an earlier run left in the ``owned``
    subfolders (or ``owned`` files this run does not write) are removed, so the folder never
    mixes two runs.
    """
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            if not out_dir.is_dir():
                raise McsimError(f"--out: {out_dir} exists and is not a folder")
            _replace_all(out_dir, files, owned)
            return out_dir
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
        try:
            tmp.chmod(0o777 & ~_umask())  # mkdtemp's folder is private; results are not
            for name, data in files.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_bytes(_encode(data))
            tmp.rename(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as err:
        raise McsimError(f"--out: cannot write {out_dir}: {err.strerror or err}") from None
    return out_dir


def write_csv(frame, path: str | Path, option: str = "--csv") -> Path:
    """Write a DataFrame as CSV atomically (temporary file, then rename)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, frame.to_csv(index=False))
    except OSError as err:
        raise McsimError(f"{option}: cannot write {path}: {err.strerror or err}") from None
    return path


def temp_file(folder: Path, name: str) -> tuple[int, str]:
    """A temporary file beside ``folder / name`` for an atomic write, with the permissions a
    plain new file would get (mkstemp's are private to the owner)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _encode(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")


def _replace_all(folder: Path, files: Mapping[str, str | bytes],
                 owned: tuple[str, ...]) -> None:
    temps: dict[str, str] = {}
    try:
        for name, data in files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temps[name] = temp_file(target.parent, target.name)
            with os.fdopen(fd, "wb") as fh:
                fh.write(_encode(data))
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for name, tmp in temps.items():
                os.replace(tmp, folder / name)
            new = {(folder / name).resolve() for name in files}
            for sub in owned:
                if (folder / sub).is_file() and (folder / sub).resolve() not in new:
                    (folder / sub).unlink()  # an owned file this run does not write
                for stale in sorted((folder / sub).glob("*")):
                    if stale.is_file() and stale.resolve() not in new:
                        stale.unlink()
                if (folder / sub).is_dir() and not any((folder / sub).iterdir()):
                    (folder / sub).rmdir()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = temp_file(path.parent, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
