"""What ships: the licence, the typing marker, sdist patterns that match, no outside references."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

import mcsim

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(mcsim.__file__).parent


def test_the_licence_the_metadata_names_is_in_the_repository():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "mcsim developers" in text


def test_the_package_says_it_is_typed():
    assert (PACKAGE / "py.typed").is_file()


def test_every_sdist_pattern_matches_a_file():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    for pattern in build["targets"]["sdist"]["include"]:
        assert glob.glob(str(ROOT / pattern)), f"sdist include {pattern!r} matches nothing"


def test_the_product_cites_nothing_outside_the_repository():
    for path in PACKAGE.rglob("*.py"):
        assert "shared/" not in path.read_text() and "conventions.md" not in path.read_text(), \
            f"{path.name} refers to a file that is not in the repository"

