"""The one-line errors' shared pieces."""

from __future__ import annotations

from pathlib import Path

import mcsim
from mcsim.errors import did_you_mean


def test_did_you_mean_names_the_closest_known_word_quoted():
    assert did_you_mean("lognorml", ["normal", "lognormal"]) == " (did you mean 'lognormal'?)"
    assert did_you_mean("zzz", ["normal", "lognormal"]) == ""
    assert did_you_mean("mx", {"max": 1, "min": 2}) == " (did you mean 'max'?)"  # any iterable


def test_the_hint_is_written_once():
    """Every "did you mean" of the package comes from ``did_you_mean``."""
    src = Path(mcsim.__file__).parent
    writers = [p.name for p in sorted(src.glob("*.py"))
               if "get_close_matches" in p.read_text() or "did you mean {" in p.read_text()]
    assert writers == ["errors.py"]
