"""Rules for CI (``CI`` set, as CI services do): every test runs, and the same examples.

Loaded by ``conftest.py``. Under CI a skip is a failure (a missing browser or plotting library
must not let CI go green), and hypothesis runs the ``ci`` profile, which derandomises every
property test so that a red CI run is repeatable.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)


def under_ci(environ=os.environ) -> bool:
    """True when ``CI`` is set to anything but empty, 0, false or no."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


if under_ci():
    settings.load_profile("ci")


def _fail_a_skip(report) -> None:
    if under_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_a_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_a_skip(outcome.get_result())
