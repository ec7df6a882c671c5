"""Rank correlations between inputs: validation, grouping, repair, and the Gaussian copula.

A scenario's ``[[correlations]]`` give Spearman rank correlations between pairs of inputs.
Inputs linked by them form groups; each group gets a matrix of the Gaussian copula's normal
correlations, r = 2 sin(pi rho_s / 6), which reproduces the requested Spearman correlations
exactly while every input keeps its own marginal (the copula only moves the uniforms). A
matrix that is not positive semi-definite is an error, or is repaired to the nearest valid
correlation matrix (Higham 2002, alternating projections) with the changes reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import SpecError


@dataclass(frozen=True)
class Correlation:
    """A requested Spearman rank correlation between two inputs."""

    a: str
    b: str
    spearman: float
    source: str = ""


@dataclass(frozen=True)
class Group:
    """Inputs linked by correlations, with the Cholesky factor of their copula matrix."""

    inputs: tuple[str, ...]
    spearman: np.ndarray  # as requested (or repaired), with ones on the diagonal
    cholesky: np.ndarray  # lower triangular, of the normal correlations 2 sin(pi rho / 6)


@dataclass(frozen=True)
class Repair:
    a: str
    b: str
    requested: float
    repaired: float


def pearson_of_spearman(rho: np.ndarray) -> np.ndarray:
    """The normal (Pearson) correlation whose Gaussian copula has Spearman correlation rho."""
    return 2.0 * np.sin(np.pi * np.asarray(rho) / 6.0)


def spearman_of_pearson(r: np.ndarray) -> np.ndarray:
    return 6.0 / np.pi * np.arcsin(np.asarray(r) / 2.0)


def nearest_correlation(r: np.ndarray, tol: float = 1e-12, max_iter: int = 1000) -> np.ndarray:
    """Higham's alternating projections: the nearest positive semi-definite matrix with a unit
    diagonal (Frobenius norm), nudged to be strictly positive definite."""
    y = r.copy()
    ds = np.zeros_like(r)
    for _ in range(max_iter):
        rk = y - ds
        w, v = np.linalg.eigh(rk)
        x = (v * np.maximum(w, 1e-10)) @ v.T
        ds = x - rk
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if np.linalg.norm(y_new - y) < tol:
            y = y_new
            break
        y = y_new
    return (y + y.T) / 2


def groups(correlations: tuple[Correlation, ...], order: tuple[str, ...],
           repair: bool = False) -> tuple[tuple[Group, ...], tuple[Repair, ...]]:
    """Connected groups of correlated inputs (in scenario order) with their copula factors."""
    parent = {name: name for c in correlations for name in (c.a, c.b)}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for c in correlations:
        parent[find(c.a)] = find(c.b)
    members: dict[str, list[str]] = {}
    for name in order:
        if name in parent:
            members.setdefault(find(name), []).append(name)
    out, repairs = [], []
    for names in members.values():
        index = {n: i for i, n in enumerate(names)}
        rho = np.eye(len(names))
        for c in correlations:
            if c.a in index:
                rho[index[c.a], index[c.b]] = rho[index[c.b], index[c.a]] = c.spearman
        r = pearson_of_spearman(rho)
        np.fill_diagonal(r, 1.0)
        smallest = float(np.linalg.eigvalsh(r).min())
        if smallest <= 1e-12:
            if not repair:
                raise SpecError("correlations", f"the rank correlations among "
                                f"{', '.join(names)} are not a valid correlation matrix "
                                f"(smallest eigenvalue {smallest:.3g}); change them, or "
                                "use --repair-correlations for the nearest valid one")
            r = nearest_correlation(r)
            fixed = spearman_of_pearson(r)
            np.fill_diagonal(fixed, 1.0)
            for c in correlations:
                if c.a in index:
                    new = float(fixed[index[c.a], index[c.b]])
                    if not math.isclose(new, c.spearman, abs_tol=1e-9):
                        repairs.append(Repair(c.a, c.b, c.spearman, new))
            rho = fixed
        out.append(Group(tuple(names), rho, np.linalg.cholesky(r)))
    return tuple(out), tuple(repairs)
