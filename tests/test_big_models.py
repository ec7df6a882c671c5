"""Big models: a flat sum or product of thousands of line items is one level to a user.

Such a chain is one node, evaluated left to right as written (bit for bit what a binary tree
of the same formula gives), so its rounding is Higham's bound for recursive summation,
(n - 1) * 2**-53 * sum(|terms|): 1.1e-12 of the terms' size at 10,000 terms.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from builders import make_scenario
from mcsim.engine import sample
from mcsim.errors import SpecError
from mcsim.formula import Name, Op, evaluate, parse

U = 2.0**-53


def _chain_scenario(n: int, op: str, lo: float, hi: float):
    inputs = {f"x{i}": {"dist": "uniform", "min": lo, "max": hi} for i in range(n)}
    return make_scenario(inputs, {"total": op.join(f"x{i}" for i in range(n))})


def _sampled(n: int, op: str, lo: float, hi: float):
    df = sample(_chain_scenario(n, op, lo, hi), 256, seed=1)
    return df[[f"x{i}" for i in range(n)]].to_numpy(), df["total"].to_numpy()


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_a_flat_sum_compiles_and_is_exact_to_the_stated_bound(n):
    """It was "nested more than 400 levels deep"."""
    terms, total = _sampled(n, " + ", 1.0, 2.0)
    left_fold = functools.reduce(np.add, terms.T)
    np.testing.assert_array_equal(total, left_fold)  # left to right, as written
    exact = np.array([math.fsum(row) for row in terms])
    bound = (n - 1) * U * np.abs(terms).sum(axis=1)
    assert np.all(np.abs(total - exact) <= bound)
    assert np.all(np.abs(total - terms.sum(axis=1)) <= bound)  # numpy's pairwise sum


def test_a_flat_sum_with_subtractions_keeps_the_bound():
    n = 10_000
    text = "x0" + "".join(f" {'-' if i % 3 else '+'} x{i}" for i in range(1, n))
    sc = make_scenario({f"x{i}": {"dist": "uniform", "min": 1.0, "max": 2.0}
                        for i in range(n)}, {"total": text})
    df = sample(sc, 256, seed=2)
    terms = df[[f"x{i}" for i in range(n)]].to_numpy()
    signs = np.array([1.0] + [-1.0 if i % 3 else 1.0 for i in range(1, n)])
    exact = np.array([math.fsum(row) for row in terms * signs])
    bound = (n - 1) * U * np.abs(terms).sum(axis=1)
    assert np.all(np.abs(df["total"].to_numpy() - exact) <= bound)


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_a_flat_product_compiles_and_is_exact_to_the_stated_bound(n):
    terms, total = _sampled(n, " * ", 0.999, 1.001)
    np.testing.assert_array_equal(total, functools.reduce(np.multiply, terms.T))
    precise = np.prod(terms.astype(np.longdouble), axis=1)  # 64-bit significand
    rel = np.abs((total - precise) / precise).astype(float)
    assert np.all(rel <= (n - 1) * U * 1.01)


def test_chains_evaluate_as_their_binary_trees():
    """The reference evaluator folds a chain exactly as the binary tree it replaces."""
    rng = np.random.default_rng(3)
    env = {k: rng.normal(size=64) for k in "abcdf"}
    cases = {
        "a - b - c + d": ((env["a"] - env["b"]) - env["c"]) + env["d"],
        "a - -b + c": (env["a"] - (-env["b"])) + env["c"],
        "a * b * c / d * f": (((env["a"] * env["b"]) * env["c"]) / env["d"]) * env["f"],
        "max(a, b, c)": np.maximum(np.maximum(env["a"], env["b"]), env["c"]),
    }
    for text, expected in cases.items():
        np.testing.assert_array_equal(evaluate(parse(text).tree, env), expected, text)


def test_chains_longer_than_pythons_parser_are_cut_at_the_top_level():
    """Python's parser gives up near 3,000 terms; past that the text is cut at its top-level
    + and - (then *), never inside brackets or across a looser operator."""
    n = 20_000
    big = parse(" + ".join(f"x{i % 7} * y" for i in range(n)) + " - (a + b) * c")
    assert big.tree.name == "add" and len(big.tree.args) == n + 1
    assert big.tree.args[-1] == parse("-((a + b) * c)").tree
    assert parse(" * ".join(["x"] * n)).tree == Op("mul", (Name("x"),) * n)
    with pytest.raises(SpecError, match="nested more than"):  # (x + ... + x) > 0: no cut
        parse(" + ".join(["x"] * n) + " > 0", "derived.big")
    small = " + ".join(f"x{i}" for i in range(50))
    assert parse(small).tree.args == tuple(parse(f"x{i}").tree for i in range(50))


def test_cutting_a_long_text_keeps_its_meaning():
    """Unary minus, powers, brackets and exponents inside the terms of a 4,000-term sum (past
    Python's parser): the value is the left fold of the terms, each parsed on its own."""
    shapes = ["+ x", "- 2.5e-3 * y", "+ -x ** 2", "- (x - y) * 3", "+ y / -x * 2", "- -x",
              "+ max(x, y) * x * y", "- x ** -y"]
    pieces = ["x"] + [shapes[i % len(shapes)] for i in range(1, 4_000)]
    rng = np.random.default_rng(5)
    env = {"x": rng.uniform(1, 2, 32), "y": rng.uniform(1, 2, 32)}
    expected = evaluate(parse(pieces[0]).tree, env)
    for piece in pieces[1:]:
        sign, term = piece[0], piece[1:]
        value = evaluate(parse(term).tree, env)
        expected = expected - value if sign == "-" else expected + value
    np.testing.assert_array_equal(evaluate(parse(" ".join(pieces)).tree, env), expected)
