"""Lower a scenario to the kernel's register program (plain arrays, see ``_kernels``).

Every input, derived quantity and sub-expression becomes a virtual register in a straight-line
program; a linear scan then maps them onto as few physical registers as possible (a register is
reused once its value is dead), so the register file of a block stays in cache. Numeric
literals and constant inputs become constant registers, filled once per thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from . import _codes as K
from .distributions import KernelSpec
from .errors import McsimError
from .evidence import weight_tree
from .formula import ARITY, CHAINS, Name, Node, Num, Op, fold_steps
from .sampling import mc_design
from .scenario import Scenario

# Every code the kernel knows, found by name in ``_codes.py`` (see its checklist).
KNOWN_OPS = frozenset(v for k, v in vars(K).items() if k.startswith("OP_"))
KNOWN_FAMILIES = frozenset(v for k, v in vars(K).items() if k.startswith("F_"))

_OPCODES = {
    "add": K.OP_ADD, "sub": K.OP_SUB, "mul": K.OP_MUL, "div": K.OP_DIV, "pow": K.OP_POW,
    "min": K.OP_MIN, "max": K.OP_MAX, "lt": K.OP_LT, "le": K.OP_LE, "gt": K.OP_GT,
    "ge": K.OP_GE, "eq": K.OP_EQ, "ne": K.OP_NE, "and": K.OP_AND, "or": K.OP_OR,
    "neg": K.OP_NEG, "not": K.OP_NOT, "exp": K.OP_EXP, "log": K.OP_LOG, "sqrt": K.OP_SQRT,
    "abs": K.OP_ABS, "where": K.OP_WHERE, "clip": K.OP_CLIP, "sin": K.OP_SIN, "cos": K.OP_COS,
    "tan": K.OP_TAN, "atan": K.OP_ATAN, "log10": K.OP_LOG10, "log2": K.OP_LOG2,
    "floor": K.OP_FLOOR, "ceil": K.OP_CEIL, "round": K.OP_ROUND, "sign": K.OP_SIGN,
}
_ARITY = {code: ARITY[name] for name, code in _OPCODES.items()} | {K.OP_NDTR: 1}


@dataclass(frozen=True)
class Program:
    """A scenario as arrays for ``_kernels``; ``named`` maps quantity names to registers."""

    code: np.ndarray  # (n, 5) int64: op, dst, a, b, c
    params: np.ndarray  # float64
    keys: np.ndarray  # uint64, one stream key per sampled input
    streams: tuple[str, ...]  # the input of each stream
    tables: np.ndarray  # float64
    n_regs: int
    const_regs: np.ndarray  # int64
    const_vals: np.ndarray  # float64
    out_regs: np.ndarray  # int64, one per scenario output
    named: dict[str, int]  # every quantity still held in a register at the end
    uniforms: dict[str, int]  # correlated inputs' copula uniforms, when asked to keep them
    design: np.ndarray = field(default_factory=mc_design)  # uint64: see ``sampling.py``
    weight_reg: int = -1  # the register of each draw's evidence weight (-1: no evidence)
    # per piece of evidence: the registers of its quantity (or condition) and its own weight
    evidence_regs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    @property
    def kernel_args(self) -> tuple:
        return (self.code, self.params, self.keys, self.design, self.tables, self.n_regs,
                self.const_regs, self.const_vals)


def stream_key(seed: int, name: str) -> np.uint64:
    """The 64-bit key of an input's random stream: a hash of the seed and the input's name."""
    digest = hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def compile_program(scenario: Scenario, seed: int, keep: tuple[str, ...] = (),
                    given: dict[str, np.ndarray] | None = None,
                    keep_uniforms: bool = False) -> Program:
    """Lower ``scenario`` for ``seed``; quantities in ``keep`` stay readable at the end, and
    with ``keep_uniforms`` so do the copula uniforms of correlated inputs (their ranks).

    Inputs named in ``given`` are not sampled: draw k takes ``given[name][k]`` instead
    (evaluation at chosen points, e.g. the swing method's one-at-a-time design).
    """
    given = given or {}
    instrs: list[list[int]] = []  # op, dst, a, b, c over virtual registers
    consts: dict[float, int] = {}
    vregs = 0
    named: dict[str, int] = {}
    uniforms: dict[str, int] = {}
    params: list[float] = []
    tables: list[np.ndarray] = []
    table_len = 0
    keys: list[np.uint64] = []
    streams: list[str] = []

    def new() -> int:
        nonlocal vregs
        vregs += 1
        return vregs - 1

    def const(value: float) -> int:
        if value not in consts:
            consts[value] = new()
        return consts[value]

    needed = scenario.dependencies(keep)
    grouped = {name for g in scenario.groups for name in g.inputs if name not in given}

    def sampler(inp) -> tuple[KernelSpec, list[float]]:
        nonlocal table_len
        if inp.name in given:
            values = np.asarray(given[inp.name], dtype=float)
            spec = KernelSpec(K.F_GIVEN, (0.0, float(values.size)), values, (0,))
        else:
            spec = inp.prior.kernel_spec()
        p = list(spec.params)
        if spec.table.size:
            for i in spec.table_offsets:  # offsets are relative to this input's own table
                p[i] += table_len
            tables.append(spec.table)
            table_len += spec.table.size
        return spec, p

    for inp in scenario.inputs:
        if inp.name not in needed or inp.name in grouped:
            continue
        if inp.prior.is_constant and inp.name not in given:
            named[inp.name] = const(float(inp.prior.params["value"]))
            continue
        spec, p = sampler(inp)
        dst = new()
        instrs.append([K.OP_SAMPLE, dst, len(params), len(keys), spec.family])
        params.extend(p)
        keys.append(stream_key(seed, inp.name))
        streams.append(inp.name)
        named[inp.name] = dst

    # Correlated inputs: each one's own normal scores, mixed by the group's Cholesky factor,
    # back to uniforms through the normal CDF, then its own inverse CDF (a Gaussian copula).
    for group in scenario.groups:
        members = [(k, n) for k, n in enumerate(group.inputs) if n not in given]
        scores = {}
        for _, name in members:
            scores[name] = new()
            instrs.append([K.OP_NSCORE, scores[name], 0, len(keys), 0])
            keys.append(stream_key(seed, name))
            streams.append(name)
        for k, name in members:
            if name not in needed and not keep_uniforms:
                continue
            mixed = None
            for j, other in members:
                weight = float(group.cholesky[k, j])
                if j > k or weight == 0.0 or other not in scores:
                    continue
                term = new()
                instrs.append([K.OP_MUL, term, scores[other], const(weight), 0])
                if mixed is None:
                    mixed = term
                else:
                    total = new()
                    instrs.append([K.OP_ADD, total, mixed, term, 0])
                    mixed = total
            assert mixed is not None  # a row of a correlation matrix's Cholesky factor is a
            u = new()                 # unit vector: some weight is nonzero
            instrs.append([K.OP_NDTR, u, mixed, 0, 0])
            uniforms[name] = u
            if name not in needed:
                continue
            spec, p = sampler(scenario.input(name))
            dst = new()
            instrs.append([K.OP_SAMPLE_U, dst, len(params), u, spec.family])
            params.extend(p)
            named[name] = dst

    def emit(node: Node, memo: dict[Node, int] | None = None) -> int:
        """Instructions computing ``node``; with ``memo``, a sub-expression met again reuses
        its register (the evidence's likelihoods repeat theirs)."""
        if isinstance(node, Num):
            return const(node.value)
        if isinstance(node, Name):
            return named[node.id]
        assert isinstance(node, Op)
        if memo is not None and node in memo:
            return memo[node]
        if node.name in CHAINS:  # the left fold, as written: bit for bit a binary tree's
            first, steps = fold_steps(node)
            acc = emit(first, memo)
            for name, term in steps:
                operand = emit(term, memo)
                dst = new()
                instrs.append([_OPCODES[name], dst, acc, operand, 0])
                acc = dst
        else:
            args = [emit(a, memo) for a in node.args]
            acc = new()
            instrs.append([_OPCODES[node.name], acc, *args, *([0] * (3 - len(args)))])
        if memo is not None:
            memo[node] = acc
        return acc

    for name, formula in scenario.derived:
        if name in needed:
            named[name] = emit(formula.tree)
    outs = [emit(o.formula.tree) for o in scenario.outputs]
    memo: dict[Node, int] = {}
    evidence = [(emit(ev.formula.tree, memo), emit(weight_tree(ev), memo))
                for ev in scenario.evidence]
    weight = -1
    by_name = sorted(range(len(evidence)), key=lambda k: scenario.evidence[k].name)
    for k in by_name:  # the product of the likelihoods, by name: the same in any file order
        w = evidence[k][1]
        if weight < 0:
            weight = w
        else:
            product = new()
            instrs.append([K.OP_MUL, product, weight, w, 0])
            weight = product

    live = set(outs) | {named[k] for k in keep} | {r for pair in evidence for r in pair}
    if weight >= 0:
        live.add(weight)
    if keep_uniforms:
        live |= set(uniforms.values())
    _check_codes(instrs)
    code, mapping, n_regs = _allocate(instrs, set(consts.values()), live)
    return Program(
        code=code,
        params=np.asarray(params, dtype=np.float64),
        keys=np.asarray(keys, dtype=np.uint64),
        streams=tuple(streams),
        tables=np.concatenate(tables) if tables else np.zeros(1),
        n_regs=max(n_regs, 1),
        const_regs=np.asarray([mapping[v] for v in consts.values()], dtype=np.int64),
        const_vals=np.asarray(list(consts.keys()), dtype=np.float64),
        out_regs=np.asarray([mapping[v] for v in outs], dtype=np.int64),
        named={k: mapping[v] for k, v in named.items() if k in keep or v in outs},
        uniforms={k: mapping[v] for k, v in uniforms.items()} if keep_uniforms else {},
        weight_reg=mapping[weight] if weight >= 0 else -1,
        evidence_regs=np.asarray([[mapping[q], mapping[w]] for q, w in evidence],
                                 dtype=np.int64).reshape(-1, 2),
    )


def _check_codes(instrs: list[list[int]]) -> None:
    """Every opcode, and every sampled family, is one the kernel handles (``_codes.py``)."""
    for op, _dst, _a, _b, c in instrs:
        if op not in KNOWN_OPS:
            raise McsimError(f"internal: opcode {op} is not one of _codes.OP_* "
                             f"({', '.join(map(str, sorted(KNOWN_OPS)))})")
        if op in (K.OP_SAMPLE, K.OP_SAMPLE_U) and c not in KNOWN_FAMILIES:
            raise McsimError(f"internal: distribution family code {c} is not one of "
                             f"_codes.F_* ({', '.join(map(str, sorted(KNOWN_FAMILIES)))})")


def _allocate(instrs: list[list[int]], pinned_consts: set[int],
              live_out: set[int]) -> tuple[np.ndarray, dict[int, int], int]:
    """Linear-scan register allocation over the straight-line program."""
    last_use: dict[int, int] = {}
    for i, (op, _dst, a, b, c) in enumerate(instrs):
        for v in _operands(op, a, b, c):
            last_use[v] = i
    mapping: dict[int, int] = {}
    free: list[int] = []
    n_regs = 0

    def take() -> int:
        nonlocal n_regs
        if free:
            return free.pop()
        n_regs += 1
        return n_regs - 1

    for v in sorted(pinned_consts):
        mapping[v] = take()
    code = np.zeros((len(instrs), 5), dtype=np.int64)
    for i, (op, dst, a, b, c) in enumerate(instrs):
        row = [op, 0, a, b, c]
        slots = _register_slots(op)
        for j in slots:
            row[2 + j] = mapping[(a, b, c)[j]]
        # dst never shares a row with an operand: LLVM vectorises a kernel loop only after
        # a runtime check that its rows do not overlap, and an in-place row fails it (the
        # scalar loop runs about 4x slower). Operands whose last use is here die after.
        mapping[dst] = take()
        row[1] = mapping[dst]
        for v in _operands(op, a, b, c):
            if last_use.get(v) == i and v not in live_out and v not in pinned_consts:
                free.append(mapping[v])
        code[i] = row
        if dst not in last_use and dst not in live_out:
            free.append(mapping[dst])
    return code, mapping, n_regs


def prune(prog: Program, out_regs: np.ndarray) -> Program:
    """``prog`` computing only what ``out_regs`` need: a backward liveness scan over the
    straight-line code drops every instruction whose value nothing kept reads. Streams,
    parameters and registers are untouched, so each kept value is bit for bit the same. The
    evidence weight is kept only when ``out_regs`` holds its register."""
    needed = {int(r) for r in out_regs}
    keep = np.zeros(len(prog.code), dtype=bool)
    for i in range(len(prog.code) - 1, -1, -1):
        op, dst, a, b, c = (int(v) for v in prog.code[i])
        if dst in needed:  # the latest write of a register a kept instruction reads
            keep[i] = True
            needed.discard(dst)
            needed |= _operands(op, a, b, c)
    weight = prog.weight_reg if prog.weight_reg in {int(r) for r in out_regs} else -1
    return replace(prog, code=np.ascontiguousarray(prog.code[keep]), out_regs=out_regs,
                   weight_reg=weight, evidence_regs=np.zeros((0, 2), np.int64))


def _register_slots(op: int) -> tuple[int, ...]:
    """Which of the operands (a, b, c) of ``op`` are registers (others are indices)."""
    if op in (K.OP_SAMPLE, K.OP_NSCORE):
        return ()
    if op == K.OP_SAMPLE_U:
        return (1,)
    return tuple(range(_ARITY[op]))


def _operands(op: int, a: int, b: int, c: int) -> set[int]:
    return {(a, b, c)[j] for j in _register_slots(op)}
