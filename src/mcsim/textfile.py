"""Read a user's text file in bounded memory: a regular file, under a size cap, or one line.

Shared by the readers of scenario files and bibliographies, the two kinds of file a user
names: neither a FIFO, a device (``/dev/zero``) nor a huge file is read until memory runs out.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import McsimError


def read_bounded(p: Path, limit: int, what: str) -> bytes:
    """The bytes of ``p``, a regular file of at most ``limit`` bytes (``what`` names the kind
    of file in the errors, e.g. "a scenario").

    Opened without blocking and checked on the open descriptor, so that a FIFO, a device or a
    folder is refused before a byte is read, and a file that grows while it is read is cut
    off at the cap rather than read until memory runs out.
    """
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise McsimError(f"{p}: cannot read: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise McsimError(f"{p}: not a regular file ({_kind(mode)}); {what} is a TOML file")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(limit + 1)
        except OSError as err:
            raise McsimError(f"{p}: cannot read: {err.strerror}") from None
    if len(raw) > limit:
        raise McsimError(f"{p}: larger than the {limit / 1e6:g} MB {what} file may hold")
    return raw


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"
