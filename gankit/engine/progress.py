"""Progress reporting: a rich progress bar on a terminal, plain log lines otherwise (CI, files, Slurm).

The bar shows the step, speed (images per second, real and generated), the latest losses and the time
left; it is redrawn from numbers the trainer already has, so it adds no device synchronisation. The line
log prints the same at each logging interval.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_HIDDEN = ("step", "time", "lr_generator", "lr_critic", "img_per_s", "kind")


def _fmt(row: dict[str, Any]) -> str:
    parts = []
    for key, value in row.items():
        if key in _HIDDEN:
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def format_duration(seconds: float) -> str:
    total = max(0, round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class ProgressReporter:
    def __init__(self, total: int, start: int, enabled: bool = True, bar: bool | None = None) -> None:
        self.total, self.start, self.enabled = total, start, enabled
        self.console = Console(stderr=True)
        self.bar = self.console.is_terminal if bar is None else bar
        self._progress: Progress | None = None
        self._task: Any = None
        self._t0 = time.perf_counter()

    def __enter__(self) -> ProgressReporter:
        self._t0 = time.perf_counter()
        if self.enabled and self.bar:
            self._progress = Progress(
                TextColumn("[bold]step"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                refresh_per_second=4,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.total, completed=self.start, info="", speed="")
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(et, ev, tb)
            self._progress = None

    def advance(self, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def eta(self, step: int) -> float | None:
        done = step - self.start
        if done <= 0:
            return None
        return (self.total - step) * (time.perf_counter() - self._t0) / done

    def update(self, step: int, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        speed = f"{row['img_per_s']:.0f} img/s" if "img_per_s" in row else ""
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=_fmt(row), speed=speed)
            return
        eta = self.eta(step)
        tail = f" eta {format_duration(eta)}" if eta is not None and step < self.total else ""
        print(f"step {step}/{self.total} {speed} {_fmt(row)}{tail}".replace("  ", " "), file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        """A line above the bar (or a plain line)."""
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)
