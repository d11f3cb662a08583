"""The training loop, and the collaborators it wires together.

    Trainer.fit()
      ├─ EngineContext   device, process group, seeds, autocast, messages    (engine/context.py)
      ├─ RunFolder       lock, fresh/resume/rewind checks, history           (engine/run_folder.py)
      ├─ StepRunner      critic + generator steps, optimizers, EMA           (engine/step.py)
      ├─ Monitor         log sums, NaN/inf checks, metrics.jsonl, plots, TB  (engine/monitor.py)
      ├─ RunState        checkpoints in and out                              (engine/state.py)
      └─ generation      latents -> samples (shared with eval and sample)    (engine/generation.py)

A non-finite loss or parameter is reported with the exact step and the loss's name, and training stops
before anything is written from that state: the last good checkpoint stays untouched. SIGINT and SIGTERM
finish the current step, save a checkpoint and stop (exit code 130); see :mod:`gankit.engine.signals`. The
same code runs in one process or in many under torchrun/Slurm; see :mod:`gankit.engine.distributed`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.build import Components, build_components
from gankit.engine import distributed as gdist
from gankit.engine.artifacts import save_grid, save_scatter
from gankit.engine.batches import real_subset
from gankit.engine.checkpoint import checkpoint_name
from gankit.engine.context import EngineContext
from gankit.engine.generation import draw_latents, generate, sampler
from gankit.engine.monitor import Monitor
from gankit.engine.progress import ProgressReporter
from gankit.engine.provenance import apply_optimizer_settings, run_manifest, spec_changes
from gankit.engine.run_folder import RunFolder
from gankit.engine.signals import StopRequests
from gankit.engine.state import RunState
from gankit.engine.step import StepRunner
from gankit.engine.tensorboard import summary_writer_class
from gankit.errors import Interrupted, TrainingError
from gankit.protocols import EvalContext, default_cache_dir
from gankit.spec import Spec

__all__ = ["TrainOptions", "TrainResult", "Trainer"]

#: points drawn for each 2-D scatter plot (fixed latents, like the image grids)
SCATTER_POINTS = 2500


@dataclass
class TrainOptions:
    out_dir: Path
    #: ``None``: fresh run; ``True``: newest checkpoint in ``out_dir``; a path: that checkpoint or run folder
    resume: Path | bool | None = None
    #: resuming an earlier checkpoint of this run: move the later results aside (instead of refusing)
    rewind: bool = False
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    allow_imports: bool = False
    cache_dir: Path = field(default_factory=default_cache_dir)


@dataclass
class TrainResult:
    step: int
    out_dir: Path
    checkpoint: Path | None
    metrics: dict[str, float]


class Trainer:
    """Trains one spec. ``Trainer(spec, options).fit()``; works the same in one process or under torchrun."""

    def __init__(self, spec: Spec, options: TrainOptions) -> None:
        self.spec = spec
        self.run = spec.run
        self.opts = options
        self.out = options.out_dir
        self.ctx = EngineContext(self.run)
        if self.run.tensorboard:
            summary_writer_class()  # fail now, not after the first log interval
        self.parts: Components = build_components(spec, options.cache_dir, options.allow_imports)
        self.info = self.parts.info
        self._datasets: dict[str, Any] = {"train": self.parts.data.dataset("train")}
        self.steps = StepRunner(self.ctx, self.parts, self._datasets["train"])
        self.monitor = Monitor(self.ctx, self.out)
        self.state = RunState(self.ctx, self.steps, self.monitor, self.out)
        self.folder = RunFolder(self.out, self.ctx, options.resume, options.rewind)
        # the same latents for every sample grid / scatter plot of the run
        n_fixed = self.run.num_samples if self.info.is_image else max(SCATTER_POINTS, self.run.num_samples)
        z, labels = draw_latents(n_fixed, self.steps.latent_dim, self.info, torch.device("cpu"),
                                 torch.Generator().manual_seed(self.run.seed + 12345), labels="cycle")
        self.fixed_z, self.fixed_labels = z.to(self.device), labels.to(self.device) if labels is not None else None
        self.step = 0
        self._sampled_at = -1
        self._phase = "before the first step"
        if self.steps.critic_eager:
            self.ctx.message("warning: run.compile: the critic uses spectral norm, which torch.compile mis-handles "
                             "when the critic is called twice in one step; the critic runs uncompiled")

    # ------------------------------------------------------------------------ the parts, by name
    device = property(lambda self: self.ctx.device)
    is_main = property(lambda self: self.ctx.is_main)
    generator = property(lambda self: self.steps.generator)
    critic = property(lambda self: self.steps.critic)
    divergence = property(lambda self: self.steps.divergence)
    ema = property(lambda self: self.steps.ema)
    latent_dim = property(lambda self: self.steps.latent_dim)

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """The run manifest (computed once: it runs git), written to manifest.json and into every checkpoint."""
        return run_manifest(self.spec, self.ctx.denv.world_size)

    def critic_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        return self.steps.critic_step()

    def generator_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        return self.steps.generator_step()

    def train_step(self) -> None:
        """One step of the loop: the step runner's step, then its values into the log sums."""
        values = self.steps.train_step()
        self.step += 1
        self.monitor.accumulate(values, self.step)

    def check_finite(self) -> None:
        self.monitor.raise_if_nonfinite(self.step, self.steps.named_parameters(), self.state.last)

    # --------------------------------------------------------------------------- samples, metrics
    def generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return generate(self.steps.sampling_generator(), z, labels, self.run.batch_size, self.ctx.autocast)

    def sample_fake(self, n: int, rng: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        rng = rng if rng is not None else self.ctx.side_generator(1, self.step)
        return sampler(self.steps.sampling_generator(), self.info, self.device, rng, self.run.batch_size,
                       self.ctx.autocast)(n)

    def sample_real(self, n: int, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """A fixed subset of the data (the same on every call and every rank)."""
        if split not in self._datasets:
            self._datasets[split] = self.parts.data.dataset(split)  # type: ignore[arg-type]
        return real_subset(self._datasets[split], n, self.run.seed, self.device, self.info.labelled)

    def write_samples(self) -> Path:
        """A grid of the fixed latents' images, or a scatter plot of the fixed latents' points (rank 0)."""
        path = self.out / "samples" / f"step-{self.step:09d}.png"
        fake = self.generate(self.fixed_z, self.fixed_labels)
        if self.info.is_image:
            self.monitor.image("samples", save_grid(fake, path, self.info.value_range), self.step)
        else:
            real, _ = self.sample_real(SCATTER_POINTS)
            save_scatter(fake.flatten(1)[:, :2], path, real=real.flatten(1)[:, :2], modes=self.info.modes,
                         title=f"step {self.step}")
        return path

    def evaluate(self) -> dict[str, float]:
        """Every metric, through :func:`gankit.evaluate.run_metrics` (which gathers across ranks)."""
        from gankit.evaluate import run_metrics

        if not self.parts.metrics:
            return {}
        rng = self.ctx.side_generator(2, self.step)
        ctx = EvalContext(info=self.info, device=self.device, cache_dir=self.opts.cache_dir,
                          sample_fake=lambda n: self.sample_fake(n, rng), sample_real=self.sample_real,
                          rank=self.ctx.denv.rank, world_size=self.ctx.denv.world_size)
        return run_metrics(self.parts.metrics, ctx)

    # ------------------------------------------------------------------------------------ driver
    def _begin(self) -> None:
        """Open the folder (lock, checks), load the checkpoint to resume, then record the start."""
        chosen = self.folder.open()
        changes: list[str] = []
        if chosen is not None:
            self.step, state = self.state.load(chosen)
            changes, updates = spec_changes(state.get("manifest"), self.spec)
            for net, settings in updates.items():
                opt, sched = (self.steps.opt_generator, self.steps.sched_generator) if net == "generator" else \
                    (self.steps.opt_critic, self.steps.sched_critic)
                apply_optimizer_settings(opt, sched, settings)
        self.folder.commit(self.manifest, self.step, changes, chosen)
        if chosen is not None:
            self.ctx.message(f"resumed from {chosen} at step {self.step}")
            for line in changes:
                self.ctx.message(f"changed on resume: {line}")

    def _maybe_resume(self) -> None:
        """Open the folder and load the checkpoint to resume, without training (then release the folder)."""
        try:
            self._begin()
        finally:
            self.folder.close()

    def _intervals(self) -> tuple[bool, bool, bool, bool]:
        run, step = self.run, self.step
        last = step >= run.steps
        return (step % run.log_every == 0 or last, step % run.sample_every == 0 or last,
                bool(run.eval_every) and step % run.eval_every == 0 and not last,
                step % run.checkpoint_every == 0 and not last)

    def _stop_requested(self, stop: StopRequests) -> bool:
        # several processes must stop at the same step: agree on it (a host-side collective, no device sync)
        return gdist.any_rank(stop.requested) if self.ctx.denv.enabled else stop.requested

    def fit(self, on_step: Callable[[Trainer], None] | None = None) -> TrainResult:
        """Train to ``run.steps``, writing artifacts. SIGINT/SIGTERM save a checkpoint and raise
        :class:`~gankit.errors.Interrupted`; NaN/inf raises :class:`~gankit.errors.TrainingError`."""
        try:
            self._begin()
            self.monitor.start()
            reporter = ProgressReporter(self.run.steps, self.step, enabled=self.is_main, bar=self.opts.progress)
            self.ctx.say = reporter.message
            with StopRequests() as stop, reporter:
                try:
                    return self._loop(stop, reporter, on_step)
                except KeyboardInterrupt:  # a second signal: abort at once
                    last = f"; last checkpoint: {self.state.last}" if self.state.last else ""
                    raise Interrupted(f"interrupted again {self._phase}; stopped without saving{last}") from None
        finally:
            self.ctx.say = None
            self.monitor.close()
            self.folder.close()

    def _loop(self, stop: StopRequests, reporter: ProgressReporter,
              on_step: Callable[[Trainer], None] | None) -> TrainResult:
        first = self.step
        while self.step < self.run.steps:
            self._phase = f"during step {self.step + 1}"
            self.train_step()
            self._phase = f"after step {self.step}"
            due_log, due_sample, due_eval, due_ckpt = self._intervals()
            if due_log or due_sample or due_eval or due_ckpt:
                self.check_finite()
            if due_log:
                reporter.update(self.step, self.monitor.log(self.step, self.steps.lrs()))
            else:
                reporter.advance(self.step)
            if due_sample and self.is_main:
                self.write_samples()
                self._sampled_at = self.step
            if due_eval:
                self._phase = f"while evaluating at step {self.step}"
                self.monitor.record_eval(self.step, self.evaluate())
            if due_ckpt:
                self._phase = f"while saving the checkpoint of step {self.step}"
                self.state.save(self.step, self.manifest)
            if on_step is not None:
                on_step(self)
            if self._stop_requested(stop):
                self._stop(stop)
        return self._finish(stop, ran=self.step > first)

    def _stop(self, stop: StopRequests) -> None:
        what = stop.signal or "a signal on another process"
        self._phase = f"while saving the checkpoint of step {self.step}"
        try:
            self.check_finite()
            self.state.save(self.step, self.manifest)
        except TrainingError as exc:
            raise Interrupted(f"{what} at step {self.step}; no checkpoint saved: {exc}") from None
        raise Interrupted(f"stopped by {what} at step {self.step}; saved {self.state.last}; continue with --resume")

    def _finish(self, stop: StopRequests, ran: bool) -> TrainResult:
        """The final checkpoint first, then samples, then the evaluation. Results already in the folder are
        reused only when this process ran no step (a finished run resumed): never stale ones."""
        final = self.out / "checkpoints" / checkpoint_name(self.step)
        self.check_finite()
        self._phase = f"while saving the final checkpoint of step {self.step}"
        if ran or not self.ctx.on_main(final.exists):
            self.state.save(self.step, self.manifest)
        else:
            self.state.last = final
        samples = self.out / "samples" / f"step-{self.step:09d}.png"
        if self.is_main and self._sampled_at != self.step and (ran or not samples.exists()):
            self.write_samples()
        evaluated = None if ran else self.folder.evaluated_at(self.step)
        if evaluated is None:
            self._phase = f"during the final evaluation at step {self.step}"
            stop.abort_on_signal = True  # the checkpoint is safe: a signal now stops at once
            try:
                evaluated = self.evaluate()
                if self._stop_requested(stop):
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise Interrupted(f"stopped by {stop.signal or 'a signal'} during the final evaluation at step "
                                  f"{self.step}; checkpoint kept: {final}; evaluate it with `gankit eval` or finish "
                                  "with --resume") from None
            finally:
                stop.abort_on_signal = False
            self.monitor.record_eval(self.step, evaluated, final=True)
        return TrainResult(self.step, self.out, final, evaluated)
