"""Checkpoints: written atomically, loaded without executing pickled code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it, and anything that would need pickled code to load is refused. It is written to a temporary file
next to the ``checkpoints/`` folder (same file system), flushed, fsynced and renamed into it, so that folder
never holds a partial file: a crash mid-write leaves the previous checkpoints intact, and the next run
removes the stray temporary file.

A full disk is reported as what it is: ``torch.save`` turns a failed ``write`` into a ``RuntimeError``
("enforce fail ... unexpected pos"), so the file object handed to it records the ``OSError`` it raised, and
that is what the user reads (``No space left on device``, ``File too large``).

Loading trusts nothing about the path: it must be a regular file (a FIFO or ``/dev/zero`` would hang) holding
the zip archive ``torch.save`` writes, and every failure is one line, ``PATH: not a gankit checkpoint (...)``
(never torch's advice to retry with ``weights_only=False``).
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError, TrainingError
from gankit.userfiles import UnsafeFileError, open_regular, os_error_behind

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:09d}.pt"


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


_PARTIAL_PREFIX = ".partial-checkpoint-"


def remove_partial_files(run_dir: Path) -> None:
    """Delete temporary files a killed process left behind while writing a checkpoint."""
    if run_dir.is_dir():
        for stray in run_dir.glob(f"{_PARTIAL_PREFIX}*"):
            stray.unlink(missing_ok=True)


class _RecordingWriter:
    """The file object ``torch.save`` writes to: passes writes through and keeps the ``OSError`` one raised,
    which torch replaces by a ``RuntimeError`` that no longer says why."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _write_failure(exc: BaseException, recorded: OSError | None) -> OSError | None:
    """The operating-system error behind ``exc``: recorded by the writer, or ``exc`` or one it was raised from."""
    return recorded if recorded is not None else os_error_behind(exc)


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``state`` as ``folder/step-N.pt`` atomically, then drop all but the newest ``keep``."""
    target = folder / checkpoint_name(step)
    tmp: Path | None = None
    writer: _RecordingWriter | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_PARTIAL_PREFIX, suffix=".pt", dir=folder.parent)
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as fh:
            writer = _RecordingWriter(fh)
            torch.save(state, writer)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        cause = _write_failure(exc, writer.error if writer is not None else None)
        if cause is not None and not isinstance(exc, KeyboardInterrupt):
            raise TrainingError(
                f"cannot write checkpoint {target}: {cause.strerror or cause}; earlier checkpoints are untouched"
            ) from exc
        raise
    _fsync_dir(folder)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or the newest one in a run folder (or its ``checkpoints/``)."""
    if path.is_file():
        return path
    for folder in (path / "checkpoints", path):
        found = list_checkpoints(folder)
        if found:
            return found[-1]
    if not path.exists():
        raise GankitError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise GankitError(f"{path}: not a gankit checkpoint (not a regular file)")
    raise GankitError(f"{path}: no checkpoint found (expected checkpoints/step-*.pt)")


#: how every file ``torch.save`` writes begins (a zip archive's local file header)
_ZIP_MAGIC = b"PK\x03\x04"
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a failed load; torch's advice about ``weights_only`` is never shown."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError):
        named = _GLOBAL.search(text)
        return f"it names code to run: {named.group(1)}" if named else "unsupported pickled content"
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first or "weights_only" in first:
        return type(exc).__name__
    return f"{type(exc).__name__}: {first[:200]}"


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``: a file that needs arbitrary pickled code is refused, not run."""
    try:
        fh = open_regular(path)
    except UnsafeFileError as exc:
        raise GankitError(f"{path}: not a gankit checkpoint ({exc})") from None
    with fh:
        magic = fh.read(len(_ZIP_MAGIC))
        if magic != _ZIP_MAGIC:
            what = "empty file" if not magic else "not a file written by torch.save"
            raise GankitError(f"{path}: not a gankit checkpoint ({what})")
        fh.seek(0)
        try:
            state = torch.load(fh, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            reason = _reason(exc)
            if reason.startswith("it names code"):
                raise GankitError(f"{path}: refused to load: not a plain gankit checkpoint ({reason})") from None
            raise GankitError(f"{path}: not a gankit checkpoint ({reason})") from None
        except MemoryError:
            raise GankitError(f"{path}: not a gankit checkpoint (too large to load into memory)") from None
        except Exception as exc:  # anything else torch's reader trips on: a corrupt or foreign file
            raise GankitError(f"{path}: not a gankit checkpoint ({_reason(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != "gankit-checkpoint":
        raise GankitError(f"{path}: not a gankit checkpoint (no gankit format marker)")
    return state
