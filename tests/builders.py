"""Builders for small test scenarios (one compiled kernel serves them all)."""

from __future__ import annotations

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
