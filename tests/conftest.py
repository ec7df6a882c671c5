"""Shared fixtures."""

from __future__ import annotations

import os
import sys

import pytest

from builders import run_main, write_scenario
from mcsim.scenario import load_scenario

pytest_plugins = ("ci_rules", "pytester")  # CI: no skips, derandomised hypothesis


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


@pytest.fixture()
def without_matplotlib(monkeypatch, capsys):
    """Run the CLI as if matplotlib were not installed: ``run(args)`` checks that it stopped
    with one line saying what to install, exit code 2, before simulating anything, and
    returns its stdout."""
    import mcsim.engine
    import mcsim.sensitivity

    def no_run(*args, **kwargs):
        raise AssertionError("simulated although nothing can be drawn")

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(mcsim.engine, "simulate", no_run)
    monkeypatch.setattr(mcsim.sensitivity, "tornado", no_run)

    def run(args: list[str]) -> str:
        code, out, err = run_main(args, monkeypatch, capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith("mcsim: error: "), err
        assert 'pip install "mcsim[plot]"' in err
        return out

    return run
