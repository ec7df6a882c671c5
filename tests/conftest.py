"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

from builders import write_scenario
from mcsim.scenario import load_scenario


@pytest.fixture(scope="session", autouse=True)
def table_cache(tmp_path_factory):
    """The suite's own table cache: never the user's ~/.cache/mcsim (subprocesses inherit it)."""
    folder = tmp_path_factory.mktemp("mcsim-cache")
    before = os.environ.get("MCSIM_CACHE_DIR")
    os.environ["MCSIM_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        del os.environ["MCSIM_CACHE_DIR"]
    else:
        os.environ["MCSIM_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def deepseek():
    return load_scenario()


@pytest.fixture()
def scenario_file(tmp_path):
    """builders.CLI_SCENARIO written to a file (test modules may override the fixture)."""
    return write_scenario(tmp_path)
