"""Sampling designs: plain Monte Carlo, Latin hypercube and scrambled Sobol'.

A design decides how each input's stream turns into uniforms; the inverse CDFs and the model
are the same for all three. Latin hypercube and Sobol' runs are made of independent
replicates (``replicates`` × ``replicate_draws`` draws), each its own randomised design, so
their Monte Carlo error is measured from the spread between replicates rather than from iid
formulas, which would overstate it.

- ``lhs``: in replicate r, input i's draw j falls in cell ``perm_ir(j)`` of ``m`` equal cells,
  jittered inside it. The permutation is a keyed Feistel network (``_kernels.lhs_permute``),
  so draws are computed on demand, in any order, on any thread, in bounded memory.
- ``sobol``: replicate r is a 2**k-point Sobol' net, scrambled by scipy.stats.qmc.Sobol
  (linear matrix scramble plus digital shift). The kernel regenerates scipy's points from
  that engine's scrambled direction numbers (checked bit for bit against scipy in the tests),
  in parallel and in any order, plus a 20-bit jitter below scipy's 32 bits, so no point is
  0 or 1 exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _codes as C
from .errors import McsimError

if TYPE_CHECKING:
    import numpy as np

# The CLI offers these without importing numpy (numpy is imported where a design is built);
# the kernels never see them, so they stay out of ``_codes.py``.
SAMPLERS = ("mc", "lhs", "sobol")
DEFAULT_REPLICATES = 10
MAX_REPLICATES = 50  # each replicate keeps its own histograms (~7 MB for DeepSeek)
_KIND = {"mc": C.DESIGN_MC, "lhs": C.DESIGN_LHS, "sobol": C.DESIGN_SOBOL}
_MAX_REPLICATE = 2**C.SOBOL_BITS  # points per replicate (Sobol' with 32-bit directions)


@dataclass(frozen=True)
class Plan:
    """How many draws a design takes: ``replicates`` independent runs of ``replicate_draws``."""

    sampler: str
    replicates: int
    replicate_draws: int
    requested: int

    @property
    def draws(self) -> int:
        return self.replicates * self.replicate_draws

    @property
    def replicated(self) -> bool:
        return self.sampler != "mc"

    def note(self) -> str | None:
        """Why the draw count differs from the one asked for (None when it does not)."""
        if self.draws == self.requested:
            return None
        size = (f"2^{self.replicate_draws.bit_length() - 1}" if self.sampler == "sobol"
                else f"{self.replicate_draws:,}")
        why = ("a Sobol' net needs a power of two per replicate" if self.sampler == "sobol"
               else "every replicate has the same size")
        return (f"{self.sampler}: {self.draws:,} draws ({self.replicates} replicates of {size}; "
                f"{why}) instead of {self.requested:,}")


def plan(sampler: str, draws: int, replicates: int | None = None,
         auto_stop: bool = False) -> Plan:
    """The design of a run of about ``draws`` draws (rounded for ``lhs`` and ``sobol``);
    ``auto_stop`` (``--until``) is for plain Monte Carlo only."""
    if sampler not in SAMPLERS:
        raise McsimError(f"--sampler: must be one of {', '.join(SAMPLERS)} (got {sampler!r})")
    if auto_stop and sampler != "mc":
        raise McsimError(f"--until: works with --sampler mc only; with {sampler}, set --draws "
                         "and --replicates (errors come from the spread between replicates)")
    if sampler == "mc":
        if replicates not in (None, 1):
            raise McsimError("--replicates: only for --sampler lhs or sobol (plain Monte Carlo "
                             "errors come from the iid draws)")
        return Plan("mc", 1, draws, draws)
    r = DEFAULT_REPLICATES if replicates is None else replicates
    if not 2 <= r <= MAX_REPLICATES:
        raise McsimError(f"--replicates: must be between 2 (to measure an error) and "
                         f"{MAX_REPLICATES} (each keeps its own histograms) (got {r})")
    per = draws / r
    if per < 2:
        raise McsimError(f"--draws: {sampler} with {r} replicates needs at least {2 * r} draws "
                         f"(got {draws:,})")
    if sampler == "sobol":
        size = 2 ** max(round(math.log2(per)), 1)
    else:
        size = round(per)
    if size > _MAX_REPLICATE:
        raise McsimError(f"--draws: {sampler} replicates hold at most 2^32 draws; use more "
                         f"--replicates (at least {math.ceil(draws / _MAX_REPLICATE)})")
    return Plan(sampler, r, size, draws)


def design(p: Plan, seed: int, dims: list[int], n_dims: int) -> np.ndarray:
    """The kernel's design array: kind, replicate size, streams, then (Sobol') per replicate
    and stream a digital shift and 32 scrambled direction words.

    Stream s takes dimension ``dims[s]`` of an ``n_dims``-dimensional Sobol' sequence (its
    input's position in the scenario)."""
    import numpy as np

    head = [_KIND[p.sampler], p.replicate_draws if p.replicated else 0, len(dims)]
    words = [np.asarray(head, dtype=np.uint64)]
    if p.sampler == "sobol" and dims:
        for r in range(p.replicates):
            shift, directions = sobol_scramble(n_dims, seed, r)
            words.append(np.column_stack([shift[dims], directions[dims]]).ravel())
    return np.concatenate(words)


def sobol_scramble(d: int, seed: int, replicate: int) -> tuple[np.ndarray, np.ndarray]:
    """Digital shift ``[d]`` and scrambled direction words ``[d, 32]`` of a 32-bit scrambled
    Sobol' engine from scipy, seeded by (seed, replicate).

    scipy draws in Gray-code order: point i is ``shift ^ XOR of directions[j]`` over the set
    bits j of ``i ^ (i >> 1)``. scipy has no public accessor for these words (its
    ``fast_forward`` walks every point, minutes for 2**31), so they are read from the
    engine's attributes; ``tests/test_sampling.py`` checks the kernel's points against
    scipy's ``random`` bit for bit, so a change in scipy cannot pass unnoticed; a scipy
    without these attributes gets a ``McsimError`` naming its version, not a traceback.
    """
    import numpy as np
    import scipy
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence([seed, replicate, 0x50B01]))
    engine = qmc.Sobol(d, scramble=True, bits=C.SOBOL_BITS, rng=rng)
    try:
        directions = np.asarray(engine._sv, dtype=np.uint64)
        shift = np.asarray(engine._shift, dtype=np.uint64)
        ok = directions.shape == (d, C.SOBOL_BITS) and shift.shape == (d,)
    except (AttributeError, TypeError, ValueError):
        ok = False
    if not ok:
        raise McsimError(f"--sampler sobol: scipy {scipy.__version__} changed the internals of "
                         "scipy.stats.qmc.Sobol that mcsim reads (_sv, _shift); use --sampler "
                         "lhs, or a scipy that mcsim supports (see pyproject.toml)")
    return shift, directions


def mc_design() -> np.ndarray:
    """The design array of plain Monte Carlo (the default of every program)."""
    import numpy as np

    return np.asarray([C.DESIGN_MC, 0, 0], dtype=np.uint64)
