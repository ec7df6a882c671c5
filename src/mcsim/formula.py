"""The formula language of derived quantities: parsed with ``ast``, never evaluated by Python.

A formula is parsed into a small tree of ``Num``, ``Name`` and ``Op`` nodes using a whitelist
of syntax: arithmetic (+ - * / **), comparisons, ``and``/``or``/``not`` (with Python's
semantics on floats), ``a if c else b``, the functions in ``FUNCTIONS`` and the constants in
``CONSTANTS`` (``pi``, ``e``; no quantity may take a name of ``RESERVED``). Anything else is a
``SpecError`` that quotes the formula. ``evaluate`` is the slow numpy reference that the
kernels are tested against; ``order_by_dependency`` sorts derived quantities and reports cycles.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import SpecError, did_you_mean


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Op:
    """An operation: ``name`` is a key of ``ARITY``; ``args`` are nodes. An op of ``CHAINS``
    may take more than two: it is then their left fold, ``add(a, b, c) = (a + b) + c``."""

    name: str
    args: tuple[Node, ...]


Node = Num | Name | Op

ARITY = {
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "min": 2, "max": 2,
    "lt": 2, "le": 2, "gt": 2, "ge": 2, "eq": 2, "ne": 2, "and": 2, "or": 2,
    "neg": 1, "not": 1, "exp": 1, "log": 1, "sqrt": 1, "abs": 1,
    "where": 3, "clip": 3,
    "sin": 1, "cos": 1, "tan": 1, "atan": 1, "log10": 1, "log2": 1, "floor": 1, "ceil": 1,
    "round": 1, "sign": 1,
}
# Left-associative chains held as one node, so that a sum of 10,000 line items is one level
# deep, not 10,000; ``fold_steps`` turns one back into binary steps, in the written order.
CHAINS = frozenset({"add", "mul", "min", "max", "and", "or"})
_UNARY = ("exp", "log", "sqrt", "abs", "sin", "cos", "tan", "atan", "log10", "log2", "floor",
          "ceil", "round", "sign")
FUNCTIONS = {"min": (2, None), "max": (2, None), "where": (3, 3), "clip": (3, 3),
             **{name: (1, 1) for name in _UNARY}}
CONSTANTS = {"pi": math.pi, "e": math.e}
# Names a scenario may not give a quantity: a formula could not refer to it.
RESERVED = frozenset(FUNCTIONS) | frozenset(CONSTANTS) | frozenset(keyword.kwlist)
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}
_HINTS = {ast.BitXor: "use ** for powers", ast.FloorDiv: "// is not supported",
          ast.Mod: "% is not supported"}


@dataclass(frozen=True)
class Formula:
    """A parsed formula and the text it came from."""

    text: str
    tree: Node

    @property
    def names(self) -> frozenset[str]:
        return names_in(self.tree)


def parse(text: str, key: str = "") -> Formula:
    """Parse formula ``text``; errors are ``SpecError``s at ``key`` that quote the text."""
    if not isinstance(text, str):
        raise SpecError(key, f"a formula must be a string, got {text!r}")
    too_deep = SpecError(key, f"formula {_short(text)!r} is nested more than {MAX_DEPTH} "
                              "levels deep; split it into derived quantities")
    try:
        tree = _parse_expression(text.strip())
    except SyntaxError as err:
        raise SpecError(key, f"syntax error in formula {_short(text)!r}: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise too_deep from None
    try:
        return Formula(text, _convert(tree, 0))
    except _Unsupported as err:
        raise SpecError(key, f"{err} in formula {_short(text)!r}") from None
    except RecursionError:
        raise too_deep from None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _Unsupported(Exception):
    pass


MAX_DEPTH = 400  # formulas nest at most this deep (the kernel compiler recurses over them)
_SUMS = (ast.Add, ast.Sub)


def _parse_expression(text: str) -> ast.expr:
    """``text`` as a Python expression. Python's own parser stops at about 3,000 terms of a
    flat sum (it recurses once per operator); past that, the text is cut at its top-level
    ``+``/``-`` (or, in a product, ``*``) and the pieces parsed one by one."""
    try:
        return ast.parse(text, mode="eval").body
    except RecursionError:
        pieces = _top_level_split(text)
        if pieces is None:
            raise
    first, rest = pieces
    tree = _parse_expression(first)
    for op, piece in rest:
        tree = ast.BinOp(tree, op, _parse_expression(piece))
    return tree


def _top_level_split(text: str) -> tuple[str, list[tuple[ast.operator, str]]] | None:
    """``text`` cut at its top-level binary ``+`` and ``-`` (else ``*``): the first piece, and
    the others with the operator before each; ``None`` when a looser operator (a comparison,
    ``and``, ``if``, ...) or a ``/`` among the factors forbids the cut."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    lines = [0]
    for line in text.splitlines(keepends=True):
        lines.append(lines[-1] + len(line))
    depth = 0
    operand_before = divides = False
    cuts: dict[str, list[int]] = {"+": [], "-": [], "*": []}
    for tok in tokens:
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
            continue
        at = lines[tok.start[0] - 1] + tok.start[1]
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif depth == 0 and tok.type == tokenize.OP:
            if tok.string in cuts and operand_before:
                cuts[tok.string].append(at)
            elif tok.string not in ("+", "-", "**", "*", "/"):
                return None  # a comparison, a comma, ...
            divides = divides or tok.string == "/"  # a / b * c is (a / b) * c: no cut at *
        elif depth == 0 and tok.type == tokenize.NAME and keyword.iskeyword(tok.string):
            return None  # and, or, not, if, else, lambda, ...
        operand_before = (tok.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
                          or (tok.type == tokenize.OP and tok.string in ")]}"))
    chosen = sorted(cuts["+"] + cuts["-"]) or ([] if divides else cuts["*"])
    if not chosen:
        return None
    ops: dict[str, ast.operator] = {"+": ast.Add(), "-": ast.Sub(), "*": ast.Mult()}
    ends = [*chosen[1:], len(text)]
    rest = [(ops[text[at]], text[at + 1:end].strip())
            for at, end in zip(chosen, ends, strict=True)]
    return text[:chosen[0]].strip(), rest


