"""Inverse-CDF tables: the disk cache, its key and its format number, and the suite's cache."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np

from mcsim import distributions as D
from mcsim import tables

# The source digest of what a cached table's knots depend on, for each TABLE_FORMAT. A change
# to the builder must come with a new format number (a new entry here), or users with a warm
# cache keep tables built by the old code.
BUILDER_DIGESTS = {1: "a5e2d34b5bc2049a"}


def builder_digest() -> str:
    tabulated = sorted(f for f, spec in D._KERNEL.items() if spec is D._table_spec)
    sources = [inspect.getsource(tables._build_table), inspect.getsource(D.pert_shape),
               *(inspect.getsource(D._REFERENCE[f]) for f in tabulated)]
    return hashlib.sha256("".join(sources).encode()).hexdigest()[:16]


def test_a_changed_table_builder_comes_with_a_new_format_number():
    digest = builder_digest()
    assert BUILDER_DIGESTS.get(tables.TABLE_FORMAT) == digest, (
        f"the table builder (or a tabulated family's reference) changed: if what it computes "
        f"changed, set tables.TABLE_FORMAT = {max(BUILDER_DIGESTS) + 1} and add "
        f"{max(BUILDER_DIGESTS) + 1}: {digest!r} to BUILDER_DIGESTS; if not (a comment, a "
        f"name), replace the digest of format {tables.TABLE_FORMAT}")


def test_a_new_table_format_does_not_read_the_old_formats_files(monkeypatch):
    d = D.pert(1.0, 2.0, 7.0)
    tables._table.cache_clear()
    old = d.kernel_spec()  # built, and written to the (suite's) cache
    built = []
    real = tables._build_table
    monkeypatch.setattr(tables, "_build_table", lambda rv: built.append(rv) or real(rv))
    tables._table.cache_clear()
    assert d.kernel_spec() == old and not built  # the warm cache serves the same format
    monkeypatch.setattr(tables, "TABLE_FORMAT", tables.TABLE_FORMAT + 1)
    tables._table.cache_clear()
    assert d.kernel_spec() == old and len(built) == 1  # rebuilt under the new format
    tables._table.cache_clear()


def test_tables_are_cached_on_disk_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("MCSIM_CACHE_DIR", str(tmp_path))
    tables._table.cache_clear()
    d = D.pert(1.0, 2.0, 7.0)
    first = d.kernel_spec()
    (path,) = (tmp_path / "tables").glob("pert-*.npy")
    path.write_bytes(b"not a table")
    tables._table.cache_clear()
    again = d.kernel_spec()
    assert again == first
    knots = tables._table(d.family, tables._frozen(d.params), D._REFERENCE[d.family])
    assert np.array_equal(np.load(path), knots)
    tables._table.cache_clear()
    monkeypatch.setenv("MCSIM_CACHE_DIR", str(path))  # a file: the cache cannot be written
    assert d.kernel_spec() == first
    tables._table.cache_clear()


def test_the_suite_never_touches_the_users_cache(table_cache):
    folder = tables.table_cache_dir()
    assert folder == table_cache / "tables"
    assert not folder.is_relative_to(Path.home() / ".cache")
