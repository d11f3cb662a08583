"""Progress reporting: a rich progress bar on a terminal, plain log lines otherwise (CI, files, Slurm)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _fmt(row: dict[str, Any]) -> str:
    parts = []
    for key, value in row.items():
        if key in ("step", "time", "lr_g", "lr_d"):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class ProgressReporter:
    def __init__(self, total: int, start: int, enabled: bool = True, bar: bool | None = None) -> None:
        self.total, self.start, self.enabled = total, start, enabled
        self.console = Console(stderr=True)
        self.bar = self.console.is_terminal if bar is None else bar
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        if self.enabled and self.bar:
            self._progress = Progress(
                TextColumn("[bold]step"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                refresh_per_second=4,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.total, completed=self.start, info="")
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(et, ev, tb)

    def advance(self, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def update(self, step: int, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=_fmt(row))
        else:
            print(f"step {step}/{self.total} {_fmt(row)}", file=sys.stderr, flush=True)
