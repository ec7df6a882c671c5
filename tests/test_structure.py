"""The package's shape: imports run one way (no module imports one that imports it back)."""

from __future__ import annotations

import ast
from pathlib import Path

import mcsim

PACKAGE = Path(mcsim.__file__).parent


def _runtime_imports(path: Path) -> set[str]:
    """The package modules ``path`` imports when run (anywhere, also inside functions), not
    counting imports for type checkers only (``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found |= {alias.name for alias in node.names}
    return found - {path.stem}


# Known cycles, each to be untangled (the test fails once one is gone, to be struck off).
KNOWN_CYCLES: set[str] = set()


def test_no_module_imports_one_that_imports_it_back():
    graph = {p.stem: _runtime_imports(p) for p in PACKAGE.glob("*.py")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = {m for m in graph if reaches(m, m, {m})}
    assert cycles - KNOWN_CYCLES == set(), f"modules on an import cycle: {sorted(cycles)}"
    assert KNOWN_CYCLES <= cycles, f"no longer on a cycle: {sorted(KNOWN_CYCLES - cycles)}"
    # bibliography used to ask scenario for the shipped folder while scenario imported it
    assert not {"engine", "reduce", "sensitivity"} & cycles


def test_the_engine_holds_no_sensitivity_pass():
    assert "sensitivity" not in (PACKAGE / "engine.py").read_text()
