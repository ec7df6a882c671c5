"""CI cannot go green by skipping, and its property tests draw the same examples every run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ci_rules import under_ci

TESTS = Path(__file__).parent

SKIPPING = """
import pytest

def test_needs_a_browser():
    pytest.skip("no headless browser")

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert False
"""
SKIPPING_MODULE = 'import pytest\npytest.importorskip("no_such_plotting_library")\n'


@pytest.fixture()
def inner(pytester, monkeypatch):
    """A pytest run of its own, with this suite's CI rules and tests/ importable."""
    paths = [str(TESTS), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    pytester.makepyfile(test_skipping=SKIPPING, test_no_plotting=SKIPPING_MODULE)
    return pytester


def test_a_skip_fails_under_ci(inner, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest_subprocess("-p", "ci_rules", "--continue-on-collection-errors")
    result.assert_outcomes(failed=1, errors=1, xfailed=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped under CI, where every test must run*"])


def test_a_skip_is_a_skip_elsewhere(inner, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    inner.runpytest_subprocess("-p", "ci_rules").assert_outcomes(skipped=2, xfailed=1)


def test_property_tests_draw_the_same_examples_on_every_ci_run(pytester, monkeypatch):
    """Under CI the five property tests that set only ``max_examples`` and ``deadline`` are
    derandomised by the ``ci`` profile (recent hypothesis also does this on its own when
    ``CI`` is set; the profile makes it so on every version the test extra allows)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS),
                                                      os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("CI", "true")
    seen = pytester.path / "seen.txt"
    pytester.makepyfile(test_drawn=f"""
from hypothesis import given, settings, strategies as st

@settings(max_examples=20, deadline=None)
@given(st.integers())
def test_draws(x):
    with open({str(seen)!r}, "a") as f:
        f.write(f"{{x}}\\n")
""")
    runs = []
    for _ in range(2):
        seen.unlink(missing_ok=True)
        pytester.runpytest_subprocess("-p", "ci_rules", "-p", "no:cacheprovider",
                                      ).assert_outcomes(passed=1)
        runs.append(seen.read_text())
    assert runs[0] == runs[1] and runs[0].count("\n") >= 10


def test_the_ci_profile_is_derandomised():
    from hypothesis import settings

    assert settings.get_profile("ci").derandomize


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("1", True), ("yes", True), ("", False), ("false", False), ("0", False)])
def test_what_counts_as_ci(value, expected):
    assert under_ci({"CI": value}) is expected


def test_ci_runs_the_readme_test_command_with_the_linters():
    """`.ci/run` runs exactly the README's test command: ruff, mypy, then pytest."""
    root = TESTS.parent
    readme = (root / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith('pip install ".[test]" && '))
    commands = [c.strip() for c in line.split("&&")][1:]
    assert commands == ["python -m ruff check", "python -m mypy", "python -m pytest -q"]
    ci = [x.strip() for x in (root / ".ci" / "run").read_text().splitlines()]
    assert ci[-len(commands):] == commands
    assert 'export CI="${CI:-true}"' in ci  # so that a skip fails there


@pytest.mark.parametrize("apt_get", [
    None, "echo 'E: Unable to locate package chromium' >&2; exit 100"])
def test_ci_fails_when_the_browser_cannot_be_installed(tmp_path, apt_get):
    """No chromium and no apt-get, or an apt-get that fails: `.ci/run` stops, exit 1, before
    installing anything (it used to warn and let the browser test skip)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    if apt_get is not None:
        (bin_dir / "apt-get").write_text(f"#!/bin/sh\n{apt_get}\n")
        (bin_dir / "apt-get").chmod(0o755)
    proc = subprocess.run([str(bin_dir / "bash"), str(TESTS.parent / ".ci" / "run")],
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
