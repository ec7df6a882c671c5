"""Charts (matplotlib is an optional extra: ``pip install "mcsim[plot]"``), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import McsimError
from .units import format_value

if TYPE_CHECKING:
    from .sensitivity import Tornado

FORMATS = {".png", ".svg", ".pdf"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise McsimError('charts need matplotlib: pip install "mcsim[plot]" '
                         "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_plot_path(path: str | Path) -> None:
    """Fail early on a file name no chart can be written to, or a missing matplotlib."""
    if Path(path).suffix.lower() not in FORMATS:
        raise McsimError(f"--plot: {Path(path).name}: use a .png, .svg or .pdf file name")
    _pyplot()


def _save(fig, path: Path) -> Path:
    check_plot_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=150, bbox_inches="tight")
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as err:
        raise McsimError(f"--plot: cannot write {path}: {err.strerror or err}") from None
    return path


def tornado_chart(tor: Tornado, path: str | Path, top: int = 15) -> Path:
    """Bars for the first method, inputs ranked top-down (negligible ones left out): low-high
    bars around the base case (swing) or the mean (binned), else the value with 2 se."""
    plt = _pyplot()
    method = tor.methods[0]
    rows = tor.table[(tor.table["method"] == method) & ~tor.table["negligible"]]
    rows = rows.sort_values("rank").head(top)
    rows = rows.iloc[::-1]
    height = 0.8 + 0.35 * len(rows)
    fig, ax = plt.subplots(figsize=(8, height))
    y = np.arange(len(rows))
    if method in ("binned", "swing"):
        ref = tor.baseline if method == "swing" else tor.mean
        left = rows["low"].to_numpy()
        right = rows["high"].to_numpy()
        ax.barh(y, right - ref, left=ref, color="#c0504d", label="high")
        ax.barh(y, left - ref, left=ref, color="#4f81bd", label="low")
        ax.axvline(ref, color="black", linewidth=0.8)
        ax.set_xlabel(f"{tor.output} ({tor.unit or 'value'}); line: "
                      f"{'base case' if method == 'swing' else 'mean'} "
                      f"{format_value(ref, tor.unit)}")
    else:
        values = rows["value"].to_numpy()
        ax.barh(y, values, xerr=2 * rows["se"].to_numpy(),
                color=np.where(values >= 0, "#c0504d", "#4f81bd"))
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{method} ({tor.output})")
    ax.set_yticks(y, rows["input"].tolist())
    ax.set_title(f"Tornado: {tor.output} by {method} ({tor.draws:,} draws, seed {tor.seed})",
                 fontsize=10)
    fig.tight_layout()
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)
