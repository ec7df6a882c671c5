"""The bibliography: the sources that scenario files cite as ``[@key]``.

A bibliography is a TOML file, ``sources.toml``, with one table per source keyed by a short
stable name (``[semianalysis-2025-01-31]``): its title, publisher, date and address, and the
figures the scenarios take from it, each with a status (verified in the primary text,
secondary, derived, unverified). A scenario cites entries anywhere in a ``source`` text, as
``[@key]`` or ``[@key1; @key2]``; the keys resolve against a ``sources.toml`` beside the
scenario file, then the one shipped with mcsim (``scenario.builtin_bibliography``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import McsimError, SpecError, did_you_mean
from .textfile import read_bounded

STATUSES = ("verified", "secondary", "derived", "unverified")
FILE_NAME = "sources.toml"
_CITATION = re.compile(r"\[@([^\]]*)\]")
_KEY = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_FIELDS = {"title", "publisher", "date", "url", "authors", "access", "figures"}
_FIGURE_FIELDS = {"what", "value", "status"}
_MAX_BYTES = 10**6


@dataclass(frozen=True)
class Figure:
    """One figure a scenario takes from a source, and how far it was checked."""

    what: str
    value: str
    status: str


@dataclass(frozen=True)
class Source:
    """One entry of the bibliography."""

    key: str
    title: str
    publisher: str
    date: str
    url: str
    authors: str = ""
    access: str = ""
    figures: tuple[Figure, ...] = ()

    def reference(self) -> str:
        """One line: publisher (date), title, address."""
        who = f"{self.authors}, {self.publisher}" if self.authors else self.publisher
        return f"{who} ({self.date}). {self.title}. {self.url}"


def citations(text: str) -> tuple[str, ...]:
    """The keys cited in ``text`` (``[@a]``, ``[@a; @b]``), in order, each once."""
    keys: list[str] = []
    for group in _CITATION.findall(text):
        for part in group.split(";"):
            key = part.strip().removeprefix("@").strip()
            if key not in keys:
                keys.append(key)
    return tuple(keys)


def load_bibliography(path: str | Path) -> dict[str, Source]:
    """Read and validate a ``sources.toml``; errors name the file, the entry and the field."""
    p = Path(path)
    raw = read_bounded(p, _MAX_BYTES, "a bibliography")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise McsimError(f"{p}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise McsimError(f"{p}: invalid TOML: {err}") from None
    try:
        return {key: _source(key, spec) for key, spec in data.items()}
    except SpecError as err:  # a plain McsimError, so that no scenario path is put before it
        raise McsimError(f"{p}: {err}") from None


def bibliography_for(scenario_path: str | Path, shipped: Path | None) -> dict[str, Source]:
    """The entries a scenario file can cite: those of ``shipped`` (mcsim's own
    ``sources.toml``), then those of a ``sources.toml`` beside the scenario."""
    entries = load_bibliography(shipped) if shipped else {}
    own = Path(scenario_path).parent / FILE_NAME
    if own.is_file() and not (shipped and own.resolve() == shipped.resolve()):
        entries = {**entries, **load_bibliography(own)}
    return entries


def resolve(text: str, entries: dict[str, Source], where: str) -> tuple[Source, ...]:
    """The entries ``text`` cites; an unknown key is a ``SpecError`` at ``where``."""
    out = []
    for key in citations(text):
        if key not in entries:
            raise SpecError(where, f"cites unknown source [@{key}]"
                                   f"{did_you_mean(key, entries)}; sources are listed in "
                                   f"{FILE_NAME} (beside the scenario, or mcsim's own)")
        out.append(entries[key])
    return tuple(out)


def to_markdown(entries: dict[str, Source]) -> str:
    """The bibliography as a Markdown document, one section per entry."""
    lines = ["# Sources", "",
             "The bibliography of the shipped scenarios, generated from `sources.toml` (edit that "
             "file, then run `python tools/headline.py --sources`). A scenario cites an entry as "
             "`[@key]`. Status of each figure: **verified** (read in the primary text or a "
             "faithful copy), **secondary** (a third party quoting or summarising it), "
             "**derived** (our arithmetic on sourced numbers), **unverified** (claimed, not "
             "confirmed). Priors that no source pins down are marked JUDGMENT in the scenario "
             "notes; they are not sources.", ""]
    for s in entries.values():
        lines += [f"## `{s.key}`", "", f"{s.reference()}", ""]
        if s.access:
            lines += [f"Read: {s.access}.", ""]
        if s.figures:
            lines += ["| figure | value | status |", "|---|---|---|"]
            lines += [f"| {f.what} | {f.value.replace('|', '/')} | {f.status} |"
                      for f in s.figures]
            lines.append("")
    return "\n".join(lines)


def _source(key: str, spec: Any) -> Source:
    if not _KEY.match(key):
        raise SpecError(key, "keys are lower-case letters, digits, '-' and '.'")
    if not isinstance(spec, dict):
        raise SpecError(key, "must be a table with title, publisher, date and url")
    for field in spec:
        if field not in _FIELDS:
            raise SpecError(f"{key}.{field}", f"unknown field{did_you_mean(field, _FIELDS)}")
    text = {f: _text(spec, f, key, f in {"title", "publisher", "date", "url"})
            for f in ("title", "publisher", "date", "url", "authors", "access")}
    if not re.match(r"^https?://\S+$", text["url"]):
        raise SpecError(f"{key}.url", f"must be an http(s) address, got {text['url']!r}")
    figures = spec.get("figures", [])
    if not isinstance(figures, list):
        raise SpecError(f"{key}.figures", "must be a list of {what, value, status} tables")
    return Source(key=key, **text, figures=tuple(_figure(f, f"{key}.figures[{i}]")
                                                 for i, f in enumerate(figures)))


def _figure(spec: Any, where: str) -> Figure:
    if not isinstance(spec, dict) or set(spec) != _FIGURE_FIELDS:
        raise SpecError(where, "must be a table { what = ..., value = ..., status = ... }")
    if spec["status"] not in STATUSES:
        raise SpecError(f"{where}.status", f"must be one of {', '.join(STATUSES)}, "
                                           f"got {spec['status']!r}")
    return Figure(*(_text(spec, f, where, True) for f in ("what", "value", "status")))


def _text(spec: dict[str, Any], field: str, where: str, required: bool) -> str:
    value = spec.get(field, "")
    if not isinstance(value, str):
        raise SpecError(f"{where}.{field}", f"must be a string, got {value!r}")
    if required and not value.strip():
        raise SpecError(f"{where}.{field}", "missing")
    return value
