"""Shared fixtures."""

from __future__ import annotations

import pytest

from mcsim.scenario import load_scenario


@pytest.fixture(scope="session")
def deepseek():
    return load_scenario()
