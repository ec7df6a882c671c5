"""Kernel building blocks against their slow, obvious references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcsim import _kernels as K


def test_vectorised_exp_is_within_an_ulp_of_libm():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745, 710, 200_000), rng.normal(0, 3, 200_000),
                        [0.0, -0.0, 1e-300, -1e-300, 700.0, -700.0, 709.7, -744.0, 710.0,
                         -746.0, np.inf, -np.inf, np.nan]])
    out = np.empty_like(x)
    K.exp_into(out, x, x.size)
    with np.errstate(over="ignore", under="ignore"):
        expected = np.array([math.exp(v) if v < 709.78 else math.inf for v in x])
    finite = np.isfinite(expected) & (expected > 0)
    rel = np.abs(out[finite] / expected[finite] - 1)
    assert rel.max() <= 2.3e-16
    np.testing.assert_array_equal(out[~finite & ~np.isnan(x)], expected[~finite & ~np.isnan(x)])
    assert np.isnan(out[np.isnan(x)]).all()


def test_our_log_is_within_an_ulp_of_libm():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.random(100_000) * 0.075, np.exp(rng.uniform(-37, 0, 100_000)),
                        [2.0**-53, 2.0**-1022, 0.075, 0.5, 1.0, 2.0, 1e300, math.sqrt(2)]])
    ours = np.array([K._log_positive(v) for v in x])
    ref = np.log(x)
    assert ours[x == 1.0][0] == 0.0
    nonzero = ref != 0
    assert np.max(np.abs(ours - ref)[nonzero] / np.spacing(np.abs(ref[nonzero]))) <= 1.0


@pytest.mark.parametrize("k0", [0, 7, 10**12, 2**62 - 100])
def test_fill_uniforms_equals_uniform01_draw_by_draw(k0):
    """The vectorised fill advances its state by additions; it must equal ``uniform01``."""
    key = np.uint64(0x9E3779B97F4A7C15)
    out = np.empty(1000)
    K.fill_uniforms(out, key, k0, 1000)
    np.testing.assert_array_equal(out, [K.uniform01(key, k0 + j) for j in range(1000)])


def test_kernels_record_the_digest_of_what_they_freeze():
    """numba's cache is keyed by ``_kernels.py``'s contents alone: a change to ``_codes.py``
    or ``_jit.py`` must change ``_kernels.py`` too, or a stale kernel runs (with another
    BLOCK, it corrupts memory)."""
    import hashlib
    from pathlib import Path

    src = Path(K.__file__).parent
    digest = hashlib.sha256((src / "_codes.py").read_bytes()
                            + (src / "_jit.py").read_bytes()).hexdigest()[:16]
    assert K.DEPENDENCIES_DIGEST == digest, (
        f"_codes.py or _jit.py changed: set DEPENDENCIES_DIGEST = {digest!r} in _kernels.py")


def test_importing_kernels_refuses_an_edited_codes_file(tmp_path):
    """An edit to ``_codes.py`` without a new digest stops the import (stale kernels could
    run otherwise), naming the digest to set."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    package = tmp_path / "mcsim"
    shutil.copytree(Path(K.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    codes = package / "_codes.py"
    codes.write_text(codes.read_text().replace("BLOCK = 256", "BLOCK = 128"))
    done = subprocess.run([sys.executable, "-c", "import mcsim._kernels"], cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "ImportError: mcsim: _codes.py or _jit.py changed" in done.stderr
    new = done.stderr.split("DEPENDENCIES_DIGEST = '")[1][:16]
    assert new != K.DEPENDENCIES_DIGEST and len(new) == 16
