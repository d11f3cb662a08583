"""What a run reports: log sums, non-finite detection, ``metrics.jsonl``, plots and TensorBoard.

The hot loop keeps every number on the device: losses are summed into tensors, and the first step at which
each one stopped being finite is recorded there too. Both are read back (one host sync) only at logging,
sampling, evaluation and checkpoint intervals. ``plots/training.png`` is redrawn by a background thread
(:class:`gankit.engine.plotter.BackgroundPlotter`), so the step loop never waits for matplotlib.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.engine import distributed as gdist
from gankit.engine.artifacts import append_jsonl, write_json_atomic
from gankit.engine.context import EngineContext
from gankit.engine.plotter import BackgroundPlotter
from gankit.engine.tensorboard import TensorBoardLogger
from gankit.errors import TrainingError


class Monitor:
    """Owns the running log sums (checkpointed) and everything written about the run's progress."""

    def __init__(self, ctx: EngineContext, out: Path) -> None:
        self.ctx = ctx
        self.out = out
        self.acc: dict[str, Tensor] = {}
        self.count = 0
        self.first_bad: dict[str, Tensor] = {}
        self.last_log_step = 0
        self._last_log_time = time.perf_counter()
        self.tb: TensorBoardLogger | None = None
        self.plotter: BackgroundPlotter | None = None

    def start(self) -> None:
        """Open the writers (rank 0): TensorBoard when asked, the background plotter."""
        self._last_log_time = time.perf_counter()
        if not self.ctx.is_main:
            return
        if self.ctx.run.tensorboard:
            self.tb = TensorBoardLogger(self.out / "tensorboard")
        self.plotter = BackgroundPlotter(self.out / "metrics.jsonl", self.out / "plots" / "training.png",
                                         self.ctx.message)

    def close(self) -> None:
        """Finish the last plot (the run returns with it complete) and close TensorBoard."""
        if self.plotter is not None:
            self.plotter.close()
            self.plotter = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    # ------------------------------------------------------------------------------------- sums
    def accumulate(self, values: dict[str, Tensor], step: int) -> None:
        """Add this step's values to the log sums and note the first step at which each was not finite."""
        device = self.ctx.device
        for key, value in values.items():
            value = value.detach().float().to(device, non_blocking=True)
            if key in self.acc:
                self.acc[key] = self.acc[key] + value
                first = self.first_bad[key]
            else:
                self.acc[key] = value.clone()
                first = torch.full((), -1, dtype=torch.long, device=device)
            fresh = (first < 0) & ~torch.isfinite(value)
            self.first_bad[key] = torch.where(fresh, step, first)
        self.count += 1

    def raise_if_nonfinite(self, step: int, parameters: list[tuple[str, Tensor]], last_checkpoint: Path | None) -> None:
        """Stop with the step and the loss that went NaN/inf, or the parameter that did (all ranks agree)."""
        keep = f"; last good checkpoint: {last_checkpoint}" if last_checkpoint else ""
        keys = list(self.first_bad)
        if keys:
            never = torch.iinfo(torch.long).max
            firsts = torch.stack([self.first_bad[k] for k in keys])
            firsts = gdist.all_reduce_min(torch.where(firsts < 0, never, firsts)).tolist()
            bad = [(s, k) for s, k in zip(firsts, keys, strict=True) if s != never]
            if bad:
                first = min(s for s, _ in bad)
                names = ", ".join(k for s, k in bad if s == first)
                verb = "are" if "," in names else "is"
                raise TrainingError(f"training diverged at step {first}: {names} {verb} not finite (NaN or inf){keep}")
        if parameters:
            finite = torch.stack([torch.isfinite(p).all() for _, p in parameters])
            if not bool(finite.all()):
                which = next(name for (name, _), ok in zip(parameters, finite.tolist(), strict=True) if not ok)
                raise TrainingError(f"training diverged by step {step}: {which} is not finite{keep}")

    # -------------------------------------------------------------------------------------- rows
    def log(self, step: int, extra: dict[str, float]) -> dict[str, Any]:
        """Average the log sums over steps and ranks; rank 0 appends them to metrics.jsonl and replots."""
        keys = list(self.acc)
        values = torch.stack([self.acc[k] for k in keys]).div(max(self.count, 1)) if keys else torch.zeros(0)
        values = gdist.all_reduce_mean(values)
        now = time.perf_counter()
        run = self.ctx.run
        imgs = (step - self.last_log_step) * run.batch_size * (run.critic_steps + 1) * self.ctx.denv.world_size
        row: dict[str, Any] = {"step": step, "time": round(time.time(), 3)}
        row.update(dict(zip(keys, values.tolist(), strict=True)))
        row["img_per_s"] = round(imgs / max(now - self._last_log_time, 1e-9), 1)
        row.update(extra)
        self.acc, self.count, self.first_bad = {}, 0, {}
        self._last_log_time, self.last_log_step = now, step
        self._write(row, "train/")
        return row

    def record_eval(self, step: int, metrics: dict[str, float], final: bool = False) -> None:
        """Append an eval row; at the end also write eval.json (even without metrics: it marks a finished run)."""
        if not self.ctx.is_main:
            return
        if final:
            write_json_atomic(self.out / "eval.json", {"step": step, **metrics})
        if metrics:
            self._write({"step": step, "kind": "eval", **metrics}, "eval/")

    def _write(self, row: dict[str, Any], prefix: str) -> None:
        if not self.ctx.is_main:
            return
        append_jsonl(self.out / "metrics.jsonl", row)
        if self.tb is not None:
            self.tb.scalars(row, prefix)
        if self.plotter is not None:
            self.plotter.request()

    def image(self, tag: str, grid: Tensor, step: int) -> None:
        if self.tb is not None:
            self.tb.image(tag, grid, step)

    # ------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.acc), "count": self.count, "last_step": self.last_log_step}

    def load_state_dict(self, log: dict[str, Any], step: int) -> None:
        device = self.ctx.device
        self.acc = {k: v.to(device) for k, v in log.get("sums", {}).items()}
        self.count = int(log.get("count", 0))
        self.first_bad = {k: torch.full((), -1, dtype=torch.long, device=device) for k in self.acc}
        self.last_log_step = int(log.get("last_step", step))

