"""Checkpoint state in and out: what the next step depends on, gathered from its owners.

A checkpoint holds everything the next step depends on — weights, EMA, optimizers, schedules, gradient
scalers, divergence and augmentation state (owned by :class:`~gankit.engine.step.StepRunner`), every rank's
RNG states (:class:`~gankit.engine.context.EngineContext`), the running log sums
(:class:`~gankit.engine.monitor.Monitor`) — plus the run manifest. Sampling, evaluation and the data loader
draw from their own random generators, so they never shift the training RNG: on the CPU, N steps + resume +
N steps gives bit-identical weights to 2N steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gankit.engine import distributed as gdist
from gankit.engine.checkpoint import checkpoint_name, load_checkpoint, save_checkpoint
from gankit.engine.context import EngineContext
from gankit.engine.monitor import Monitor
from gankit.engine.step import StepRunner

CHECKPOINT_FORMAT = "gankit-checkpoint"


class RunState:
    """Saves and loads checkpoints of one run; remembers the newest one written or loaded."""

    def __init__(self, ctx: EngineContext, steps: StepRunner, monitor: Monitor, out: Path) -> None:
        self.ctx = ctx
        self.steps = steps
        self.monitor = monitor
        self.folder = out / "checkpoints"
        self.last: Path | None = None

    def state_dict(self, step: int, manifest: dict[str, Any]) -> dict[str, Any]:
        """Plain tensors/numbers/strings (``weights_only`` loadable). Every rank must call it: the RNG states
        of all ranks are gathered."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            **self.steps.state_dict(),
            "rng": gdist.gather_states(self.ctx.rng_state()),
            "log": self.monitor.state_dict(),
            "world_size": self.ctx.denv.world_size,
            "manifest": json.dumps(manifest),
        }

    def save(self, step: int, manifest: dict[str, Any]) -> Path:
        """Every rank takes part (RNG states are gathered); rank 0 writes."""
        state = self.state_dict(step, manifest)
        if self.ctx.is_main:
            save_checkpoint(state, self.folder, step, self.ctx.run.keep_checkpoints)
        self.last = self.folder / checkpoint_name(step)
        return self.last

    def load(self, path: Path) -> tuple[int, dict[str, Any]]:
        """Load ``path`` into every owner; returns its step and the raw state (for its manifest)."""
        state = load_checkpoint(path, map_location=self.ctx.device)
        warning = self.steps.load_state_dict(state, path)
        step = int(state["step"])
        self.ctx.load_rng_state(state["rng"], step)
        if warning:
            self.ctx.message(f"warning: {warning}")
        self.monitor.load_state_dict(state.get("log") or {}, step)
        self.last = path
        return step, state
