"""Write results to disk atomically: files go to a temporary name and are renamed into place,
so an interrupted run never leaves a half-written CSV or manifest."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import McsimError

if TYPE_CHECKING:
    from .engine import Simulation


def default_out_dir(scenario_name: str, root: str | Path = "results") -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(root) / f"{scenario_name}-{stamp}"


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
        "seed": sim.seed, "draws": sim.draws, "ci_level": ci, "threads": sim.threads,
        "wall_seconds": round(sim.wall_seconds, 4),
        "draws_per_second": round(sim.draws_per_second),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "numpy": numpy.__version__,
                     "scipy": scipy.__version__, "pandas": pandas.__version__,
                     "numba": numba.__version__},
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
        "command": sys.argv,
    }


def write_results(sim: Simulation, out_dir: str | Path, ci: float) -> Path:
    """Write summary.csv, claims.csv and manifest.json into ``out_dir``, all or nothing."""
    files = {
        "summary.csv": sim.summary(ci).to_csv(index=False),
        "claims.csv": sim.claims().to_csv(index=False),
        "manifest.json": json.dumps(manifest(sim, ci), indent=2) + "\n",
    }
    return write_files(Path(out_dir), files)


def write_files(out_dir: Path, files: dict[str, str]) -> Path:
    """Create ``out_dir`` with ``files`` (name -> text) atomically.

    A new folder is built under a temporary name beside it and renamed into place; in an
    existing folder each file is written to a temporary name and renamed over the old one.
    """
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            if not out_dir.is_dir():
                raise McsimError(f"--out: {out_dir} exists and is not a folder")
            for name, text in files.items():
                _write_atomic(out_dir / name, text)
            return out_dir
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
        try:
            for name, text in files.items():
                (tmp / name).write_text(text, encoding="utf-8")
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


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
