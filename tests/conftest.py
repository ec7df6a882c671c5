"""Shared fixtures."""

from __future__ import annotations

import pytest

from builders import write_scenario
from mcsim.scenario import load_scenario

pytest_plugins = ("ci_rules", "pytester")  # CI: no skips, derandomised hypothesis


@pytest.fixture(scope="session")
def deepseek():
    return load_scenario()


@pytest.fixture()
def scenario_file(tmp_path):
    """builders.CLI_SCENARIO written to a file (test modules may override the fixture)."""
    return write_scenario(tmp_path)
