"""Test helpers: small scenarios from dicts (one compiled kernel serves them all), and the
CLI entry point called as a user would call it."""

from __future__ import annotations

import sys

import pytest

from mcsim.cli import main
from mcsim.scenario import scenario_from_dict


def make_scenario(inputs: dict, outputs: dict, derived: dict | None = None,
                  claims: dict | None = None):
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
    return scenario_from_dict(data)


def run_main(args, monkeypatch, capsys):
    """Call the real entry point (one-line errors, exit codes) and capture its output."""
    monkeypatch.setattr(sys, "argv", ["mcsim", *args])
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err
