"""The numba options every kernel uses, set in one place.

``error_model="numpy"`` makes a division by zero give inf/nan (counted later as non-finite)
instead of raising; ``cache=True`` keeps compiled kernels on disk so a second run does not
recompile. Nothing here compiles at import time: numba compiles on first call.
"""

from __future__ import annotations

import functools

import numba

jit = functools.partial(numba.njit, cache=True, nogil=True, error_model="numpy")
jit_parallel = functools.partial(
    numba.njit, cache=True, nogil=True, error_model="numpy", parallel=True
)
