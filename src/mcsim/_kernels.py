"""Jitted kernels: counter-based uniforms, inverse CDFs, the program interpreter, reductions.

Pure functions over arrays and scalars; no I/O, no Python objects, no mutable globals.
Opcodes and family codes live in ``_codes.py`` (no numba there, so that loading and checking
a scenario does not import numba); numba freezes them as compile-time constants.

Samplers, interpreter and reductions stay in this one module on purpose: numba's disk cache
checks only the file of the function it loads, so a kernel split across files could run with
a stale copy of a changed helper.

A scenario is lowered (``program.py``) to a straight-line register program. The interpreter
evaluates it one block of ``BLOCK`` consecutive draws at a time: each instruction is a tight
loop over the block, so dispatch costs one branch per instruction per block, not per draw.
Draws are grouped in tiles of ``TILE`` draws; a tile is the unit of parallel work and of
reduction, and tiles are merged in tile order, so results do not depend on threads or batching.

Adding an opcode or a distribution family: follow the checklist in ``_codes.py``. In this
file it is one branch in ``eval_block`` (and, for a family, one small ``_*_into`` sampler);
``tests/test_codes.py`` runs every ``OP_*`` and ``F_*`` constant through ``eval_block``
against numpy and scipy, so a step left out fails there (an unhandled code gives NaN).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from numba import prange

from ._codes import (
    BLOCK,
    DESIGN_LHS,
    DESIGN_MC,
    F_DISCRETE,
    F_GIVEN,
    F_LOGNORMAL,
    F_LOGUNIFORM,
    F_NORMAL,
    F_SHIFTED_LOGNORMAL,
    F_TABLE,
    F_TRIANGULAR,
    F_TRUNCNORM,
    F_UNIFORM,
    OP_ABS,
    OP_ADD,
    OP_AND,
    OP_ATAN,
    OP_CEIL,
    OP_CLIP,
    OP_COS,
    OP_DIV,
    OP_EQ,
    OP_EXP,
    OP_FLOOR,
    OP_GE,
    OP_GT,
    OP_LE,
    OP_LOG,
    OP_LOG2,
    OP_LOG10,
    OP_LT,
    OP_MAX,
    OP_MIN,
    OP_MUL,
    OP_NDTR,
    OP_NE,
    OP_NEG,
    OP_NOT,
    OP_NSCORE,
    OP_OR,
    OP_POW,
    OP_ROUND,
    OP_SAMPLE,
    OP_SAMPLE_U,
    OP_SIGN,
    OP_SIN,
    OP_SQRT,
    OP_SUB,
    OP_TAN,
    OP_WHERE,
    SOBOL_BITS,
    TILE,
    WEIGHT_BITS,
)
from ._jit import jit, jit_parallel

# numba's disk cache is keyed by the contents of this file only, not by ``_codes.py`` (whose
# values the kernels freeze as constants) nor ``_jit.py`` (their compile options): a stale
# kernel with another BLOCK corrupts memory. So any change there must change this line too:
# it holds the first 16 hex digits of the SHA-256 of the two files' bytes, in that order, and
# importing this module checks it (``_check_dependencies``).
DEPENDENCIES_DIGEST = "157be591b4a6b66b"


def dependencies_digest() -> str:
    """The digest ``DEPENDENCIES_DIGEST`` must hold: of ``_codes.py`` and ``_jit.py`` as they
    are on disk (two small files, ~20 us)."""
    here = Path(__file__).parent
    data = (here / "_codes.py").read_bytes() + (here / "_jit.py").read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _check_dependencies() -> None:
    """Refuse to load kernels that numba's cache may hold stale. An error, not a silent
    recompile: numba offers no per-process way to skip its cache that would not also make
    every later run compile from scratch, and the fix (one line here) is a developer's."""
    digest = dependencies_digest()
    if digest != DEPENDENCIES_DIGEST:
        raise ImportError(
            f"mcsim: _codes.py or _jit.py changed but _kernels.py did not, so numba's cache "
            f"could run stale kernels; set DEPENDENCIES_DIGEST = {digest!r} in {__file__}")


_check_dependencies()

# Statistics kept per tile and output: count, sum and sum of squares (shifted), min, max.
N_STATS = 5
# weighted reductions of an output: draws with weight > 0, sum w, sum w d, sum w d**2,
# sum w**2, min, max (d = x - shift; over finite x with weight > 0)
N_WSTATS = 7
# of the weights themselves: sum w, sum w**2, draws with w > 0, draws with a non-finite weight
N_WRUN = 4
# the weighted histograms are 2**COARSEN times coarser than the counts' (4 fine bins to one):
# a quarter of the memory, so that both stay in cache (the weighted run is ~2x faster)
COARSEN = 2
_WEIGHT_SCALE = float(2**WEIGHT_BITS)

_SQRT_HALF = 0.7071067811865476
_U_MIN = 1.0 / 9007199254740992.0  # 2**-53, the smallest uniform the streams produce
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_M52 = 1.0 / 4503599627370496.0


@jit
def uniform01(key, k):
    """Uniform in (0, 1) for draw ``k`` of stream ``key``: SplitMix64 at counter ``k``.

    Values are odd multiples of 2**-53, so neither 0 nor 1 occurs and ``1 - u`` is exact.
    """
    return _splitmix_unit(key + (np.uint64(k) + np.uint64(1)) * _GAMMA)


@jit(inline="always")
def _mix64(z):
    """SplitMix64's finaliser: a bijection of uint64 that scatters every input bit."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@jit(inline="always")
def _splitmix_unit(z):
    """SplitMix64's output on state ``z``, as a uniform (see ``uniform01``)."""
    return (np.float64(_mix64(z) >> np.uint64(12)) + 0.5) * _TWO_M52


@jit(fastmath={"contract"})
def _ndtri_central(q):
    """AS241's central branch, ``ndtri(0.5 + q)`` for ``|q| <= 0.425`` (branch-free)."""
    r = 0.180625 - q * q
    num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                + 67265.770927008700853) * r + 45921.953931549871457) * r
              + 13731.693765509461125) * r + 1971.5909503065514427) * r
            + 133.14166789178437745) * r + 3.387132872796366608)
    den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r
                + 39307.89580009271061) * r + 21213.794301586595867) * r
              + 5394.1960214247511077) * r + 687.1870074920579083) * r
            + 42.313330701600911252) * r + 1.0)
    return q * num / den


