"""Load and validate a scenario file (TOML) into frozen dataclasses.

The only place that parses scenario files. Every error is a ``SpecError`` whose key starts
with the file and names the table and field, e.g.
``priors/x.toml: inputs.h800_count.p5: must be less than p95 (got 12000 >= 8000)``.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Set
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from . import bibliography, distributions
from .bibliography import Source
from .correlation import Correlation, Group, Repair, groups
from .distributions import Distribution
from .errors import McsimError, SpecError, did_you_mean
from .evidence import Evidence, names_used, parse_evidence, references
from .formula import CONSTANTS, FUNCTIONS, RESERVED, Formula, Name, order_by_dependency, parse
from .textfile import read_bounded

SCHEMA_VERSION = 1
DEFAULT_SCENARIO = "deepseek"
MAX_FILE_BYTES = 10 * 10**6  # a scenario file, and each file it extends
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = {"schema", "extends", "title", "description", "inputs", "derived", "outputs",
             "claims", "correlations", "evidence"}
_CORRELATION_KEYS = {"inputs", "spearman", "matrix", "source", "note"}
_MERGED_TABLES = ("inputs", "derived", "outputs", "claims")
_INPUT_META = {"unit", "source", "note"}
_OUTPUT_KEYS = {"formula", "unit", "label", "note"}
_CLAIM_KEYS = {"output", "value", "source", "note", "scope"}


@dataclass(frozen=True)
class Input:
    name: str
    prior: Distribution
    unit: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class Output:
    name: str
    formula: Formula
    unit: str
    label: str
    implicit: bool = False  # an input or derived quantity that a claim names, reported for it


@dataclass(frozen=True)
class Claim:
    name: str
    output: str
    value: float
    source: str
    note: str = ""
    scope: str = ""  # which reading of the claimed figure this line audits, when there are several


@dataclass(frozen=True)
class Scenario:
    """A validated cost question. ``derived`` is in dependency order; it also holds the
    outputs that other outputs use (each then reports that quantity), and ``outputs`` ends
    with the inputs and derived quantities that claims name (``Output.implicit``)."""

    name: str
    title: str
    description: str
    inputs: tuple[Input, ...]
    derived: tuple[tuple[str, Formula], ...]
    outputs: tuple[Output, ...]
    claims: tuple[Claim, ...]
    path: str = ""
    sha256: str = ""
    correlations: tuple[Correlation, ...] = ()
    groups: tuple[Group, ...] = ()  # correlated inputs, with their copula factors
    repairs: tuple[Repair, ...] = ()  # correlations changed by --repair-correlations
    bibliography: tuple[Source, ...] = ()  # the entries its sources cite, in order of citation
    evidence: tuple[Evidence, ...] = ()  # observations that weight the draws (``evidence.py``)

    def __repr__(self) -> str:
        return (f"<Scenario {self.name!r}: {len(self.inputs)} inputs, {len(self.derived)} "
                f"derived, {len(self.outputs)} outputs, {len(self.claims)} claims>")

    def input(self, name: str) -> Input:
        for i in self.inputs:
            if i.name == name:
                return i
        raise McsimError(f"unknown input {name!r}; inputs: {', '.join(self.input_names)}")

    def output(self, name: str) -> Output:
        for o in self.outputs:
            if o.name == name:
                return o
        known = [o.name for o in self.outputs]
        raise McsimError(f"unknown output {name!r}{did_you_mean(name, known)}; "
                         f"outputs: {', '.join(known)}")

    def only(self, output: str) -> Scenario:
        """This scenario reduced to one output (and no claims): the program computes less
        (the evidence stays: it weights that output's draws too)."""
        return replace(self, outputs=(self.output(output),), claims=())

    def without_evidence(self) -> Scenario:
        """The priors alone: this scenario with its evidence tables ignored."""
        return replace(self, evidence=())

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def dependencies(self, names: tuple[str, ...] = ()) -> set[str]:
        """Every input and derived quantity that the outputs, the evidence (and ``names``)
        depend on."""
        formulas = dict(self.derived)
        needed: set[str] = set()
        stack = [*names, *(n for o in self.outputs for n in o.formula.names),
                 *names_used(self.evidence)]
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                if name in formulas:
                    stack.extend(formulas[name].names)
        return needed

    def unused_inputs(self) -> list[str]:
        """Inputs no output depends on (directly or through derived quantities)."""
        needed = self.dependencies()
        return [n for n in self.input_names if n not in needed]


def _shipped_folder() -> Path | None:
    """The package's ``priors/`` (the repo's, in a source checkout)."""
    candidates = [resources.files("mcsim") / "priors",
                  Path(__file__).resolve().parents[2] / "priors"]  # a source checkout
    for folder in candidates:
        folder = Path(str(folder))
        if folder.is_dir():
            return folder
    return None


def builtin_scenarios() -> dict[str, Path]:
    """Scenario files shipped with the package (``priors/`` of the repo)."""
    folder = _shipped_folder()
    if folder is None:
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.toml")) if p.name != bibliography.FILE_NAME}


def _shipped_bibliography_path() -> Path | None:
    folder = _shipped_folder()
    path = folder / bibliography.FILE_NAME if folder else None
    return path if path and path.is_file() else None


def builtin_bibliography() -> dict[str, Source]:
    """The bibliography shipped with mcsim (``priors/sources.toml``; empty if missing)."""
    path = _shipped_bibliography_path()
    return bibliography.load_bibliography(path) if path else {}


def resolve_path(path: str | Path | None) -> Path:
    """A scenario path, or the built-in scenario of that name, or the default one."""
    if path is None:
        path = DEFAULT_SCENARIO
    p = Path(path)
    if p.exists():
        return p
    builtin = builtin_scenarios()
    name = p.stem if p.suffix == ".toml" and len(p.parts) == 1 else str(path)
    if name in builtin:
        return builtin[name]
    names = ", ".join(builtin) or "none found"
    raise McsimError(f"{path}: no such scenario file (built-in scenarios: {names})")


def load_scenario(path: str | Path | None = None, repair: bool = False,
                  evidence: bool = True) -> Scenario:
    """Read and validate a scenario file; ``None`` loads the built-in default. With
    ``evidence`` false, its ``[[evidence]]`` is read and checked, then left out.

    A file with ``extends = "base.toml"`` (a path relative to it, or a built-in name) starts
    from that scenario: each input, derived quantity, output and claim it names replaces the
    base's entry of that name wholesale, and its title and description replace the base's.
    """
    p = resolve_path(path)
    data, raw = _read_with_bases(p, [])
    try:
        scenario = scenario_from_dict(data, name=p.stem, repair=repair)
        cited = _cited(scenario, bibliography.bibliography_for(p, _shipped_bibliography_path()))
    except SpecError as err:
        raise SpecError(f"{p}: {err.key}", err.message) from None
    scenario = replace(scenario, path=str(p), sha256=hashlib.sha256(raw).hexdigest(),
                       bibliography=cited)
    return scenario if evidence else scenario.without_evidence()


def _cited(scenario: Scenario, entries: dict[str, Source]) -> tuple[Source, ...]:
    """Every bibliography entry the scenario's sources cite; an unknown key is an error."""
    texts = [*((f"inputs.{i.name}.{field}", text) for i in scenario.inputs
               for field, text in (("source", i.source), ("note", i.note))),
             *((f"claims.{c.name}.{field}", text) for c in scenario.claims
               for field, text in (("source", c.source), ("note", c.note))),
             *((f"correlations ({c.a} ~ {c.b}).source", c.source)
               for c in scenario.correlations),
             *references(scenario.evidence)]
    texts.append(("description", scenario.description))
    found: dict[str, Source] = {}
    for where, text in texts:
        for source in bibliography.resolve(text, entries, where):
            found.setdefault(source.key, source)
    return tuple(found.values())


def _read_toml(p: Path) -> tuple[dict[str, Any], bytes]:
    raw = read_bounded(p, MAX_FILE_BYTES, "a scenario")
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except UnicodeDecodeError:
        raise McsimError(f"{p}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise McsimError(f"{p}: invalid TOML: {err}") from None


def _read_with_bases(p: Path, chain: list[Path]) -> tuple[dict[str, Any], bytes]:
    """The file's table merged over the scenario it extends; the bytes of every file read."""
    data, raw = _read_toml(p)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, raw
    if not isinstance(base_name, str):
        raise SpecError(f"{p}: extends", f"must be a file name, got {base_name!r}")
    candidate = p.parent / base_name
    try:
        base_path = candidate if candidate.exists() else resolve_path(base_name)
    except McsimError:
        raise SpecError(f"{p}: extends", f"no such scenario {base_name!r}") from None
    if base_path.resolve() in [c.resolve() for c in [*chain, p]]:
        names = " -> ".join(c.name for c in [*chain, p, base_path])
        raise SpecError(f"{p}: extends", f"cycle: {names}")
    try:
        base, base_raw = _read_with_bases(base_path, [*chain, p])
        try:  # the base must be valid on its own, so that its errors name its own file
            scenario_from_dict(base, name=base_path.stem, repair=True)
        except SpecError as err:
            raise SpecError(f"{base_path}: {err.key}", err.message) from None
    except McsimError as err:  # name the file that extends it, too
        raise SpecError(f"{p}: extends", str(err)) from None
    merged = {**base, **{k: v for k, v in data.items() if k not in _MERGED_TABLES}}
    for table in _MERGED_TABLES:
        own = data.get(table, {})
        if not isinstance(own, dict):
            raise SpecError(f"{p}: {table}", "must be a table")
        merged[table] = {**base.get(table, {}), **own}
    if "evidence" in data and "evidence" in base:
        merged["evidence"] = _merge_evidence(base["evidence"], data["evidence"], p)
    return merged, base_raw + raw


def _merge_evidence(base: list, own: Any, p: Path) -> list:
    """A view's ``[[evidence]]``: a table naming the base's replaces it, others are added;
    ``drop = true`` with a name removes the base's."""
    if not isinstance(own, list):
        raise SpecError(f"{p}: evidence", "must be an array of tables: write each as "
                                          "[[evidence]]")
    merged = {e.get("name"): e for e in base}
    for e in own:
        if isinstance(e, dict) and e.get("drop") is True and set(e) <= {"name", "drop"}:
            if e.get("name") not in merged:
                raise SpecError(f"{p}: evidence.{e.get('name')}.drop", "no such evidence in "
                                f"the base{did_you_mean(str(e.get('name')), map(str, merged))}")
            del merged[e.get("name")]
        else:
            merged[e.get("name") if isinstance(e, dict) else id(e)] = e
    return list(merged.values())


def _correlations(raw: Any, inputs: tuple[Input, ...]) -> tuple[Correlation, ...]:
    """``[[correlations]]``: one pair (``inputs = [a, b]``, ``spearman = r``) or a matrix
    (``inputs = [a, b, c]``, ``matrix = [[1, r_ab, r_ac], ...]``) per table."""
    if not isinstance(raw, list):
        raise SpecError("correlations", "must be an array of tables: [[correlations]] with "
                                        "inputs = [a, b] and spearman = r")
    by_name = {i.name: i for i in inputs}
    seen: set[frozenset[str]] = set()
    out = []
    for k, spec in enumerate(raw):
        key = f"correlations[{k}]"
        if not isinstance(spec, dict):
            raise SpecError(key, "must be a table with inputs and spearman (or matrix)")
        _no_unknown(spec, _CORRELATION_KEYS, key)
        names = spec.get("inputs")
        if "matrix" in spec:
            if "spearman" in spec:
                raise SpecError(key, "give spearman (a pair) or matrix, not both")
            if not (isinstance(names, list) and len(names) >= 2
                    and all(isinstance(p, str) for p in names)):
                raise SpecError(f"{key}.inputs", "must name the matrix's inputs in order: "
                                                 "inputs = [\"a\", \"b\", \"c\"]")
            pairs = _matrix_pairs(spec["matrix"], names, f"{key}.matrix")
        else:
            if not (isinstance(names, list) and len(names) == 2
                    and all(isinstance(p, str) for p in names)):
                raise SpecError(f"{key}.inputs", "must name two inputs: inputs = [\"a\", \"b\"] "
                                                 "(or several, with a matrix)")
            pairs = [(names[0], names[1], spec.get("spearman"), f"{key}.spearman")]
        for name in names:
            if name not in by_name:
                raise SpecError(f"{key}.inputs",
                                f"unknown input {name!r}{did_you_mean(name, by_name)}")
            if by_name[name].prior.is_constant:
                raise SpecError(f"{key}.inputs", f"{name!r} is a constant; it cannot correlate")
        if len(set(names)) < len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise SpecError(f"{key}.inputs", f"{twice!r} is named twice: a pair must be two "
                                             "inputs, given once")
        source = _text(spec, "source", key, required=False)
        for a, b, rho, where in pairs:
            if frozenset((a, b)) in seen:
                raise SpecError(f"{key}.inputs", f"{a!r} and {b!r}: "
                                                 "a pair must be two inputs, given once")
            seen.add(frozenset((a, b)))
            if isinstance(rho, bool) or not isinstance(rho, int | float) or not -1 < rho < 1:
                raise SpecError(where, f"must be a number strictly between -1 and 1, "
                                       f"got {rho!r}")
            out.append(Correlation(a, b, float(rho), source))
    return tuple(out)


def _matrix_pairs(matrix: Any, names: list[str], key: str) -> list[tuple[str, str, Any, str]]:
    """The pairs above the diagonal of a symmetric rank-correlation matrix with unit diagonal."""
    n = len(names)
    if not (isinstance(matrix, list) and len(matrix) == n
            and all(isinstance(row, list) and len(row) == n for row in matrix)):
        raise SpecError(key, f"must be {n} rows of {n} numbers, one per input")
    for i in range(n):
        for j in range(n):
            v = matrix[i][j]
            if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
                raise SpecError(f"{key}[{i}][{j}]", f"must be a number, got {v!r}")
        if matrix[i][i] != 1:
            raise SpecError(f"{key}[{i}][{i}]", f"the diagonal must be 1, got {matrix[i][i]!r}")
        for j in range(i):
            if matrix[i][j] != matrix[j][i]:
                raise SpecError(f"{key}[{i}][{j}]", f"must equal [{j}][{i}] "
                                                    f"({matrix[i][j]!r} != {matrix[j][i]!r})")
    return [(names[i], names[j], matrix[i][j], f"{key}[{i}][{j}]")
            for i in range(n) for j in range(i + 1, n)]


def scenario_from_dict(data: dict[str, Any], name: str = "scenario",
                       repair: bool = False) -> Scenario:
    """Validate parsed TOML (a dict) into a ``Scenario``; errors are ``SpecError``s."""
    _no_unknown(data, _TOP_KEYS, "")
    schema = data.get("schema")
    if schema is None:
        raise SpecError("schema", f"missing: add `schema = {SCHEMA_VERSION}` at the top")
    if schema != SCHEMA_VERSION:
        raise SpecError("schema", f"unsupported version {schema!r}; this mcsim reads "
                                  f"schema {SCHEMA_VERSION}")
    title = _text(data, "title", "", required=False) or name
    description = _text(data, "description", "", required=False)

    inputs = tuple(_input(n, spec) for n, spec in _table(data, "inputs", required=True).items())
    input_names = {i.name for i in inputs}

    derived_raw = _table(data, "derived")
    derived: dict[str, Formula] = {}
    for dname, text in derived_raw.items():
        _check_name(dname, "derived")
        if dname in input_names:
            raise SpecError(f"derived.{dname}", "is already the name of an input")
        derived[dname] = parse(text, f"derived.{dname}")
    order = order_by_dependency(derived, input_names)

    outputs = _outputs(_table(data, "outputs", required=True), input_names, derived)
    outputs, promoted = _promote_used_outputs(outputs, input_names | set(derived))
    order += list(promoted)
    derived.update(promoted)
    output_names = {o.name for o in outputs}
    units = {i.name: i.unit for i in inputs}

    claims = []
    for cname, spec in _table(data, "claims").items():
        key = f"claims.{cname}"
        if not isinstance(spec, dict):
            raise SpecError(key, "must be a table with output, value and source")
        _no_unknown(spec, _CLAIM_KEYS, key)
        out = _text(spec, "output", key)
        if out not in output_names:
            if out not in units and out not in derived:
                known = output_names | set(derived) | set(units)
                raise SpecError(f"{key}.output", f"unknown output or quantity {out!r}"
                                                 f"{did_you_mean(out, known)}")
            # a quantity that is not an output: audited as an implicit output of its name
            outputs.append(Output(out, Formula(out, Name(out)), units.get(out, ""),
                                  f"{out} (named by a claim)", implicit=True))
            output_names.add(out)
        value = spec.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{key}.value", f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise SpecError(f"{key}.value", f"must be finite, got {value!r}")
        claims.append(Claim(cname, out, float(value), _text(spec, "source", key),
                            _text(spec, "note", key, required=False),
                            _text(spec, "scope", key, required=False)))

    correlations = _correlations(data.get("correlations", []), inputs)
    grouped, repairs = groups(correlations, tuple(i.name for i in inputs), repair)
    evidence = parse_evidence(data.get("evidence"), input_names | set(derived))
    return Scenario(name=name, title=title, description=description, inputs=inputs,
                    correlations=correlations, groups=grouped, repairs=repairs,
                    derived=tuple((n, derived[n]) for n in order), outputs=tuple(outputs),
                    claims=tuple(claims), evidence=evidence)


def _outputs(table: dict[str, Any], input_names: set[str],
             derived: dict[str, Formula]) -> list[Output]:
    """``[outputs.*]``: formulas over inputs, derived quantities and other outputs (unknown
    names and cycles among outputs are errors at ``outputs.NAME.formula``)."""
    outputs = []
    known = input_names | set(derived)
    for oname, spec in table.items():
        _check_name(oname, "outputs")
        key = f"outputs.{oname}"
        if isinstance(spec, str):
            spec = {"formula": spec}
        if not isinstance(spec, dict):
            raise SpecError(key, "must be a table with formula, unit and label")
        _no_unknown(spec, _OUTPUT_KEYS, key)
        formula = parse(_text(spec, "formula", key), f"{key}.formula")
        if oname in known and formula.tree != Name(oname):
            raise SpecError(f"{key}.formula", f"an output named like the quantity {oname!r} "
                                              f"must report it (formula = \"{oname}\"); "
                                              "give this output another name")
        outputs.append(Output(oname, formula, _text(spec, "unit", key, required=False),
                              _text(spec, "label", key, required=False) or oname))
    # An output named like a quantity is that quantity: only the others can form a cycle.
    own = {o.name: o.formula for o in outputs if o.name not in known}
    order_by_dependency(own, known, prefix="outputs", field=".formula")
    return outputs


def _promote_used_outputs(outputs: list[Output], known: set[str]
                          ) -> tuple[list[Output], dict[str, Formula]]:
    """Outputs that other outputs use, as derived quantities of the same name (computed
    once; the output then reports that quantity), in dependency order."""
    own = {o.name: o.formula for o in outputs if o.name not in known}
    used = {n for o in outputs for n in o.formula.names if n in own and n != o.name}
    if not used:
        return outputs, {}
    order = order_by_dependency({n: own[n] for n in used}, known | set(own))
    promoted = {n: own[n] for n in order}
    outputs = [replace(o, formula=Formula(o.formula.text, Name(o.name))) if o.name in used
               else o for o in outputs]
    return outputs, promoted


def _input(name: str, spec: Any) -> Input:
    key = f"inputs.{name}"
    _check_name(name, "inputs")
    if not isinstance(spec, dict):
        raise SpecError(key, "must be a table with dist parameters, unit and source")
    params = {k: v for k, v in spec.items() if k not in _INPUT_META}
    allowed = distributions.PARAMETER_NAMES | _INPUT_META
    for field in params:
        if field not in distributions.PARAMETER_NAMES:
            _no_unknown({field: None}, allowed, key)
    try:
        prior = distributions.from_spec(params)
        distributions.check_reach(prior)
    except SpecError as err:
        raise err.within(key) from None
    unit = _text(spec, "unit", key)
    source = _text(spec, "source", key)
    return Input(name, prior, unit, source, _text(spec, "note", key, required=False))


def _table(data: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise SpecError(key, f"missing: the scenario needs at least one [{key}.NAME] table")
        return {}
    if not isinstance(value, dict):
        raise SpecError(key, "must be a table")
    if required and not value:
        raise SpecError(key, "is empty")
    return value


def _text(spec: dict[str, Any], field: str, key: str, required: bool = True) -> str:
    full = f"{key}.{field}" if key else field
    value = spec.get(field)
    if value is None:
        if required:
            raise SpecError(full, "missing")
        return ""
    if not isinstance(value, str):
        raise SpecError(full, f"must be a string, got {value!r}")
    if required and not value.strip():
        raise SpecError(full, "must not be empty")
    return value


def _check_name(name: str, table: str) -> None:
    if not _NAME.match(name):
        raise SpecError(f"{table}.{name}", "names must be identifiers (letters, digits, _)")
    if name in RESERVED:
        what = ("a function" if name in FUNCTIONS else
                f"a constant (= {CONSTANTS[name]:.6g})" if name in CONSTANTS else "a keyword")
        raise SpecError(f"{table}.{name}", f"{name!r} is reserved: it is {what} of the formula "
                                           "language; choose another name")


def _no_unknown(spec: dict[str, Any], allowed: Set[str], key: str) -> None:
    for field in spec:
        if field not in allowed:
            where = f"{key}.{field}" if key else field
            raise SpecError(where, f"unknown field{did_you_mean(field, allowed)}")
