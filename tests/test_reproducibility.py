"""The reproducibility contract the README promises: "``--seed N`` reproduces a run exactly".

These values are pinned across versions, platforms and thread counts: the key of an input's
stream, the first uniforms of a stream, and the bytes of a small run's ``summary.csv`` and
``claims.csv``. If a change moves any of them, old seeds no longer reproduce old results.
That may only happen on purpose: update the pins in the same commit, say so in its message,
and record it under "Reproducibility" in the README (see there).
"""

from __future__ import annotations

import hashlib

from builders import make_scenario, run_main, write_scenario
from mcsim.engine import sample
from mcsim.program import stream_key

# A small scenario with a closed-form family (lognormal from p5/p95, uniform, normal), a
# tabulated one (PERT), a formula and a rank correlation (Gaussian copula).
GOLDEN_SCENARIO = """
schema = 1
title = "Reproducibility contract"
[inputs.x]
p5 = 1
p95 = 10
unit = "USD"
source = "test"
[inputs.y]
dist = "uniform"
min = 0
max = 2
unit = "x"
source = "test"
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
[outputs.cost]
formula = "x * z * 1e6 + w"
unit = "USD"
label = "Cost"
[outputs.ratio]
formula = "x / y"
unit = "x"
label = "Ratio"
[claims.big]
output = "cost"
value = 2e7
source = "someone"
"""
GOLDEN_SHA256 = {
    "summary.csv": "b89ab3107290339762e015b233da1ff661b15aea6908b5bd136365eb735515cd",
    "claims.csv": "7f62e8683f9f78d9cbb63bf71c21805b6a95f5ad8550366387a97c124fc698a3",
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


def test_contract_a_small_run_is_byte_identical(tmp_path, monkeypatch, capsys):
    path = write_scenario(tmp_path, GOLDEN_SCENARIO)
    for threads in ("1", "2"):
        out = tmp_path / f"run{threads}"
        code, _, err = run_main(["run", str(path), "--draws", "200k", "--seed", "1",
                                 "--threads", threads, "--out", str(out), "-q"],
                                monkeypatch, capsys)
        assert code == 0, err
        digests = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                   for name in GOLDEN_SHA256}
        assert digests == GOLDEN_SHA256
