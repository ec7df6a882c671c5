"""The numba options every kernel uses, set in one place.

``error_model="numpy"`` makes a division by zero give inf/nan (counted later as non-finite)
instead of raising; ``cache=True`` keeps compiled kernels on disk so a second run does not
recompile (``CACHE`` is False, after one warning, where numba finds no writable folder for
them). Nothing here compiles at import time: numba compiles on first call.
"""

from __future__ import annotations

import functools
import sys

import numba


def _cache_probe() -> None:  # pragma: no cover - never called, only given to numba
    pass


def kernels_cacheable() -> bool:
    """Whether numba has a writable folder for this package's compiled kernels (beside it in
    ``__pycache__``, in ``$NUMBA_CACHE_DIR`` or in the user's cache). If not, say so in one
    line: kernels then compile anew in each process, instead of failing at the first one."""
    try:
        numba.njit(cache=True)(_cache_probe)  # numba looks for a cache folder here
    except RuntimeError as err:  # "cannot cache function ...: no locator available ..."
        if "no locator available" not in str(err):
            raise
        print("mcsim: warning: no writable folder for compiled kernels (set NUMBA_CACHE_DIR); "
              "they are compiled again in every run", file=sys.stderr)
        return False
    return True


CACHE = kernels_cacheable()
jit = functools.partial(numba.njit, cache=CACHE, nogil=True, error_model="numpy")
jit_parallel = functools.partial(
    numba.njit, cache=CACHE, nogil=True, error_model="numpy", parallel=True
)