def _chain(node: ast.BinOp, depth: int) -> Node | None:
    """A left-leaning run of ``+``/``-`` (or of ``*``) of two operators or more, as one
    ``CHAINS`` node, walked without recursion (subtracted terms are ``neg``: a + (-b) is
    a - b exactly, and ``fold_steps`` turns it back into a subtraction)."""
    group = _SUMS if isinstance(node.op, _SUMS) else (ast.Mult,)
    if not isinstance(node.op, group):
        return None
    steps: list[tuple[ast.operator, ast.expr]] = []
    left: ast.expr = node
    while isinstance(left, ast.BinOp) and isinstance(left.op, group):
        steps.append((left.op, left.right))
        left = left.left
    if len(steps) < 2:
        return None
    terms = [_convert(left, depth)]
    for op, right in reversed(steps):
        term = _convert(right, depth)
        terms.append(Op("neg", (term,)) if isinstance(op, ast.Sub) else term)
    return Op("add" if group is _SUMS else "mul", tuple(terms))


def fold_steps(node: Op) -> tuple[Node, list[tuple[str, Node]]]:
    """A ``CHAINS`` node as its first operand and the binary operations that follow, in order
    (a ``neg`` term of a sum is a subtraction)."""
    first, *rest = node.args
    steps = []
    for term in rest:
        if node.name == "add" and isinstance(term, Op) and term.name == "neg":
            steps.append(("sub", term.args[0]))
        else:
            steps.append((node.name, term))
    return first, steps


