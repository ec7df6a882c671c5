"""The reproducibility contract the README promises: "``--seed N`` reproduces a run exactly".

These values are pinned across versions, platforms and thread counts: the key of an input's
stream, the first uniforms of a stream, and every digit of the statistics in a small run's
``summary.csv`` and ``claims.csv``. If a change moves any of them, old seeds no longer
reproduce old results.
That may only happen on purpose: update the pins in the same commit, say so in its message,
and record it under "Reproducibility" in the README (see there).
"""

from __future__ import annotations

import hashlib

import pandas as pd

from builders import CLI_SCENARIO, make_scenario, run_main, write_scenario
from mcsim.engine import sample
from mcsim.program import stream_key

# A small scenario with closed-form families (lognormal from p5/p95, uniform, normal), a
# tabulated one (PERT), formulas, a claim and a rank correlation (Gaussian copula).
GOLDEN_SCENARIO = CLI_SCENARIO + """
[inputs.z]
dist = "pert"
min = 1
mode = 2
max = 6
unit = "x"
source = "test"
[inputs.w]
dist = "normal"
loc = 5
scale = 1
unit = "x"
source = "test"
[[correlations]]
inputs = ["x", "z"]
spearman = 0.5
[outputs.total]
formula = "x * z * 1e6 + w"
unit = "USD"
label = "Total"
"""
# The statistics of the run, every digit (as pandas writes floats: shortest round trip);
# columns added to the files later do not change these.
PINNED_COLUMNS = {
    "summary.csv": ["output", "mean", "mean_se", "std", "median", "median_se", "ci_low",
                    "ci_low_se", "ci_high", "ci_high_se", "min", "max", "count", "nonfinite"],
    "claims.csv": ["claim", "output", "value", "percentile", "percentile_se", "p_exceed",
                   "median"],
}
GOLDEN_SHA256 = {
    "summary.csv": "d8b3a025cefef05eee791ec4bd645ce17b85c49c65b17bab77e62a53ef614642",
    "claims.csv": "e968faf4770926fd53d629484b3e5e4e36ef5cdc14dfddf10142349d7f64cc36",
}


def test_contract_stream_key():
    """An input's stream is keyed by a hash of (seed, input name) alone."""
    assert int(stream_key(1, "u")) == 0xCD7D03A66D5D14F5


def test_contract_first_uniforms():
    sc = make_scenario({"u": {"dist": "uniform", "min": 0, "max": 1}}, {"o": "u"})
    first = sample(sc, 3, seed=1, names=("u",))["u"].tolist()
    far = sample(sc, 2, seed=1, start=2**40, names=("u",))["u"].tolist()
    assert [v.hex() for v in first] == [
        "0x1.6a9b0fa90e5cap-2", "0x1.59d26a651cd99p-1", "0x1.f3d84aca39ba4p-3"]
    assert [v.hex() for v in far] == ["0x1.050fff733ae04p-3", "0x1.a437349027d7ep-2"]


def test_contract_a_small_run_gives_the_same_statistics(tmp_path, monkeypatch, capsys):
    path = write_scenario(tmp_path, GOLDEN_SCENARIO)
    for threads in ("1", "2"):
        out = tmp_path / f"run{threads}"
        code, _, err = run_main(["run", str(path), "--draws", "200k", "--seed", "1",
                                 "--threads", threads, "--out", str(out), "-q"],
                                monkeypatch, capsys)
        assert code == 0, err
        digests = {name: hashlib.sha256(pd.read_csv(out / name)[columns].to_csv(
            index=False).encode()).hexdigest() for name, columns in PINNED_COLUMNS.items()}
        assert digests == GOLDEN_SHA256
