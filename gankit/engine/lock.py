"""One writer per run folder: an OS advisory lock held for the whole run.

``fcntl.flock`` on ``<run>/.gankit.lock``, taken without waiting. The kernel drops the lock when the holder's
file descriptor closes, which includes every way a process can die (``kill -9`` too), so a stale lock
cannot exist: a file left by a killed holder is simply locked again by the next writer. The file holds
``pid host`` of the holder, for the message the second writer gets, and is removed on a clean release
(a writer that opened it just before checks, after locking, that the path still names the file it locked).

Why the standard library and not a package such as ``filelock``: on Linux/macOS ``filelock`` uses the same
``flock`` call underneath, and its extra features (timeouts, Windows, soft locks) are either unwanted — a
second writer must be refused at once, not wait — or unsupported here (the engine is POSIX-only). The
stdlib needs no dependency and no code we do not read.

Shared file systems: Linux NFS clients implement ``flock`` through NFS byte-range locks (NLM/NFSv4), so the
lock holds across machines; Lustre needs the ``flock`` mount option, some FUSE systems have no locks at
all. Where the file system refuses locks, training goes on with a warning (one writer is then up to you).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from gankit.errors import GankitError

LOCK_NAME = ".gankit.lock"
#: descriptors of the locks this process holds: a forked child (plot worker, data-loader worker) closes its
#: copies at once, so the lock ends with this process and never lingers in a child
_HELD: set[int] = set()


def _close_in_child() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


class RunLock:
    """``with RunLock(folder):`` — or ``acquire()``/``release()``; ``acquire`` raises a one-line
    :class:`GankitError` naming the holder when another process holds the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None
        #: why the lock could not be taken on this file system (then the folder is not locked)
        self.unsupported: str | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        for _ in range(10):  # another holder may remove the file between our open and our lock: try again
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise GankitError(f"{self.folder} is in use by another gankit process ({holder}); wait for it "
                                      "to finish or use another --out") from None
                os.close(fd)  # ENOLCK / EOPNOTSUPP: this file system has no locks
                self.unsupported = exc.strerror or str(exc)
                return self
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
                self._fd = fd
                _HELD.add(fd)
                return self
            os.close(fd)
        raise GankitError(f"{self.folder}: could not lock {self.path}: it keeps being replaced")

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise GankitError(f"{self.folder}: cannot create the lock file {self.path}: "
                              f"{exc.strerror or exc}") from None

    def release(self) -> None:
        """Remove the lock file, then drop the lock (a process that opened the old file finds it replaced)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _HELD.discard(fd)
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _read_holder(fd: int) -> str:
    """``pid N on HOST`` from the lock file (the holder writes it just after locking: wait a moment for it)."""
    for _ in range(50):
        try:
            text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
        except OSError:
            break
        if len(text) >= 2 and text[0].isdigit():
            return f"pid {text[0]} on {text[1]}"
        time.sleep(0.005)
    return "holder unknown"


def lock_run_of(target: Path | None) -> contextlib.AbstractContextManager[Any]:
    """For ``eval``/``sample``: the lock of the run folder that ``target`` (a file or folder they write) lies
    in — the folder holding ``target`` when it holds a run — else nothing to lock."""
    from gankit.engine.run_folder import markers

    if target is None or not target.parent.is_dir() or not markers(target.parent):
        return contextlib.nullcontext()
    return RunLock(target.parent)
