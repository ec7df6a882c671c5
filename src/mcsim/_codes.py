"""Opcodes and distribution family codes shared by ``program.py`` and ``_kernels.py``.

Plain integers in a module without numba, so that loading or checking a scenario stays light.
numba freezes them into the compiled kernels, and its disk cache is keyed by the contents of
``_kernels.py`` alone: after changing anything here, update ``DEPENDENCIES_DIGEST`` there
(importing ``_kernels`` refuses to run until it matches, and says to what).

Adding an opcode or a family is a checklist; the tests fail at each step left out:

1. the constant here (``OP_*`` or ``F_*``: ``program.KNOWN_OPS``/``KNOWN_FAMILIES`` pick it
   up by name, and ``compile_program`` rejects any other code);
2. its branch in ``_kernels.eval_block`` (an unhandled code gives NaN, never stale values);
3. a family: its ``_kernels._*_into`` sampler and its entry in ``distributions._KERNEL``;
   an opcode: its formula name in ``program._OPCODES`` (arity from ``formula.ARITY``);
4. its reference in ``tests/test_codes.py`` (which runs every ``OP_*`` and ``F_*`` found
   here through the kernel, against numpy and scipy);
5. the new ``DEPENDENCIES_DIGEST``.
"""

from __future__ import annotations

BLOCK = 256  # draws evaluated together by one instruction
TILE = 65536  # draws per unit of parallel work; a multiple of BLOCK
WEIGHT_BITS = 40  # an evidence weight is counted in whole units of 2**-40 (``evidence.py``)

# Opcodes: code rows are (op, dst, a, b, c).
OP_SAMPLE = 0  # dst <- inverse CDF (family c, params at a) of the uniforms of stream b
OP_ADD = 1
OP_SUB = 2
OP_MUL = 3
OP_DIV = 4
OP_POW = 5
OP_MIN = 6
OP_MAX = 7
OP_LT = 8
OP_LE = 9
OP_GT = 10
OP_GE = 11
OP_EQ = 12
OP_NE = 13
OP_AND = 14  # Python semantics: b if a else a
OP_OR = 15  # Python semantics: a if a else b
OP_NEG = 16
OP_NOT = 17
OP_EXP = 18
OP_LOG = 19
OP_SQRT = 20
OP_ABS = 21
OP_WHERE = 22  # dst <- b if a else c
OP_CLIP = 23  # dst <- min(max(a, b), c)
OP_NSCORE = 24  # dst <- standard normal scores of stream b (correlated inputs)
OP_NDTR = 25  # dst <- Phi(a), the standard normal CDF
OP_SAMPLE_U = 26  # dst <- inverse CDF (family c, params at a) of the uniforms in register b
OP_SIN = 27
OP_COS = 28
OP_TAN = 29
OP_ATAN = 30
OP_LOG10 = 31
OP_LOG2 = 32
OP_FLOOR = 33
OP_CEIL = 34
OP_ROUND = 35  # half to even, as Python's round
OP_SIGN = 36

# Families of the kernel's inverse CDFs (parameter layout in the comments).
F_UNIFORM = 0  # lo, width
F_LOGUNIFORM = 1  # log lo, log width
F_NORMAL = 2  # mu, sigma
F_LOGNORMAL = 3  # mu, sigma: exp(mu + sigma z)
F_TRUNCNORM = 4  # mu, sigma, Phi(alpha), Phi(-beta), mass: the lower or the upper tail
#                  probability of the draw, whichever is smaller, goes through ndtri
F_TRIANGULAR = 5  # min, mode, max
F_TABLE = 6  # (offset, n, u0, 1/h) of x(u) on a central u grid, then the offsets of the
#              lower and upper tails' octave tables, the first octave's exponent and the
#              log2 of pieces per octave: cubic Hermite pieces with exact slopes
F_DISCRETE = 7  # table offset, n: cumulative weights then values
F_SHIFTED_LOGNORMAL = 8  # median, sigma, scale, sign: median + sign scale expm1(sign sigma z)
F_GIVEN = 9  # table offset, n: draw k < n takes tables[offset + k], later draws NaN (set points)

# Sampling designs (``design[0]`` of the kernel's design array, see ``sampling.py``). Only
# what the kernels freeze belongs in this file: the CLI's choices and defaults live in
# ``sampling.py``, so that changing one does not force a recompile.
DESIGN_MC = 0  # plain Monte Carlo: uniform01(key, k)
DESIGN_LHS = 1  # Latin hypercube per replicate of ``design[1]`` draws (keyed permutations)
DESIGN_SOBOL = 2  # scrambled Sobol' per replicate: shift and 32 direction words per stream
SOBOL_BITS = 32
