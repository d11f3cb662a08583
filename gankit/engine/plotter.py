"""``plots/training.png`` redrawn off the training loop.

Redrawing takes ~130 ms (~770 ms the first time: the matplotlib import), at every log interval; done inline
it is a stall in the step loop. Here a daemon thread does it: :meth:`BackgroundPlotter.request` only sets a
flag (requests arriving while a plot is drawn collapse into one more redraw), the thread reads
``metrics.jsonl`` and draws. Matplotlib's object API with the Agg canvas holds no global state, so one
drawing thread is safe, and torch releases the GIL during its kernels, so the two overlap. A plotting
problem is reported once, as a warning, and never stops training; :meth:`close` waits for the last
requested plot, so a run returns with its plot complete.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from gankit.engine.artifacts import plot_history, read_jsonl


class BackgroundPlotter:
    def __init__(self, source: Path, target: Path, warn: Callable[[str], None]) -> None:
        self.source = source
        self.target = target
        self._warn = warn
        self._wanted = threading.Event()
        self._closing = False
        self._warned = False
        self._thread = threading.Thread(target=self._loop, name="gankit-plotter", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            self._draw()
            if self._closing and not self._wanted.is_set():
                return

    def _draw(self) -> None:
        try:
            plot_history(read_jsonl(self.source), self.target)
        except Exception as exc:  # a plotting problem must never stop training
            if not self._warned:
                self._warned = True
                self._warn(f"warning: could not refresh {self.target.parent.name}/{self.target.name}: {exc}")

    def close(self) -> None:
        """Draw what was last requested, then stop the thread."""
        self._closing = True
        self._wanted.set()
        self._thread.join()