_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@jit(inline="always")
def _log_positive(x):
    """log(x) for a positive normal double, within 1 ulp: fdlibm's e_log.c without its
    special cases, so that a loop over it vectorises (libm's log is a call per value).
    x = 2**k (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)); log(1 + f) from s = f / (2 + f)."""
    bits = np.float64(x).view(np.int64)
    hx = bits >> 32
    k = (hx >> 20) - 1023
    hx = hx & 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000  # 1 + f >= sqrt(2): halve it, and count the octave
    k += i >> 20
    f = np.int64(((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF)).view(np.float64) - 1.0
    s = f / (2.0 + f)
    dk = np.float64(k)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    hfsq = 0.5 * f * f
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


@jit(inline="always")
def _ndtri_tail(r):
    """AS241's tail formula: |ndtri(p)| as a function of r = sqrt(-log(min(p, 1 - p))).

    Both of its branches are computed and one selected, so that loops over it vectorise
    (r > 5, below p = 1.4e-11, is rare but must stay exact)."""
    a = r - 1.6
    near = ((((((((7.7454501427834140764e-4 * a + 0.0227238449892691845833) * a
                  + 0.24178072517745061177) * a + 1.27045825245236838258) * a
                + 3.64784832476320460504) * a + 5.7694972214606914055) * a
              + 4.6303378461565452959) * a + 1.42343711074968357734)
            / (((((((1.05075007164441684324e-9 * a + 5.475938084995344946e-4) * a
                    + 0.0151986665636164571966) * a + 0.14810397642748007459) * a
                  + 0.68976733498510000455) * a + 1.6763848301838038494) * a
                + 2.05319162663775882187) * a + 1.0))
    b = r - 5.0
    far = ((((((((2.01033439929228813265e-7 * b + 2.71155556874348757815e-5) * b
                 + 0.0012426609473880784386) * b + 0.026532189526576123093) * b
               + 0.29656057182850489123) * b + 1.7848265399172913358) * b
             + 5.4637849111641143699) * b + 6.6579046435011037772)
           / (((((((2.04426310338993978564e-15 * b + 1.4215117583164458887e-7) * b
                   + 1.8463183175100546818e-5) * b + 7.868691311456132591e-4) * b
                 + 0.0148753612908506148525) * b + 0.13692988092273580531) * b
               + 0.59983220655588793769) * b + 1.0))
    return near if r <= 5.0 else far


@jit
def ndtri(p):
    """Standard normal inverse CDF (Wichura 1988, AS241 PPND16; relative error ~1e-16)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        return _ndtri_central(q)
    val = _ndtri_tail(math.sqrt(-math.log(p if q < 0.0 else 1.0 - p)))
    return -val if q < 0.0 else val


@jit
def discrete_ppf(u, tables, offset, n):
    """Smallest value whose cumulative weight reaches ``u`` (binary search)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if tables[offset + mid] < u:
            lo = mid + 1
        else:
            hi = mid
    return tables[offset + n + lo]


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it rounds a double to an integer


@jit(inline="always")
def _exp_core(x):
    """exp(x) for |x| <= 700 without branches, so loops over it vectorise (libm's exp does
    not). Range reduction x = k ln2 + r with a two-part ln2, Taylor series of degree 13 on
    |r| <= ln2 / 2; within 1.01 ulp of math.exp (tests/test_kernels.py)."""
    t = x * _INV_LN2 + _ROUND
    k = t - _ROUND
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.float64(t).view(np.int64) - np.int64(0x4338000000000000)
    return p * np.int64((ki + 1023) << 52).view(np.float64)


@jit(fastmath={"contract"})
def exp_into(out, x, n):
    """``out[j] = exp(x[j])``: the vectorised core where |x| <= 700, libm elsewhere."""
    for j in range(n):
        out[j] = _exp_core(min(max(x[j], -700.0), 700.0))
    for j in range(n):
        if not abs(x[j]) <= 700.0:  # also NaN
            out[j] = math.exp(x[j])


@jit
def fill_uniforms(out, key, k0, n):
    """``out[j] = uniform01(key, k0 + j)``: a branch-free loop that LLVM vectorises. The
    state advances by an addition per draw (LLVM keeps the multiply by the counter)."""
    z = key + (np.uint64(k0) + np.uint64(1)) * _GAMMA
    for j in range(n):
        out[j] = _splitmix_unit(z)
        z += _GAMMA


_JITTER_KEY = np.uint64(0xD1B54A32D192ED03)  # a second stream per input: jitter within a cell
_TWO_M20 = 1.0 / 1048576.0


@jit
def _jitter(key, k):
    """A uniform in [2**-21, 1 - 2**-21] with 20 random bits: added to an integer cell index
    below 2**32, the sum is exact in a double (so the cell of the uniform is exact too)."""
    z = _mix64((np.uint64(key) ^ _JITTER_KEY) + (np.uint64(k) + np.uint64(1)) * _GAMMA)
    return (np.float64(z >> np.uint64(44)) + 0.5) * _TWO_M20


@jit
def _domain_bits(m):
    """Bits of the Feistel domain: the smallest b with 2**b >= m."""
    bits = 0
    while (np.int64(1) << bits) < m:
        bits += 1
    return bits


@jit(inline="always")
def _round(x, key):
    """A Feistel round function: 32 well-mixed bits of ``x`` under ``key``."""
    f = (x ^ key) * _M1
    f = (f ^ (f >> np.uint64(29))) * _M2
    return f >> np.uint64(32)


@jit(inline="always")
def _feistel(i, m, bits, k1, k2, k3, k4):
    """A keyed pseudo-random permutation of ``0 .. m-1``, applied to ``i``: a 4-round
    unbalanced Feistel network on the ``bits``-bit integers (2**bits < 2m), with one key per
    round, cycle-walked back into range (fewer than two walks on average). A bijection for
    any keys, so every Latin hypercube cell is drawn exactly once."""
    x = np.uint64(i)
    one = np.uint64(1)
    while True:
        lo = np.uint64(bits // 2)
        hi = np.uint64(bits) - lo
        for rnd in range(4):
            key = k1 if rnd == 0 else (k2 if rnd == 1 else (k3 if rnd == 2 else k4))
            left = x >> lo
            right = x & ((one << lo) - one)
            x = (right << hi) | (left ^ (_round(right, key) & ((one << hi) - one)))
            lo, hi = hi, lo
        if np.int64(x) < m:
            return np.int64(x)


@jit
def _lhs_keys(key, r, m):
    """Replicate ``r`` of a stream: the four round keys of its permutation, and a cyclic
    shift in ``0 .. m-1``. The shift makes each draw's cell exactly uniform over the keys
    (and two inputs' cells exactly independent), which a Feistel network alone is not for
    small ``m``."""
    base = _mix64(np.uint64(key) + np.uint64(r + 1) * _M2)
    shift = min(np.int64(uniform01(base, 4) * m), m - 1)
    return (_mix64(base + _GAMMA), _mix64(base + np.uint64(2) * _GAMMA),
            _mix64(base + np.uint64(3) * _GAMMA), _mix64(base + np.uint64(4) * _GAMMA), shift)


@jit
def lhs_permute(i, m, key, r=0):
    """The Latin hypercube cell of draw ``i`` of ``m`` in replicate ``r`` of stream ``key``
    (the slow, obvious path the tests use)."""
    k1, k2, k3, k4, shift = _lhs_keys(key, r, m)
    cell = _feistel(i, m, _domain_bits(m), k1, k2, k3, k4) + shift
    return cell - m if cell >= m else cell


@jit
def design_uniform(design, keys, s, k):
    """The uniform of stream ``s`` at draw ``k`` under a replicated design (``sampling.py``):
    replicate ``r = k // m`` is its own Latin hypercube or scrambled Sobol' net of ``m``
    points, randomised within its cell by a 20-bit jitter."""
    m = np.int64(design[1])
    r = k // m
    i = k - r * m
    key = keys[s]
    jit = _jitter(key, k)
    if design[0] == DESIGN_LHS:
        cell = lhs_permute(i, m, key, r)
        u = (np.float64(cell) + jit) * (1.0 / np.float64(m))
    else:  # Sobol': Gray-code order, as scipy.stats.qmc.Sobol draws it
        base = 3 + (r * np.int64(design[2]) + s) * (SOBOL_BITS + 1)
        g = np.uint64(i ^ (i >> 1))
        x = design[base]
        b = base + 1
        while g:
            if g & np.uint64(1):
                x ^= design[b]
            g >>= np.uint64(1)
            b += 1
        u = (np.float64(x) + jit) * (1.0 / 4294967296.0)
    return min(max(u, _U_MIN), 1.0 - _U_MIN)


@jit
def stream_uniforms(out, design, keys, s, k0, n):
    """``out[j]`` = the uniform of stream ``s`` at draw ``k0 + j`` under ``design``."""
    if design[0] == DESIGN_MC:
        fill_uniforms(out, keys[s], k0, n)
    elif design[0] == DESIGN_LHS:  # per replicate segment: its key and domain set once
        m = np.int64(design[1])
        key = keys[s]
        bits = _domain_bits(m)
        inv_m = 1.0 / np.float64(m)
        j = 0
        while j < n:
            r = (k0 + j) // m
            i = k0 + j - r * m
            k1, k2, k3, k4, shift = _lhs_keys(key, r, m)
            last = min(n, j + (m - i))
            for jj in range(j, last):
                cell = _feistel(i + jj - j, m, bits, k1, k2, k3, k4) + shift
                cell = cell - m if cell >= m else cell
                u = (np.float64(cell) + _jitter(key, k0 + jj)) * inv_m
                out[jj] = min(max(u, _U_MIN), 1.0 - _U_MIN)
            j = last
    else:  # Sobol': the first point in full, then Gray-code steps of one XOR each
        m = np.int64(design[1])
        key = keys[s]
        j = 0
        while j < n:
            out[j] = design_uniform(design, keys, s, k0 + j)
            k = k0 + j
            r = k // m
            i = k - r * m
            base = 4 + (r * np.int64(design[2]) + s) * (SOBOL_BITS + 1)
            x = np.uint64(math.ldexp(out[j], SOBOL_BITS))  # the point's 32 bits, jitter off
            last = min(n, j + (m - i))  # the replicate's end
            for jj in range(j + 1, last):
                i += 1
                tz = 0
                while not (i >> tz) & 1:
                    tz += 1
                x ^= design[base + tz]
                u = (np.float64(x) + _jitter(key, k0 + jj)) * (1.0 / 4294967296.0)
                out[jj] = min(max(u, _U_MIN), 1.0 - _U_MIN)
            j = last


@jit(fastmath={"contract"})
def normal_scores(out, u, n, where, p):
    """``out[j] = ndtri(u[j])``: AS241's central branch for every draw in one vectorisable
    loop; then the tails (15% of draws) gathered densely, transformed, and put back, which
    costs far less than a branch per draw (and, at this share of tails, less than finding
    them through a bit mask, measured). ``where`` (int64) and ``p`` are scratch space of
    length ``n``."""
    for j in range(n):
        out[j] = _ndtri_central(u[j] - 0.5)
    m = 0
    for j in range(n):
        where[m] = j
        p[m] = min(u[j], 1.0 - u[j])
        m += 1 if abs(u[j] - 0.5) > 0.425 else 0
    for i in range(m):  # vectorised: the log is ours, not libm's
        p[i] = math.sqrt(-_log_positive(p[i]))
    for i in range(m):
        p[i] = _ndtri_tail(p[i])
    for i in range(m):
        j = where[i]
        out[j] = p[i] if u[j] > 0.5 else -p[i]


_MANTISSA = np.int64((1 << 52) - 1)


@jit(fastmath={"nnan", "ninf", "nsz", "contract"})
def table_into(out, u, n, tables, params, p, knot):
    """``out[j]`` = the tabulated inverse CDF at ``u[j]`` (``F_TABLE``; the table's layout is
    ``tables.tabulate``'s). Every piece is a cubic in the fraction f, stored as
    c0..c3 and followed by the next knot, which bounds it (monotone).

    The centre (u in [u0, 1 - u0]) is a uniform grid in u. In the tails, v = min(u, 1 - u)
    (exact) indexes its binary octave [2**e, 2**(e+1)) by its exponent, and one of the
    octave's ``2**oct_bits`` pieces by its top mantissa bits: the rest of the mantissa is f.
    So no draw needs a log or ``ndtri``, and both passes are branch-free loops that LLVM
    vectorises: piece and fraction for every draw, then Horner's rule on the gathered piece.
    ``knot`` is int64 scratch space.
    """
    offset = np.int64(params[p])
    m = params[p + 1]
    u0 = params[p + 2]
    inv_h = params[p + 3]
    lower = np.int64(params[p + 4])
    upper = np.int64(params[p + 5])
    e_top = np.int64(params[p + 6])  # exponent of the first tail octave, [2**e_top, u0)
    oct_bits = np.int64(params[p + 7])
    stride = 4 * (np.int64(1) << oct_bits) + 1
    piece_mask = (np.int64(1) << oct_bits) - 1
    frac_bits = 52 - oct_bits
    frac_mask = (np.int64(1) << frac_bits) - 1
    frac_scale = 1.0 / np.float64(np.int64(1) << frac_bits)
    t_max = m - 1.000001
    for j in range(n):
        uj = u[j]
        t = min(max((uj - u0) * inv_h, 0.0), t_max)
        i = np.int64(t)
        v = min(uj, 1.0 - uj)
        bits = np.float64(v).view(np.int64)
        octave = max(e_top - ((bits >> 52) - 1023), 0)
        tail = (lower if uj < 0.5 else upper) + octave * stride + 4 * (
            (bits >> frac_bits) & piece_mask)
        in_tail = v < u0
        knot[j] = tail if in_tail else offset + 4 * i
        out[j] = np.float64(bits & frac_mask) * frac_scale if in_tail else t - i
    for j in range(n):
        k = knot[j]
        f = out[j]
        x0 = tables[k]
        x1 = tables[k + 4]
        x = x0 + f * (tables[k + 1] + f * (tables[k + 2] + f * tables[k + 3]))
        out[j] = min(max(x, min(x0, x1)), max(x0, x1))


@jit
def new_work(n):
    """Scratch space for the samplers, made once per lane: uniforms, int64 indices and
    values, each of length ``n``."""
    return np.empty(n), np.empty(n, dtype=np.int64), np.empty(n)


@jit
def sample_into(out, family, params, p, key, tables, k0, n):
    """Fill ``out[:n]`` with draws ``k0 .. k0+n-1`` of one input (family and parameters as
    in a program) through ``eval_block``, the path every run takes: a program of one
    instruction, under plain Monte Carlo."""
    code = np.zeros((1, 5), dtype=np.int64)
    code[0, 0] = OP_SAMPLE
    code[0, 2] = p
    code[0, 4] = family
    keys = np.full(1, key, dtype=np.uint64)
    design = np.full(1, DESIGN_MC, dtype=np.uint64)
    regs = np.empty((1, BLOCK))
    u, iwork, fwork = new_work(BLOCK)
    for b0 in range(0, n, BLOCK):
        m = min(BLOCK, n - b0)
        eval_block(code, params, keys, design, tables, regs, u, iwork, fwork, k0 + b0, m)
        for j in range(m):
            out[b0 + j] = regs[0, j]


# Inverse CDFs, one small function per family (``eval_block`` chooses): ``out[:n]`` from the
# uniforms ``u[:n]`` and the family's parameters at ``params[p:]`` (see ``_codes.F_*``);
# ``u``, ``iwork`` and ``fwork`` may be overwritten.


@jit
def _uniform_into(out, u, n, params, p):
    lo = params[p]
    w = params[p + 1]
    for j in range(n):
        out[j] = lo + w * u[j]


@jit
def _loguniform_into(out, u, n, params, p):
    lo = params[p]
    w = params[p + 1]
    for j in range(n):
        u[j] = lo + w * u[j]
    exp_into(out, u, n)


@jit
def _normal_into(out, u, n, params, p, iwork, fwork):
    mu = params[p]
    sigma = params[p + 1]
    normal_scores(out, u, n, iwork, fwork)
    for j in range(n):
        out[j] = mu + sigma * out[j]


@jit
def _lognormal_into(out, u, n, params, p, iwork, fwork):
    mu = params[p]
    sigma = params[p + 1]
    normal_scores(out, u, n, iwork, fwork)
    for j in range(n):
        u[j] = mu + sigma * out[j]
    exp_into(out, u, n)


@jit
def _shifted_lognormal_into(out, u, n, params, p, iwork, fwork):
    median = params[p]
    s_sigma = params[p + 3] * params[p + 1]
    s_scale = params[p + 3] * params[p + 2]
    normal_scores(out, u, n, iwork, fwork)
    for j in range(n):
        out[j] = median + s_scale * math.expm1(s_sigma * out[j])


@jit
def _truncnorm_into(out, u, n, params, p):
    mu = params[p]
    sigma = params[p + 1]
    pa = params[p + 2]
    qb = params[p + 3]
    mass = params[p + 4]
    for j in range(n):
        uj = u[j]
        lower = pa + uj * mass  # P(Z <= z); 1 - u is exact, so the upper tail is too
        if lower < 0.5:
            z = ndtri(lower)
        else:
            z = -ndtri(qb + (1.0 - uj) * mass)
        out[j] = mu + sigma * z


@jit
def _triangular_into(out, u, n, params, p):
    a = params[p]
    c = params[p + 1]
    b = params[p + 2]
    fc = (c - a) / (b - a)
    left = (b - a) * (c - a)
    right = (b - a) * (b - c)
    for j in range(n):
        uj = u[j]
        if uj < fc:
            x = a + math.sqrt(uj * left)
        else:
            x = b - math.sqrt((1.0 - uj) * right)
        out[j] = min(max(x, a), b)


@jit
def _discrete_into(out, u, n, params, p, tables):
    offset = int(params[p])
    m = int(params[p + 1])
    for j in range(n):
        out[j] = discrete_ppf(u[j], tables, offset, m)


@jit
def _given_into(out, n, params, p, tables, k0):
    """Draw k takes the k-th of the ``m`` given values, or NaN past their end (never a read
    into the next input's table or beyond the array)."""
    offset = int(params[p])
    m = int(params[p + 1])
    for j in range(n):
        k = k0 + j
        out[j] = tables[offset + k] if k < m else np.nan


@jit
def eval_block(code, params, keys, design, tables, regs, u, iwork, fwork, k0, n):
    """Run the program on draws ``k0 .. k0+n-1``; results stay in ``regs[:, :n]``.

    ``design`` says how streams turn into uniforms (``DESIGN_*``); ``u``, ``iwork`` and
    ``fwork`` are the samplers' scratch space (``new_work``).

    One flat dispatch, two ``if`` chains (families, then opcodes), each ending in an ``else``
    that writes NaN: long, but adding a code is one branch in an obvious place (see the
    checklist in ``_codes.py``). Kept cheap per instruction, where numba's reference
    counting would cost most: formula instructions index the register file by row (a view
    of each row costs two reference-count updates per operand per block, ~0.1 ns per draw
    per instruction), and the choice of inverse CDF is made here, calling one small function
    per family. A separate function with this many branches keeps the counts of all its
    array arguments (twelve atomic updates per call, ~0.6 ns per draw per input), which
    small callees do not.

    Split into one handler per kind of instruction (draw, unary, binary, ternary), it was
    measured slower, so it stays whole: inlined handlers (``inline="always"``) kept a
    reference count per instruction (33 more decref sites, or one incref of the register
    file per formula instruction), and called handlers cost a call each; one-thread CPU
    time per DeepSeek draw, median of six alternating rounds, 157 ns here against 163 and
    168 ns for the two splits (best rounds 151-153 ns for all three).
    """
    plain = design[0] == DESIGN_MC
    for i in range(code.shape[0]):
        op = code[i, 0]
        di = code[i, 1]
        if op == OP_SAMPLE or op == OP_SAMPLE_U:
            family = code[i, 4]
            if op == OP_SAMPLE_U:  # uniforms held in a register (from a copula)
                ai = code[i, 3]
                for j in range(n):
                    u[j] = regs[ai, j]
            elif family != F_GIVEN:
                if plain:
                    fill_uniforms(u, keys[code[i, 3]], k0, n)
                else:
                    stream_uniforms(u, design, keys, code[i, 3], k0, n)
            p = code[i, 2]
            if family == F_TABLE:
                table_into(regs[di], u, n, tables, params, p, iwork)
            elif family == F_UNIFORM:
                _uniform_into(regs[di], u, n, params, p)
            elif family == F_LOGUNIFORM:
                _loguniform_into(regs[di], u, n, params, p)
            elif family == F_NORMAL:
                _normal_into(regs[di], u, n, params, p, iwork, fwork)
            elif family == F_LOGNORMAL:
                _lognormal_into(regs[di], u, n, params, p, iwork, fwork)
            elif family == F_SHIFTED_LOGNORMAL:
                _shifted_lognormal_into(regs[di], u, n, params, p, iwork, fwork)
            elif family == F_TRUNCNORM:
                _truncnorm_into(regs[di], u, n, params, p)
            elif family == F_TRIANGULAR:
                _triangular_into(regs[di], u, n, params, p)
            elif family == F_DISCRETE:
                _discrete_into(regs[di], u, n, params, p, tables)
            elif family == F_GIVEN:
                _given_into(regs[di], n, params, p, tables, k0)
            else:  # unknown (compile_program rejects it): NaN, never stale values
                for j in range(n):
                    regs[di, j] = np.nan
            continue
        if op == OP_NSCORE:  # normal scores of a stream (inputs of a correlated group)
            stream_uniforms(u, design, keys, code[i, 3], k0, n)
            normal_scores(regs[di], u, n, iwork, fwork)
            continue
        ai = code[i, 2]
        if op == OP_NEG:
            for j in range(n):
                regs[di, j] = -regs[ai, j]
        elif op == OP_NOT:
            for j in range(n):
                regs[di, j] = 1.0 if regs[ai, j] == 0.0 else 0.0
        elif op == OP_EXP:
            for j in range(n):
                regs[di, j] = math.exp(regs[ai, j])
        elif op == OP_LOG:
            for j in range(n):
                x = regs[ai, j]
                if x > 0.0:
                    regs[di, j] = math.log(x)
                elif x == 0.0:
                    regs[di, j] = -np.inf
                else:
                    regs[di, j] = np.nan
        elif op == OP_SQRT:
            for j in range(n):
                x = regs[ai, j]
                regs[di, j] = math.sqrt(x) if x >= 0.0 else np.nan
        elif op == OP_ABS:
            for j in range(n):
                regs[di, j] = abs(regs[ai, j])
        elif op == OP_NDTR:  # the normal CDF, kept inside the kernel's open (0, 1)
            for j in range(n):
                regs[di, j] = min(max(0.5 * math.erfc(-regs[ai, j] * _SQRT_HALF), _U_MIN),
                                  1.0 - _U_MIN)
        elif op == OP_SIN:
            for j in range(n):
                regs[di, j] = math.sin(regs[ai, j])
        elif op == OP_COS:
            for j in range(n):
                regs[di, j] = math.cos(regs[ai, j])
        elif op == OP_TAN:
            for j in range(n):
                regs[di, j] = math.tan(regs[ai, j])
        elif op == OP_ATAN:
            for j in range(n):
                regs[di, j] = math.atan(regs[ai, j])
        elif op == OP_LOG10:
            for j in range(n):  # as OP_LOG: -inf at 0, nan below
                x = regs[ai, j]
                regs[di, j] = math.log10(x) if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
        elif op == OP_LOG2:
            for j in range(n):  # as OP_LOG: -inf at 0, nan below
                x = regs[ai, j]
                regs[di, j] = math.log2(x) if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
        elif op == OP_FLOOR:
            for j in range(n):
                regs[di, j] = np.floor(regs[ai, j])
        elif op == OP_CEIL:
            for j in range(n):
                regs[di, j] = np.ceil(regs[ai, j])
        elif op == OP_ROUND:  # half to even (Python's round, numpy's rint)
            for j in range(n):
                regs[di, j] = np.rint(regs[ai, j])
        elif op == OP_SIGN:  # nan stays nan
            for j in range(n):
                x = regs[ai, j]
                regs[di, j] = 1.0 if x > 0.0 else (-1.0 if x < 0.0 else x)
        else:
            bi = code[i, 3]
            if op == OP_ADD:
                for j in range(n):
                    regs[di, j] = regs[ai, j] + regs[bi, j]
            elif op == OP_SUB:
                for j in range(n):
                    regs[di, j] = regs[ai, j] - regs[bi, j]
            elif op == OP_MUL:
                for j in range(n):
                    regs[di, j] = regs[ai, j] * regs[bi, j]
            elif op == OP_DIV:
                for j in range(n):
                    regs[di, j] = regs[ai, j] / regs[bi, j]
            elif op == OP_POW:
                for j in range(n):
                    regs[di, j] = regs[ai, j] ** regs[bi, j]
            elif op == OP_MIN:
                for j in range(n):
                    x = regs[ai, j]
                    y = regs[bi, j]
                    regs[di, j] = x if (x <= y or x != x) else y
            elif op == OP_MAX:
                for j in range(n):
                    x = regs[ai, j]
                    y = regs[bi, j]
                    regs[di, j] = x if (x >= y or x != x) else y
            elif op == OP_LT:
                for j in range(n):
                    regs[di, j] = 1.0 if regs[ai, j] < regs[bi, j] else 0.0
            elif op == OP_LE:
                for j in range(n):
                    regs[di, j] = 1.0 if regs[ai, j] <= regs[bi, j] else 0.0
            elif op == OP_GT:
                for j in range(n):
                    regs[di, j] = 1.0 if regs[ai, j] > regs[bi, j] else 0.0
            elif op == OP_GE:
                for j in range(n):
                    regs[di, j] = 1.0 if regs[ai, j] >= regs[bi, j] else 0.0
            elif op == OP_EQ:
                for j in range(n):
                    regs[di, j] = 1.0 if regs[ai, j] == regs[bi, j] else 0.0
            elif op == OP_NE:
                for j in range(n):
                    regs[di, j] = 1.0 if regs[ai, j] != regs[bi, j] else 0.0
            elif op == OP_AND:
                for j in range(n):
                    regs[di, j] = regs[bi, j] if regs[ai, j] != 0.0 else regs[ai, j]
            elif op == OP_OR:
                for j in range(n):
                    regs[di, j] = regs[ai, j] if regs[ai, j] != 0.0 else regs[bi, j]
            else:
                ci = code[i, 4]
                if op == OP_WHERE:
                    for j in range(n):
                        regs[di, j] = regs[bi, j] if regs[ai, j] != 0.0 else regs[ci, j]
                elif op == OP_CLIP:  # NaN in x or in a bound gives NaN, as OP_MIN/MAX do
                    for j in range(n):
                        x = regs[ai, j]
                        lo = regs[bi, j]
                        hi = regs[ci, j]
                        y = x if (x >= lo or x != x) else lo
                        regs[di, j] = y if (y <= hi or y != y) else hi
                else:  # unknown (compile_program rejects it): NaN, never stale values
                    for j in range(n):
                        regs[di, j] = np.nan


@jit
def _new_registers(n_regs, const_regs, const_vals):
    """A lane's register file: one row of ``BLOCK`` draws per register, constants set."""
    regs = np.empty((n_regs, BLOCK))
    for i in range(const_regs.shape[0]):
        regs[const_regs[i], :] = const_vals[i]
    return regs


@jit_parallel
def draw_values(code, params, keys, design, tables, n_regs, const_regs, const_vals,
                store_regs, k0, n, n_lanes):
    """Materialise draws ``k0 .. k0+n-1`` of the registers ``store_regs`` (small runs only)."""
    out = np.empty((store_regs.shape[0], n))
    n_blocks = (n + BLOCK - 1) // BLOCK
    for lane in prange(n_lanes):
        regs = _new_registers(n_regs, const_regs, const_vals)
        wu, wi, wf = new_work(BLOCK)  # the samplers' scratch space
        for blk in range(lane, n_blocks, n_lanes):
            start = blk * BLOCK
            m = min(BLOCK, n - start)
            eval_block(code, params, keys, design, tables, regs, wu, wi, wf, k0 + start, m)
            for o in range(store_regs.shape[0]):
                r = regs[store_regs[o]]
                for j in range(m):
                    out[o, start + j] = r[j]
    return out


@jit
def histogram_index(x, lo_pos, n_pos, lo_neg, n_neg, sub_bits):
    """Bin of ``x`` in the log-octave histogram layout of ``histogram.py`` (ascending in x);
    -1 for a non-finite ``x``. Every bin is (lower, upper], so an atom at an edge (an
    integer, a power of two) lies in the bin that ends there and counts in ``cdf`` at it."""
    if not math.isfinite(x):
        return -1
    s = 1 << sub_bits
    neg_bins = n_neg * s
    if x == 0.0:
        return neg_bins + 2
    ax = abs(x)
    bits = np.float64(ax).view(np.int64)
    if x > 0.0:
        bits -= 1  # bins are (lower, upper] on both sides: an exact edge joins the bin below
    e = (bits >> 52) - 1023
    m = (bits >> (52 - sub_bits)) & (s - 1)
    if x > 0.0:
        if e < lo_pos:
            return neg_bins + 3
        if e >= lo_pos + n_pos:
            return neg_bins + 4 + n_pos * s
        return neg_bins + 4 + (e - lo_pos) * s + m
    if e < lo_neg:
        return neg_bins + 1
    if e >= lo_neg + n_neg:
        return 0
    return neg_bins - ((e - lo_neg) * s + m)


@jit
def _histogram_add(regs, row, m, idx, lo_pos, n_pos, lo_neg, n_neg, sub_bits, h, off):
    """Count ``regs[row, :m]`` into the histogram ``h[off:]``: a branch-free pass computes
    the bin of every positive value inside the fine octaves (vectorised; ``idx`` is
    scratch), then one pass adds them, calling ``histogram_index`` only for the others."""
    s = 1 << sub_bits
    base = n_neg * s + 4 - lo_pos * s
    shift = 52 - sub_bits
    for j in range(m):
        x = regs[row, j]
        bits = np.float64(x).view(np.int64) - 1  # x > 0: (lower, upper] bins
        e = (bits >> 52) - 1023
        inside = (x > 0.0) & (e >= lo_pos) & (e < lo_pos + n_pos)
        idx[j] = base + e * s + ((bits >> shift) & (s - 1)) if inside else -2
    for j in range(m):
        b = idx[j]
        if b == -2:
            b = histogram_index(regs[row, j], lo_pos, n_pos, lo_neg, n_neg, sub_bits)
        if b >= 0:
            h[off + b] += 1


@jit
def _histogram_add_weighted(regs, row, m, idx, lo_pos, n_pos, lo_neg, n_neg, sub_bits, h, off,
                            wh, w_off, wq):
    """``_histogram_add``, and each value's weight units ``wq`` into the histogram
    ``wh[w_off:]`` of the layout ``COARSEN`` bits coarser, in the same passes (``idx`` holds
    the fine bin in its low 32 bits and the coarse one in its high 32)."""
    s = 1 << sub_bits
    sc = s >> COARSEN
    base = n_neg * s + 4 - lo_pos * s
    cbase = n_neg * sc + 4 - lo_pos * sc
    shift = 52 - sub_bits
    for j in range(m):
        x = regs[row, j]
        bits = np.float64(x).view(np.int64) - 1  # x > 0: (lower, upper] bins
        e = (bits >> 52) - 1023
        inside = (x > 0.0) & (e >= lo_pos) & (e < lo_pos + n_pos)
        fine = base + e * s + ((bits >> shift) & (s - 1))
        coarse = cbase + e * sc + ((bits >> (shift + COARSEN)) & (sc - 1))
        idx[j] = fine | (coarse << 32) if inside else -2
    neg_fine = n_neg << sub_bits
    pos_fine = n_pos << sub_bits
    for j in range(m):
        b = idx[j]
        if b == -2:
            b = histogram_index(regs[row, j], lo_pos, n_pos, lo_neg, n_neg, sub_bits)
            if b < 0:
                continue
            c = coarse_bin(b, neg_fine, pos_fine)
        else:
            c = b >> 32
            b &= 0xFFFFFFFF
        h[off + b] += 1
        wh[w_off + c] += wq[j]


_SIGN_OFF = np.int64(0x7FFFFFFFFFFFFFFF)
_DBL_MAX = 1.7976931348623157e308


@jit(inline="always")
def _order_key(x):
    """An int64 that orders like the double ``x`` (flip the magnitude bits of negatives)."""
    b = np.float64(x).view(np.int64)
    return b ^ ((b >> 63) & _SIGN_OFF)


@jit(inline="always")
def _from_order_key(k):
    return np.int64(k ^ ((k >> 63) & _SIGN_OFF)).view(np.float64)


@jit(fastmath={"reassoc", "contract"})
def _moments_finite_only(regs, row, m, shift):
    """Count, shifted sum, sum of squares, min and max of the finite values of
    ``regs[row, :m]``.

    One loop that LLVM vectorises: the sums may be reassociated (a fixed order for a given
    block, so results still do not depend on threads or batching), and min and max are taken
    over integer keys that order like the doubles (float min/max reductions do not
    vectorise without assuming no NaN). Non-finite values are masked with selects.
    """
    c = 0.0
    a = 0.0
    q = 0.0
    lo = _SIGN_OFF
    hi = -_SIGN_OFF - 1
    for j in range(m):
        x = regs[row, j]
        g = abs(x) <= _DBL_MAX  # false for inf and nan
        d = x - shift if g else 0.0
        c += 1.0 if g else 0.0
        a += d
        q += d * d
        k = _order_key(x)
        lo = min(lo, k if g else _SIGN_OFF)
        hi = max(hi, k if g else -_SIGN_OFF - 1)
    if c == 0.0:
        return 0, 0.0, 0.0, np.inf, -np.inf
    return np.int64(c), a, q, _from_order_key(lo), _from_order_key(hi)



@jit(inline="always")
def coarse_bin(b, neg_fine, pos_fine):
    """The bin of the layout coarsened by ``COARSEN`` bits that holds fine bin ``b`` (of a
    layout with ``neg_fine`` and ``pos_fine`` regular bins; see ``histogram.Layout``)."""
    if b == 0:
        return 0
    if b <= neg_fine:
        return 1 + ((b - 1) >> COARSEN)
    neg_coarse = neg_fine >> COARSEN
    if b <= neg_fine + 3:
        return neg_coarse + b - neg_fine
    if b < neg_fine + 4 + pos_fine:
        return neg_coarse + 4 + ((b - neg_fine - 4) >> COARSEN)
    return neg_coarse + 4 + (pos_fine >> COARSEN)


@jit
def _quantise_weights(regs, w_reg, m, wq, wv):
    """The weights of a block in whole units of 2**-WEIGHT_BITS (``wq``; NaN, infinities and
    negatives count 0, values above 1 count 1) and as doubles (``wv``). Returns sum w,
    sum w**2, the draws with w > 0 and those with a non-finite weight."""
    s1 = 0.0
    s2 = 0.0
    pos = 0.0
    bad = 0.0
    for j in range(m):
        w = regs[w_reg, j]
        q = 0
        if not math.isfinite(w):
            bad += 1.0
        elif w > 0.0:
            q = np.int64(min(w, 1.0) * _WEIGHT_SCALE + 0.5)
        wq[j] = q
        v = q / _WEIGHT_SCALE
        wv[j] = v
        s1 += v
        s2 += v * v
        pos += 1.0 if q > 0 else 0.0
    return s1, s2, pos, bad


@jit(fastmath={"reassoc", "contract"})
def _weighted_moments(regs, row, m, shift, wv):
    """Weighted moments of the finite values of ``regs[row, :m]`` with weight > 0, in the
    ``N_WSTATS`` layout: one loop LLVM vectorises, as ``_moments_finite_only``."""
    n = 0.0
    sw = 0.0
    swd = 0.0
    swd2 = 0.0
    sw2 = 0.0
    lo = _SIGN_OFF
    hi = -_SIGN_OFF - 1
    for j in range(m):
        x = regs[row, j]
        w = wv[j]
        g = (abs(x) <= _DBL_MAX) & (w > 0.0)  # false for inf, nan and a zero weight
        d = x - shift if g else 0.0
        v = w if g else 0.0
        n += 1.0 if g else 0.0
        sw += v
        vd = v * d
        swd += vd
        swd2 += vd * d
        sw2 += v * v
        k = _order_key(x)
        lo = min(lo, k if g else _SIGN_OFF)
        hi = max(hi, k if g else -_SIGN_OFF - 1)
    if n == 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, np.inf, -np.inf
    return n, sw, swd, swd2, sw2, _from_order_key(lo), _from_order_key(hi)

@jit_parallel
def reduce_tiles(code, params, keys, design, tables, n_regs, const_regs, const_vals, out_regs,
                 shifts, hist_layout, hist_offsets, sub_bits, begin, end, tile0, n_tiles,
                 hist, totals, nonfinite, store, n_lanes, w_reg, w_hist, w_offsets, w_totals,
                 w_run):
    """Evaluate tiles ``tile0 .. tile0+n_tiles-1`` of the draws ``begin .. end-1`` and fold
    them into the running reductions; or, when ``store`` has columns, only copy the outputs
    of draw ``begin + i`` into ``store[:, i]`` (the pilot: one kernel serves both, so a run
    compiles the interpreter once).

    Per output: histogram counts in ``hist[lane]`` (int32, for half the cache footprint of
    int64; the caller flushes them before they could overflow; order-free), the non-finite
    count, and in ``totals[o]``: count, sum and sum of squares of ``x - shifts[o]``, min, max.
    Sums are kept per tile and added to ``totals`` in tile order after the parallel loop, so
    the floating-point result is the same for any number of lanes and any batching of tiles.

    With evidence (``w_reg`` >= 0, the register of each draw's weight): weighted histogram
    counts in whole weight units in ``w_hist[lane, w_offsets[o]:]``, in the output's layout
    coarsened by ``COARSEN`` bits (int64, order-free; the caller flushes them before they
    could overflow), and per tile, added in tile order, the ``N_WSTATS``
    weighted moments in ``w_totals[o]`` and the ``N_WRUN`` sums of the weights in ``w_run``.
    """
    n_out = out_regs.shape[0]
    tile_stats = np.empty((n_tiles, n_out, N_STATS))
    weighted = w_reg >= 0 and store.shape[1] == 0
    n_wt = n_tiles if weighted else 0
    tile_w = np.empty((n_wt, n_out, N_WSTATS))
    tile_run = np.zeros((n_wt, N_WRUN))
    for lane in prange(n_lanes):
        regs = _new_registers(n_regs, const_regs, const_vals)
        wu, wi, wf = new_work(BLOCK)  # the samplers' scratch space
        idx = np.empty(BLOCK, dtype=np.int64)
        wq = np.zeros(BLOCK if weighted else 0, dtype=np.int64)
        wv = np.zeros(BLOCK if weighted else 0)
        h = hist[lane]
        wh = w_hist[lane]
        for t in range(lane, n_tiles, n_lanes):
            for o in range(n_out):
                tile_stats[t, o, 0] = 0.0
                tile_stats[t, o, 1] = 0.0
                tile_stats[t, o, 2] = 0.0
                tile_stats[t, o, 3] = np.inf
                tile_stats[t, o, 4] = -np.inf
                if weighted:
                    for k in range(N_WSTATS - 2):
                        tile_w[t, o, k] = 0.0
                    tile_w[t, o, 5] = np.inf
                    tile_w[t, o, 6] = -np.inf
            start = begin + (tile0 + t) * TILE
            stop = min(start + TILE, end)
            for b0 in range(start, stop, BLOCK):
                m = min(BLOCK, stop - b0)
                eval_block(code, params, keys, design, tables, regs, wu, wi, wf, b0, m)
                if store.shape[1]:
                    for o in range(n_out):
                        r = regs[out_regs[o]]
                        for j in range(m):
                            store[o, b0 - begin + j] = r[j]
                    continue
                if weighted:
                    r1, r2, r3, r4 = _quantise_weights(regs, w_reg, m, wq, wv)
                    tile_run[t, 0] += r1
                    tile_run[t, 1] += r2
                    tile_run[t, 2] += r3
                    tile_run[t, 3] += r4
                for o in range(n_out):  # registers by row, not views: see eval_block
                    ro = out_regs[o]
                    off = hist_offsets[o]
                    lo_pos = hist_layout[o, 0]
                    n_pos = hist_layout[o, 1]
                    lo_neg = hist_layout[o, 2]
                    n_neg = hist_layout[o, 3]
                    shift = shifts[o]
                    cnt, s1, s2, lo, hi = _moments_finite_only(regs, ro, m, shift)
                    if weighted:
                        _histogram_add_weighted(regs, ro, m, idx, lo_pos, n_pos, lo_neg, n_neg,
                                                sub_bits, h, off, wh, w_offsets[o], wq)
                    else:
                        _histogram_add(regs, ro, m, idx, lo_pos, n_pos, lo_neg, n_neg,
                                       sub_bits, h, off)
                    if cnt < m:
                        nonfinite[lane, o] += m - cnt
                    # element indexing, not a view: a view of an array shared between lanes
                    # would bump its reference count atomically from both cores
                    tile_stats[t, o, 0] += cnt
                    tile_stats[t, o, 1] += s1
                    tile_stats[t, o, 2] += s2
                    tile_stats[t, o, 3] = min(tile_stats[t, o, 3], lo)
                    tile_stats[t, o, 4] = max(tile_stats[t, o, 4], hi)
                    if weighted:
                        n, sw, swd, swd2, sw2, wlo, whi = _weighted_moments(regs, ro, m,
                                                                            shift, wv)
                        tile_w[t, o, 0] += n
                        tile_w[t, o, 1] += sw
                        tile_w[t, o, 2] += swd
                        tile_w[t, o, 3] += swd2
                        tile_w[t, o, 4] += sw2
                        tile_w[t, o, 5] = min(tile_w[t, o, 5], wlo)
                        tile_w[t, o, 6] = max(tile_w[t, o, 6], whi)
    for t in range(n_tiles):
        for o in range(n_out):
            ts = tile_stats[t, o]
            acc = totals[o]
            acc[0] += ts[0]
            acc[1] += ts[1]
            acc[2] += ts[2]
            acc[3] = min(acc[3], ts[3])
            acc[4] = max(acc[4], ts[4])
    for t in range(n_wt):
        for k in range(N_WRUN):
            w_run[k] += tile_run[t, k]
        for o in range(n_out):
            ts = tile_w[t, o]
            acc = w_totals[o]
            for k in range(N_WSTATS - 2):
                acc[k] += ts[k]
            acc[5] = min(acc[5], ts[5])
            acc[6] = max(acc[6], ts[6])


@jit
def rank_of(y, lower, upper, before, count, total, lo_pos, n_pos, lo_neg, n_neg, sub_bits):
    """F(y) from a histogram: the fraction of draws at or below ``y``, interpolated in its bin."""
    b = histogram_index(y, lo_pos, n_pos, lo_neg, n_neg, sub_bits)
    width = upper[b] - lower[b]
    frac = 1.0
    if width > 0.0:
        frac = min(max((y - lower[b]) / width, 0.0), 1.0)
    return (before[b] + frac * count[b]) / total


@jit(inline="always")
def _sensitivity_draw(regs, j, b0, y, w, weighted, s_keys, u_regs, lower, upper, before, count,
                      total, hist_row, sub_bits, shift, tail_at, tb, tc, ty, tw):
    """Add draw ``b0 + j`` (output ``y``, weight ``w``) to a tile's sums (see
    ``sensitivity_tiles``)."""
    n_in = tb.shape[0]
    n_fine = tb.shape[1]
    r = rank_of(y, lower, upper, before, count, total, hist_row[0], hist_row[1], hist_row[2],
                hist_row[3], sub_bits)
    ty[0] += w
    ty[1] += w * r
    ty[2] += w * r * r
    d = y - shift
    wd = w * d
    tail = w if y > tail_at else 0.0
    for i in range(n_in):
        if u_regs[i] >= 0:  # a correlated input: its copula uniform
            u = regs[u_regs[i], j]
        else:
            u = uniform01(s_keys[i], b0 + j)
        f = min(int(u * n_fine), n_fine - 1)
        cell = tb[i, f]
        cell[0] += w
        cell[1] += wd
        cell[2] += wd * d
        cell[3] += tail
        w_u = w * u
        tc[i, 0] += w_u
        tc[i, 1] += w_u * u
        tc[i, 2] += w_u * r
        if weighted:
            extra = tw[i, f]
            extra[0] += w * w
            extra[1] += w_u
            extra[2] += w_u * u
            extra[3] += w * r
            extra[4] += w_u * r


@jit_parallel
def sensitivity_tiles(code, params, keys, design, tables, n_regs, const_regs, const_vals, y_reg,
                      s_keys, u_regs, hist_row, sub_bits, lower, upper, before, count, total,
                      shift, tail_at, draws, tile0, n_tiles, bins_acc, corr_acc, y_acc,
                      n_lanes, w_reg, w_acc):
    """Given-data sensitivity statistics of one output against each input's own uniform
    (plain Monte Carlo designs only: uncorrelated inputs' uniforms come from ``uniform01``).

    An input's uniform is its rank, so binning by it needs no sorting: fine bin
    ``f = floor(u * F)``. It is recomputed from the input's stream, or read from register
    ``u_regs[i]`` for a correlated input (its copula uniform). Draws go to batch
    ``block % K`` (iid draws, so any split serves for batch-means errors). Each draw counts
    with its weight w: 1, or under evidence (``w_reg`` >= 0, the register of each draw's
    weight) the weight quantised as ``reduce_tiles`` counts it (a draw of weight 0 is
    skipped). Accumulated per tile, then added in tile order (thread-independent):

    - ``bins_acc[K, D, F, 4]``: sum of w, of w (y - shift), of w (y - shift)**2, and of w
      over the tail draws (``y > tail_at``) per fine bin of each input;
    - ``corr_acc[K, D, 3]``: sum w u, w u**2, w u r, with r = F(y) the rank of y;
    - ``y_acc[K, 3]``: sum of w over the finite y, of w r, of w r**2;
    - under evidence only, ``w_acc[K, D, F, 5]``: sum w**2, w u, w u**2, w r, w u r per fine
      bin (for effective counts and the inputs' posterior ranks).
    """
    n_batch = bins_acc.shape[0]
    n_in = bins_acc.shape[1]
    n_fine = bins_acc.shape[2]
    weighted = w_reg >= 0
    t_bins = np.zeros((n_tiles, n_batch, n_in, n_fine, 4))
    t_corr = np.zeros((n_tiles, n_batch, n_in, 3))
    t_y = np.zeros((n_tiles, n_batch, 3))
    t_w = np.zeros((n_tiles if weighted else 0, n_batch, n_in, n_fine, 5))
    for lane in prange(n_lanes):
        regs = _new_registers(n_regs, const_regs, const_vals)
        wu, wi, wf = new_work(BLOCK)  # the samplers' scratch space
        wq = np.zeros(BLOCK if weighted else 0, dtype=np.int64)
        wv = np.zeros(BLOCK if weighted else 0)
        no_w = np.zeros((0, 0, 5))
        for t in range(lane, n_tiles, n_lanes):
            start = (tile0 + t) * TILE
            stop = min(start + TILE, draws)
            for b0 in range(start, stop, BLOCK):
                m = min(BLOCK, stop - b0)
                eval_block(code, params, keys, design, tables, regs, wu, wi, wf, b0, m)
                batch = (b0 // BLOCK) % n_batch
                yv = regs[y_reg]
                tb = t_bins[t, batch]
                tc = t_corr[t, batch]
                ty = t_y[t, batch]
                if weighted:
                    _quantise_weights(regs, w_reg, m, wq, wv)
                    tw = t_w[t, batch]
                    for j in range(m):
                        if wv[j] > 0.0 and math.isfinite(yv[j]):
                            _sensitivity_draw(regs, j, b0, yv[j], wv[j], True, s_keys, u_regs,
                                              lower, upper, before, count, total, hist_row,
                                              sub_bits, shift, tail_at, tb, tc, ty, tw)
                else:  # w = 1 (and w * x is x exactly): the unweighted sums
                    for j in range(m):
                        if math.isfinite(yv[j]):
                            _sensitivity_draw(regs, j, b0, yv[j], 1.0, False, s_keys, u_regs,
                                              lower, upper, before, count, total, hist_row,
                                              sub_bits, shift, tail_at, tb, tc, ty, no_w)
    for t in range(n_tiles):
        bins_acc += t_bins[t]
        corr_acc += t_corr[t]
        y_acc += t_y[t]
    if weighted:
        for t in range(n_tiles):
            w_acc += t_w[t]


@jit_parallel
def pick_freeze_tiles(code, params, keys, design, tables, n_regs, const_regs, const_vals, y_reg,
                      b_keys, studied, shift, draws, tile0, n_tiles, y_acc, pf_acc, n_lanes):
    """Pick-freeze sums for Sobol' indices of one output (Saltelli et al. 2010), from
    re-keyed streams: no draw is stored.

    Each block is evaluated ``2 + D`` times: A (the streams ``keys``), B (every stream
    re-keyed: ``b_keys``) and, for each studied input i, A with the stream ``studied[i]``
    taken from B (-1: the input is not drawn by this program, so its run equals A). Draws go
    to batch ``block % K``. Accumulated per tile, then added in tile order
    (thread-independent), with a = y_A - shift, b = y_B - shift:

    - ``y_acc[K, 5]``: count of draws with y_A and y_B finite, sum a, sum a**2, sum b,
      sum b**2;
    - ``pf_acc[K, D, 3]``: count of those with y_i finite too, sum (y_A - y_i)**2 (Jansen's
      total effect), sum b * (y_i - y_A) (Saltelli's first order).
    """
    n_batch = pf_acc.shape[0]
    n_in = pf_acc.shape[1]
    t_y = np.zeros((n_tiles, n_batch, 5))
    t_pf = np.zeros((n_tiles, n_batch, n_in, 3))
    for lane in prange(n_lanes):
        regs = _new_registers(n_regs, const_regs, const_vals)
        wu, wi, wf = new_work(BLOCK)  # the samplers' scratch space
        mixed = keys.copy()  # A's keys, with one stream at a time swapped for B's
        ya = np.empty(BLOCK)
        yb = np.empty(BLOCK)
        for t in range(lane, n_tiles, n_lanes):
            start = (tile0 + t) * TILE
            stop = min(start + TILE, draws)
            for b0 in range(start, stop, BLOCK):
                m = min(BLOCK, stop - b0)
                batch = (b0 // BLOCK) % n_batch
                eval_block(code, params, keys, design, tables, regs, wu, wi, wf, b0, m)
                for j in range(m):
                    ya[j] = regs[y_reg, j]
                eval_block(code, params, b_keys, design, tables, regs, wu, wi, wf, b0, m)
                for j in range(m):
                    yb[j] = regs[y_reg, j]
                ty = t_y[t, batch]
                for j in range(m):
                    if math.isfinite(ya[j]) and math.isfinite(yb[j]):
                        a = ya[j] - shift
                        b = yb[j] - shift
                        ty[0] += 1.0
                        ty[1] += a
                        ty[2] += a * a
                        ty[3] += b
                        ty[4] += b * b
                for i in range(n_in):
                    s = studied[i]
                    cell = t_pf[t, batch, i]
                    if s < 0:  # not drawn here: y_i = y_A, no effect
                        for j in range(m):
                            if math.isfinite(ya[j]) and math.isfinite(yb[j]):
                                cell[0] += 1.0
                        continue
                    mixed[s] = b_keys[s]
                    eval_block(code, params, mixed, design, tables, regs, wu, wi, wf, b0, m)
                    mixed[s] = keys[s]
                    for j in range(m):
                        yi = regs[y_reg, j]
                        if math.isfinite(ya[j]) and math.isfinite(yb[j]) and math.isfinite(yi):
                            d = ya[j] - yi
                            cell[0] += 1.0
                            cell[1] += d * d
                            cell[2] += (yb[j] - shift) * (yi - ya[j])
    for t in range(n_tiles):
        y_acc += t_y[t]
        pf_acc += t_pf[t]
