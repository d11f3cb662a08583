"""SIGINT and SIGTERM become a stop request that the training loop honours between two steps.

A ``KeyboardInterrupt`` raised in the middle of a step would leave the critic updated and the generator
not, so a checkpoint written then could not resume exactly. Instead the handler records the request; the
loop finishes the step, saves a checkpoint and stops. SIGTERM is what torchrun (on a restart or a
shutdown), Slurm (preemption, ``scancel``) and ``kill`` send, so it is handled the same way.

A second signal at least :data:`REPEAT_WINDOW_S` after the first aborts at once (``KeyboardInterrupt``):
the way out when a step hangs. Signals arriving closer together are one request delivered twice — the
terminal and torchrun both forward Ctrl-C to the workers.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any

REPEAT_WINDOW_S = 1.0
_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class StopRequests:
    """A context manager installing the handlers (main thread only; elsewhere it does nothing)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._at = 0.0
        self._previous: dict[int, Any] = {}
        #: raise ``KeyboardInterrupt`` on the first signal (nothing is left to save)
        self.abort_on_signal = False

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.signal is not None and now - self._at >= REPEAT_WINDOW_S:
            raise KeyboardInterrupt
        if self.signal is None:
            self.signal, self._at = _NAMES.get(signum, str(signum)), now
        if self.abort_on_signal:
            raise KeyboardInterrupt

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in _NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
