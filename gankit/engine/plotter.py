"""``plots/training.png`` redrawn off the training loop.

Redrawing takes ~130 ms (~770 ms the first time: the matplotlib import) at every log interval; done inline
it is a stall in the step loop, and done in a thread it still is one, spread out: matplotlib is pure Python
and holds the GIL the step loop needs (measured: p99/median step time 3-4 with a thread). So on Linux a
process forked from the trainer when the run starts draws instead: it shares the already imported modules
(fork, copy-on-write: no torch import, no spec to rebuild), reads ``metrics.jsonl`` and draws;
:meth:`BackgroundPlotter.request` only writes a byte into a pipe, and requests that arrive while a plot is
drawn collapse into one more redraw. Elsewhere (no ``fork``) a thread does it.

The worker runs at the lowest CPU priority (``nice 19``): where cores are scarce the trainer still comes
first (measured on a loaded 2-core machine: without it the worker's drawing slowed the steps it overlapped
about twofold). The worker ignores SIGINT (Ctrl-C is the trainer's to handle) and leaves when the pipe
closes, so it never outlives the trainer, ``kill -9`` included. A plotting problem is reported once, as a
warning, and never stops training; :meth:`close` waits for the last requested plot, so a run returns with
its plot complete.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gankit.engine.artifacts import plot_history, read_jsonl

_DRAW, _CLOSE = b"d", b"c"


def _draw(source: Path, target: Path) -> str | None:
    """Draw once; the warning to show, if it failed."""
    try:
        plot_history(read_jsonl(source), target)
    except Exception as exc:  # a plotting problem must never stop training
        return f"warning: could not refresh {target.parent.name}/{target.name}: {exc}"
    return None


def _serve(conn: Connection, trainer_end: Connection, source: Path, target: Path) -> None:
    """The worker: draw on each request (merging queued ones) until told to close or the trainer is gone."""
    trainer_end.close()  # else the pipe would never report the trainer's death
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(19)  # the lowest priority: on a busy machine the step loop comes first, the plot later
    warned = False
    while True:
        try:
            messages = [conn.recv_bytes()]
            while conn.poll():
                messages.append(conn.recv_bytes())
        except (EOFError, OSError):
            return
        problem = _draw(source, target)
        if problem and not warned:
            warned = True
            conn.send_bytes(problem.encode())
        if _CLOSE in messages:
            conn.send_bytes(_CLOSE)
            return


class BackgroundPlotter:
    """``request()`` a redraw; ``close()`` waits for the last one. Warnings go to ``warn``, once."""

    def __init__(self, source: Path, target: Path, warn: Callable[[str], None]) -> None:
        self.source = source
        self.target = target
        self._warn = warn
        self._warned = False
        self._process: Any = None
        self._thread: threading.Thread | None = None
        if sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods():
            self._conn, child = multiprocessing.get_context("fork").Pipe()
            self._process = multiprocessing.get_context("fork").Process(
                target=_serve, args=(child, self._conn, source, target), name="gankit-plotter", daemon=True)
            self._process.start()
            child.close()
        else:
            self._wanted = threading.Event()
            self._closing = False
            self._thread = threading.Thread(target=self._loop, name="gankit-plotter", daemon=True)
            self._thread.start()

    def request(self) -> None:
        if self._process is None:
            self._wanted.set()
            return
        self._collect()
        try:
            self._conn.send_bytes(_DRAW)
        except OSError:  # the worker is gone: plots are not worth stopping training for
            self._report("warning: the plotting process ended; plots/training.png is no longer refreshed")

    def _collect(self) -> bool:
        """Read what the worker said; whether it confirmed closing."""
        closed = False
        try:
            while self._conn.poll():
                message = self._conn.recv_bytes()
                if message == _CLOSE:
                    closed = True
                else:
                    self._report(message.decode())
        except (EOFError, OSError):
            closed = True
        return closed

    def _report(self, text: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(text)

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            problem = _draw(self.source, self.target)
            if problem:
                self._report(problem)
            if self._closing and not self._wanted.is_set():
                return

    def close(self) -> None:
        """Draw what was last requested, then stop the worker."""
        if self._thread is not None:
            self._closing = True
            self._wanted.set()
            self._thread.join()
            return
        confirmed = False
        with contextlib.suppress(OSError):  # a dead worker's pipe: the plot is then drawn inline below
            self._conn.send_bytes(_CLOSE)
            while not (confirmed := self._collect()):
                if not self._conn.poll(120):
                    break
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
        if not confirmed or self._process.exitcode != 0:  # the worker died (e.g. SIGTERM to the group)
            problem = _draw(self.source, self.target)  # the run still ends with its plot complete
            if problem:
                self._report(problem)
