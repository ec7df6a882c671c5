"""Every opcode and family code of ``_codes.py`` through the kernel, against numpy and scipy.

The codes are found by name (``OP_*``, ``F_*``), so a new one fails here until it has a
reference below and a branch in ``_kernels.eval_block`` (the checklist in ``_codes.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from builders import make_scenario
from mcsim import _codes as C
from mcsim import _kernels as K
from mcsim import distributions as D
from mcsim import formula
from mcsim import program as P
from mcsim.errors import McsimError
from mcsim.sampling import mc_design

OPS = sorted(k for k in vars(C) if k.startswith("OP_"))
FAMILIES = sorted(k for k in vars(C) if k.startswith("F_"))
KEY = np.uint64(0x0123456789ABCDEF)
N = 2 * C.BLOCK + 37  # several blocks, the last one partial
U_MIN = 2.0**-53

# One distribution per family code (F_GIVEN has none: its values are given).
FAMILY_CASES = {
    "F_UNIFORM": D.uniform(-3.0, 7.0),
    "F_LOGUNIFORM": D.loguniform(1e-3, 1e4),
    "F_NORMAL": D.normal(5.0, 2.0),
    "F_LOGNORMAL": D.lognormal(1.0, 1.0),
    "F_TRUNCNORM": D.truncnormal(0.0, 1.0, -1.0, 2.0),
    "F_TRIANGULAR": D.triangular(0.0, 1.0, 5.0),
    "F_TABLE": D.gamma(2.0, scale=3.0),
    "F_DISCRETE": D.discrete([3.0, 1.0, 2.5, -4.0], [0.2, 0.5, 0.25, 0.05]),
    "F_SHIFTED_LOGNORMAL": D.from_p10_p50_p90(1.0, 2.0, 5.0),
}
# Opcodes of the formula language take numpy's reference from ``formula``; the others here.
OPCODE_NAMES = {code: name for name, code in P._OPCODES.items()}
SPECIAL_OPS = {"OP_SAMPLE", "OP_SAMPLE_U", "OP_NSCORE", "OP_NDTR"}

_SPECIAL_VALUES = [-2.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0, np.nan, np.inf, -np.inf]


def run(rows, params=(0.0,), tables=(0.0,), n=N):
    """Draws 0 .. n-1 of the register written by the last row of a hand-made program."""
    code = np.asarray(rows, dtype=np.int64)
    out = K.draw_values(code, np.asarray(params, dtype=np.float64),
                        np.full(1, KEY, dtype=np.uint64), mc_design(),
                        np.asarray(tables, dtype=np.float64), int(code[:, 1].max()) + 1,
                        np.zeros(0, dtype=np.int64), np.zeros(0), np.array([code[-1, 1]]),
                        0, n, 1)
    return out[0]


def uniforms(n=N):
    u = np.empty(n)
    K.fill_uniforms(u, KEY, 0, n)
    return u


def operands(n=N):
    """Three operand arrays: every pair of special values, then random numbers."""
    rng = np.random.default_rng(17)
    grid_a = np.repeat(_SPECIAL_VALUES, len(_SPECIAL_VALUES))
    grid_b = np.tile(_SPECIAL_VALUES, len(_SPECIAL_VALUES))
    extra = n - grid_a.size
    a = np.concatenate([grid_a, rng.normal(0, 2, extra)])
    b = np.concatenate([grid_b, rng.normal(0, 2, extra)])
    c = rng.permutation(np.concatenate([grid_b, rng.normal(0, 2, extra)]))
    return a, b, c


def given_rows(*arrays):
    """Rows and parameters that put each array in its own register (family F_GIVEN)."""
    rows, params, tables = [], [], []
    for r, values in enumerate(arrays):
        rows.append([C.OP_SAMPLE, r, len(params), 0, C.F_GIVEN])
        params += [float(len(tables)), float(len(values))]
        tables += list(values)
    return rows, params, tables


def test_the_codes_are_distinct_and_known_to_the_compiler():
    assert len({getattr(C, k) for k in OPS}) == len(OPS)
    assert len({getattr(C, k) for k in FAMILIES}) == len(FAMILIES)
    assert P.KNOWN_OPS == {getattr(C, k) for k in OPS}
    assert P.KNOWN_FAMILIES == {getattr(C, k) for k in FAMILIES}
    assert set(P._OPCODES) == set(formula.ARITY), "every formula operation needs an opcode"


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_code_samples_its_reference(name):
    code = getattr(C, name)
    if name == "F_GIVEN":
        values = np.random.default_rng(5).normal(size=N)
        rows, params, tables = given_rows(values)
        np.testing.assert_array_equal(run(rows, params, tables), values)
        return
    if name not in FAMILY_CASES:
        pytest.fail(f"{name}: add a distribution to FAMILY_CASES (see _codes.py's checklist)")
    dist = FAMILY_CASES[name]
    spec = dist.kernel_spec()
    assert spec.family == code, f"{dist.describe()} no longer samples as {name}"
    got = run([[C.OP_SAMPLE, 0, 0, 0, code]], spec.params,
              spec.table if spec.table.size else (0.0,))
    spread = float(dist.ppf(0.99) - dist.ppf(0.01))
    tol = 1e-7 if name == "F_TABLE" else 1e-13  # the table's interpolation error is < 1e-7
    np.testing.assert_allclose(got, dist.ppf(uniforms()), rtol=0, atol=tol * spread)


@pytest.mark.parametrize("name", OPS)
def test_every_opcode_computes_its_reference(name):
    code = getattr(C, name)
    if name == "OP_SAMPLE":  # sampling from a stream: every family, above
        dist = FAMILY_CASES["F_NORMAL"]
        got = run([[code, 0, 0, 0, C.F_NORMAL]], dist.kernel_spec().params)
        np.testing.assert_allclose(got, dist.ppf(uniforms()), rtol=1e-13)
        return
    if name == "OP_NSCORE":  # the normal scores of stream b
        got = run([[code, 0, 0, 0, 0]])
        np.testing.assert_allclose(got, special.ndtri(uniforms()), rtol=1e-13, atol=1e-15)
        return
    if name == "OP_SAMPLE_U":  # family c's inverse CDF of the uniforms in register b
        u = np.random.default_rng(9).uniform(U_MIN, 1 - U_MIN, N)
        rows, params, tables = given_rows(u)
        dist = FAMILY_CASES["F_NORMAL"]
        rows.append([code, 1, len(params), 0, C.F_NORMAL])
        params += list(dist.kernel_spec().params)
        np.testing.assert_allclose(run(rows, params, tables), dist.ppf(u), rtol=1e-13)
        return
    a, b, c = operands()
    if name == "OP_NDTR":
        reference = np.clip(special.ndtr(a), U_MIN, 1 - U_MIN)
        arity = 1
    else:
        if code not in OPCODE_NAMES:
            pytest.fail(f"{name}: give it a formula name in program._OPCODES, or a reference "
                        "in this test (see _codes.py's checklist)")
        op_name = OPCODE_NAMES[code]
        arity = formula.ARITY[op_name]
        with np.errstate(all="ignore"):
            reference = formula._NUMPY[op_name](*(a, b, c)[:arity])
    rows, params, tables = given_rows(a, b, c)
    rows.append([code, 3, *range(arity), *([0] * (3 - arity))])
    np.testing.assert_allclose(run(rows, params, tables), reference, rtol=1e-14, atol=0)


def test_an_unknown_code_gives_nan_never_the_old_values():
    """Written over a register that holds finite values: an unhandled code must not leave
    them there (the program compiler rejects such codes; this is the kernel's backstop)."""
    rows, params, tables = given_rows(np.ones(N))
    unknown = max(max(P.KNOWN_OPS), max(P.KNOWN_FAMILIES)) + 1
    assert np.isnan(run([*rows, [unknown, 0, 0, 0, 0]], params, tables)).all()
    assert np.isnan(run([*rows, [C.OP_SAMPLE, 0, 0, 0, unknown]], params, tables)).all()


def test_given_values_are_read_within_their_own_bounds():
    """Draws past the given values are NaN, not the next input's table."""
    rows, params, tables = given_rows(np.arange(N - 10.0), np.full(50, 7.0))
    got = run(rows[:1], params, tables)
    np.testing.assert_array_equal(got[:N - 10], np.arange(N - 10.0))
    assert np.isnan(got[N - 10:]).all()


@pytest.fixture()
def tiny():
    return make_scenario({"x": {"dist": "normal", "loc": 1.0, "scale": 2.0}},
                         {"y": "x + 1"})


def test_compile_program_rejects_an_unknown_family(tiny, monkeypatch):
    monkeypatch.setattr(D.Distribution, "kernel_spec",
                        lambda self: D.KernelSpec(99, (0.0, 1.0), np.empty(0)))
    with pytest.raises(McsimError, match="family code 99"):
        P.compile_program(tiny, seed=1)


def test_compile_program_rejects_an_unknown_opcode(tiny, monkeypatch):
    monkeypatch.setitem(P._OPCODES, "add", 99)
    with pytest.raises(McsimError, match="opcode 99"):
        P.compile_program(tiny, seed=1)


def test_codes_holds_only_what_the_kernels_freeze():
    """A constant the kernels do not read (a CLI default, say) would force a recompile of
    every kernel when changed (see DEPENDENCIES_DIGEST): it belongs elsewhere."""
    from pathlib import Path

    kernels = Path(K.__file__).read_text()
    names = [k for k in vars(C) if k.isupper()]
    unread = [k for k in names if k not in kernels and k != "DESIGN_SOBOL"]  # the else branch
    assert not unread, f"move {unread} out of _codes.py"


def test_every_family_has_a_reference_and_a_kernel_form():
    """Step 3 of the checklist: a family named in a scenario file needs both."""
    assert set(D.FAMILIES) == set(D._REFERENCE) == set(D._KERNEL)
