"""mcsim: fast Monte Carlo uncertainty for cost claims about AI infrastructure.

Library use (the CLI does exactly this)::

    from mcsim import load_scenario, simulate
    sim = simulate(load_scenario(), draws=10_000_000, seed=7)
    sim.summary(ci=0.9)   # pandas DataFrame: mean, median, equal-tailed interval per output
    sim.claims()          # where each published claim falls

Importing mcsim compiles nothing; the kernels compile (once, cached on disk) on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)

__all__ = ["__version__", "load_scenario", "simulate", "sample", "Simulation", "Scenario",
           "McsimError"]


def __getattr__(name: str):
    # Lazy: keep `import mcsim` and `mcsim --help` free of numba and scipy imports.
    if name in ("simulate", "sample", "Simulation"):
        from . import engine

        return getattr(engine, name)
    if name in ("load_scenario", "Scenario"):
        from . import scenario

        return getattr(scenario, name)
    if name == "McsimError":
        from .errors import McsimError

        return McsimError
    raise AttributeError(f"module 'mcsim' has no attribute {name!r}")
