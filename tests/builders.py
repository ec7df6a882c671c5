"""Test helpers: small scenarios from dicts (one compiled kernel serves them all), and the
CLI entry point called as a user would call it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcsim.cli import main
from mcsim.scenario import scenario_from_dict


def make_scenario(inputs: dict, outputs: dict, derived: dict | None = None,
                  claims: dict | None = None, evidence: list | None = None):
    """A scenario from plain dicts; inputs get a unit and a source when they lack one."""
    data = {
        "schema": 1,
        "inputs": {k: {"unit": "u", "source": "test", **v} for k, v in inputs.items()},
        "outputs": {k: (v if isinstance(v, dict) else {"formula": v})
                    for k, v in outputs.items()},
    }
    if derived:
        data["derived"] = derived
    if claims:
        data["claims"] = claims
    if evidence:
        data["evidence"] = evidence
    return scenario_from_dict(data)


def run_main(args, monkeypatch, capsys):
    """Call the real entry point (one-line errors, exit codes) and capture its output."""
    monkeypatch.setattr(sys, "argv", ["mcsim", *args])
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


CLI_SCENARIO = """
schema = 1
title = "CLI test"
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
[outputs.cost]
formula = "x * 1e6"
unit = "USD"
label = "Cost"
[outputs.ratio]
formula = "x / y"
unit = "x"
label = "Ratio"
[claims.big]
output = "cost"
value = 5e6
source = "someone"
"""


def write_scenario(folder: Path, text: str = CLI_SCENARIO, name: str = "view.toml") -> Path:
    """A scenario file in ``folder`` (by default two inputs, a cost and a ratio, one claim)."""
    path = folder / name
    path.write_text(text)
    return path
