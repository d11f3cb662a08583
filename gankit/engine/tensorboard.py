"""Optional TensorBoard logging (``run.tensorboard = true``), next to ``metrics.jsonl``, never instead of it.

``torch.utils.tensorboard`` needs the separate ``tensorboard`` package; gankit does not depend on it, so a
run that asks for it checks at start and fails with an installation hint rather than after hours of training.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from torch import Tensor

from gankit.errors import GankitError

_SKIP = ("step", "time", "kind")


def summary_writer_class() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or a one-line error when tensorboard is not installed."""
    try:
        module = importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        raise GankitError(
            "run.tensorboard: the tensorboard package is not installed (pip install tensorboard, "
            "or set run.tensorboard = false)"
        ) from None
    return module.SummaryWriter


class TensorBoardLogger:
    """Scalars from every ``metrics.jsonl`` row and the sample grids, under ``<run>/tensorboard``."""

    def __init__(self, log_dir: Path, writer_class: Any | None = None) -> None:
        cls = writer_class or summary_writer_class()
        self.writer = cls(log_dir=str(log_dir))

    def scalars(self, row: dict[str, Any], prefix: str = "") -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key in _SKIP or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            self.writer.add_scalar(prefix + key, value, step)
        self.writer.flush()

    def image(self, tag: str, grid: Tensor, step: int) -> None:
        """``grid``: a ``(C, H, W)`` float image in ``[0, 1]``."""
        self.writer.add_image(tag, grid, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
