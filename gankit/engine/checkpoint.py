"""Checkpoints: written atomically, loaded without executing pickled code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it, and anything that would need pickled code to load is refused. It is written to a temporary file
next to the ``checkpoints/`` folder (same file system), flushed, fsynced and renamed into it, so that folder
never holds a partial file: a crash mid-write leaves the previous checkpoints intact, and the next run
removes the stray temporary file.
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


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``state`` as ``folder/step-N.pt`` atomically, then drop all but the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checkpoint_name(step)
    fd, tmp_name = tempfile.mkstemp(prefix=_PARTIAL_PREFIX, suffix=".pt", dir=folder.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise TrainingError(
                f"cannot write checkpoint {target}: {exc.strerror or exc}; earlier checkpoints are untouched"
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
    raise GankitError(f"{path}: no checkpoint found (expected checkpoints/step-*.pt)")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``: a file that needs arbitrary pickled code is refused, not run."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise GankitError(f"{path}: refused to load: it is not a plain gankit checkpoint ({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise GankitError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != "gankit-checkpoint":
        raise GankitError(f"{path}: not a gankit checkpoint")
    return state