def _convert(node: ast.AST, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise RecursionError
    depth += 1
    if isinstance(node, ast.BinOp):
        chain = _chain(node, depth)
        if chain is not None:
            return chain
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _Unsupported(f"unsupported constant {node.value!r}")
        try:
            value = float(node.value)
        except OverflowError:
            raise _Unsupported(f"number too large: {node.value}") from None
        return Num(value)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return Num(CONSTANTS[node.id])
        return Name(node.id)
    if isinstance(node, ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _Unsupported(_HINTS.get(type(node.op), "unsupported operator"))
        return Op(op, (_convert(node.left, depth), _convert(node.right, depth)))
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            return Op("neg", (_convert(node.operand, depth),))
        if isinstance(node.op, ast.UAdd):
            return _convert(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return Op("not", (_convert(node.operand, depth),))
        raise _Unsupported("unsupported unary operator")
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return Op(op, tuple(_convert(v, depth) for v in node.values))
    if isinstance(node, ast.Compare):
        terms = [_convert(node.left, depth)] + [_convert(c, depth) for c in node.comparators]
        parts = []
        for i, op_node in enumerate(node.ops):
            op = _CMPOPS.get(type(op_node))
            if op is None:
                raise _Unsupported("unsupported comparison")
            parts.append(Op(op, (terms[i], terms[i + 1])))
        return parts[0] if len(parts) == 1 else Op("and", tuple(parts))
    if isinstance(node, ast.IfExp):
        return Op("where", (_convert(node.test, depth), _convert(node.body, depth),
                            _convert(node.orelse, depth)))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise _Unsupported("only plain function names can be called")
        fn = node.func.id
        if fn not in FUNCTIONS:
            hint = did_you_mean(fn, FUNCTIONS)
            known = ", ".join(sorted(FUNCTIONS))
            raise _Unsupported(f"unknown function {fn!r}{hint}; known: {known}")
        if node.keywords:
            raise _Unsupported(f"{fn}() takes no keyword arguments")
        lo, hi = FUNCTIONS[fn]
        if len(node.args) < lo or (hi is not None and len(node.args) > hi):
            want = str(lo) if lo == hi else f"at least {lo}"
            raise _Unsupported(f"{fn}() takes {want} arguments, got {len(node.args)}")
        return Op(fn, tuple(_convert(a, depth) for a in node.args))
    raise _Unsupported(f"unsupported syntax ({type(node).__name__})")


def names_in(node: Node) -> frozenset[str]:
    """Every name the tree refers to."""
    if isinstance(node, Name):
        return frozenset([node.id])
    if isinstance(node, Op):
        return frozenset().union(*(names_in(a) for a in node.args))
    return frozenset()


def order_by_dependency(formulas: Mapping[str, Formula], known: set[str],
                        prefix: str = "derived", field: str = "") -> list[str]:
    """Names of ``formulas`` so that each comes after every formula it uses.

    ``known`` are names defined elsewhere (inputs). Unknown names and cycles are errors at
    key ``{prefix}.{name}{field}``.
    """
    defined = set(formulas) | known
    for name, f in formulas.items():
        for ref in sorted(f.names - defined):
            hint = did_you_mean(ref, defined)
            raise SpecError(f"{prefix}.{name}{field}",
                            f"unknown name {ref!r}{hint} in formula {f.text!r}")
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise SpecError(f"{prefix}.{name}{field}", "cycle: " + " -> ".join(cycle)
                            + f" (formula {formulas[name].text!r})")
        state[name] = 1
        for ref in sorted(formulas[name].names & set(formulas)):
            visit(ref, path + [name])
        state[name] = 2
        order.append(name)

    for name in formulas:
        visit(name, [])
    return order


def evaluate(node: Node, env: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """Reference evaluation over numpy arrays (slow and obvious; the kernels must agree)."""
    if isinstance(node, Num):
        return np.asarray(node.value, dtype=float)
    if isinstance(node, Name):
        return np.asarray(env[node.id], dtype=float)
    with np.errstate(all="ignore"):
        if node.name in CHAINS:
            first, steps = fold_steps(node)
            out = evaluate(first, env)
            for name, term in steps:
                out = np.asarray(_NUMPY[name](out, evaluate(term, env)), dtype=float)
            return out
        args = [evaluate(a, env) for a in node.args]
        return np.asarray(_NUMPY[node.name](*args), dtype=float)


def _nan_min(a, b):
    return np.where((a <= b) | np.isnan(a), a, b)


def _nan_max(a, b):
    return np.where((a >= b) | np.isnan(a), a, b)


def _clip(x, lo, hi):
    return np.where(np.isnan(x), x, np.minimum(np.maximum(x, lo), hi))


_NUMPY: dict[str, Callable[..., Any]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "pow": np.power, "min": _nan_min, "max": _nan_max,
    "lt": lambda a, b: (a < b) * 1.0, "le": lambda a, b: (a <= b) * 1.0,
    "gt": lambda a, b: (a > b) * 1.0, "ge": lambda a, b: (a >= b) * 1.0,
    "eq": lambda a, b: (a == b) * 1.0, "ne": lambda a, b: (a != b) * 1.0,
    "and": lambda a, b: np.where(a != 0, b, a), "or": lambda a, b: np.where(a != 0, a, b),
    "neg": np.negative, "not": lambda a: (a == 0) * 1.0, "exp": np.exp,
    "log": np.log, "sqrt": np.sqrt,
    "abs": np.abs, "where": lambda c, a, b: np.where(c != 0, a, b), "clip": _clip,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "atan": np.arctan, "log10": np.log10,
    "log2": np.log2, "floor": np.floor, "ceil": np.ceil,
    "round": np.round,  # half to even, as Python's round
    "sign": np.sign,  # -1, 0 or 1 (nan for nan)
}
