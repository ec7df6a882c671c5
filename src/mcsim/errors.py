"""The one exception users see: a message that names the file, the key and what is wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class McsimError(Exception):
    """Bad input (a scenario file, a parameter, an option). The CLI prints it on one line."""


class SpecError(McsimError):
    """A problem inside one part of a scenario; ``key`` is the dotted path to it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message

    def within(self, prefix: str) -> SpecError:
        """The same error with ``prefix`` (a file or a table) put in front of its key."""
        key = f"{prefix}.{self.key}" if self.key else prefix
        return SpecError(key, self.message)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``known`` to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
