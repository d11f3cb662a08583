"""Opening a file a user named (a spec, a checkpoint) without trusting what it is.

``open()`` on a FIFO blocks until someone writes to it, and reading ``/dev/zero`` never ends, so a path is
opened non-blocking, checked with ``fstat`` to be a regular file (symlinks are followed: a link to a regular
file is one), and read only up to a cap. What is wrong is raised as :class:`UnsafeFileError` with a short
reason; the caller adds the path and what the file was meant to be, so the user reads one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnsafeFileError(Exception):
    """Why a file cannot be used: ``"no such file"``, ``"not a regular file"``, ``"too large (...)"``, ..."""


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for binary reading, refused unless it is a regular file (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnsafeFileError("no such file") from None
    except OSError as exc:
        raise UnsafeFileError(f"cannot open: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFileError("not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` bytes (checked before reading it)."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise UnsafeFileError(f"too large ({size:,} bytes; at most {max_bytes:,})")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise UnsafeFileError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # it grew while we read it
        raise UnsafeFileError(f"too large (more than {max_bytes:,} bytes)")
    return data


def os_error_behind(exc: BaseException) -> OSError | None:
    """``exc`` if it is an ``OSError``, else the first one in its cause/context chain (libraries such as
    matplotlib or PIL may wrap the failed write)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
