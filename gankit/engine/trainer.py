"""The training loop: critic steps, a generator step, EMA, logging, samples, checkpoints, evaluation.

The hot loop keeps every number on the device: losses are summed into tensors, and the first step at which
each one stopped being finite is recorded there too. Both are read back (one host sync) only at logging,
sampling, evaluation and checkpoint intervals. A non-finite loss or parameter is reported with the exact step
and the loss's name, and training stops before anything is written from that state: the last good
checkpoint stays untouched.

Resuming is exact: a checkpoint holds everything the next step depends on — weights, EMA, optimizers,
schedules, gradient scalers, divergence state, every rank's RNG states, the data position and the running
log sums — and sampling, evaluation and the data loader draw from their own random generators, so they
never shift the training RNG. On the CPU, N steps + resume + N steps gives bit-identical weights to 2N steps.

SIGINT and SIGTERM finish the current step, save a checkpoint and stop (exit code 130); see
:mod:`gankit.engine.signals`. The same code runs in one process or in many under torchrun/Slurm; see
:mod:`gankit.engine.distributed`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

import gankit
from gankit.build import Components, build_components
from gankit.engine import distributed as gdist
from gankit.engine.artifacts import (
    append_jsonl,
    plot_history,
    read_jsonl,
    save_grid,
    save_scatter,
    truncate_jsonl,
    write_json_atomic,
)
from gankit.engine.batches import BatchStream, real_subset
from gankit.engine.checkpoint import (
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    remove_partial_files,
    resolve_checkpoint,
    save_checkpoint,
)
from gankit.engine.ema import GeneratorEMA
from gankit.engine.optim import LinearDecay, clip_gradients, make_optimizer, make_scheduler
from gankit.engine.progress import ProgressReporter
from gankit.engine.regularizers import critic_regularizers, generator_regularizers
from gankit.engine.signals import StopRequests
from gankit.engine.tensorboard import TensorBoardLogger, summary_writer_class
from gankit.errors import GankitError, Interrupted, TrainingError
from gankit.protocols import EvalContext, LossInputs
from gankit.spec import Spec

CHECKPOINT_FORMAT = "gankit-checkpoint"
#: files whose presence means a folder already holds a run
RUN_MARKERS = ("manifest.json", "metrics.jsonl", "checkpoints")
#: points drawn for each 2-D scatter plot (fixed latents, like the image grids)
SCATTER_POINTS = 2500

T = TypeVar("T")


def resolve_device(name: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps``; with several processes ``cuda`` means this
    process's GPU (``LOCAL_RANK``)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GankitError("run.device: CUDA was requested but is not available on this machine (use 'auto')")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        elif world_size > 1:
            raise GankitError(
                f"run.device: '{name}' would put all {world_size} processes on one GPU; use 'cuda' or 'auto' "
                "(each process takes the GPU of its LOCAL_RANK)"
            )
        elif device.index >= torch.cuda.device_count():
            raise GankitError(f"run.device: {name} does not exist ({torch.cuda.device_count()} CUDA device(s))")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GankitError("run.device: MPS was requested but is not available on this machine")
    return device


def uses_spectral_norm(module: nn.Module) -> bool:
    """Whether any layer of ``module`` carries a ``torch.nn.utils.parametrizations.spectral_norm``."""
    for m in module.modules():
        for plist in getattr(m, "parametrizations", {}).values():
            if any(type(p).__name__ == "_SpectralNorm" for p in plist):
                return True
    return False


@dataclass
class TrainOptions:
    out_dir: Path
    #: ``None``: fresh run; ``True``: newest checkpoint in ``out_dir``; a path: that checkpoint or run folder
    resume: Path | bool | None = None
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    allow_imports: bool = False
    cache_dir: Path = field(default_factory=lambda: Path(os.environ.get("GANKIT_CACHE", ".gankit-cache")))


@dataclass
class TrainResult:
    step: int
    out_dir: Path
    checkpoint: Path | None
    metrics: dict[str, float]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(gankit.__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_manifest(spec: Spec, world_size: int = 1) -> dict[str, Any]:
    """What produced a run: spec as resolved, its hash, versions of gankit, plugins and torch, git commit."""
    from gankit.plugins import get_registry

    plugins = {f"{p.dist}:{p.entry_point}": p.version for p in get_registry().plugins if p.status == "ok"}
    return {
        "spec": spec.to_dict(),
        "spec_hash": spec.digest(),
        "gankit": gankit.__version__,
        "plugins": plugins,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "world_size": world_size,
    }


class Trainer:
    """Trains one spec. ``Trainer(spec, options).fit()``; works the same in one process or under torchrun."""

    def __init__(self, spec: Spec, options: TrainOptions) -> None:
        self.spec = spec
        self.run = spec.run
        self.opts = options
        self.out = options.out_dir
        self.denv = gdist.from_environment()
        self.device = resolve_device(self.run.device, self.denv.local_rank, self.denv.world_size)
        if self.run.tensorboard:
            summary_writer_class()  # fail now, not after the first log interval
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        gdist.init_process_group(self.denv, self.device)
        self._seed = self.run.seed * 1000 + self.denv.rank
        torch.manual_seed(self._seed)
        random.seed(self._seed)

        self.parts: Components = build_components(spec, options.cache_dir, options.allow_imports)
        self.info = self.parts.info
        self.divergence = self.parts.divergence
        self.generator: nn.Module = self.parts.generator.to(self.device)
        self.critic: nn.Module = self.parts.critic.to(self.device)
        if self.run.channels_last and self.info.is_image:
            self.generator = self.generator.to(memory_format=torch.channels_last)
            self.critic = self.critic.to(memory_format=torch.channels_last)
        gdist.broadcast_module(self.generator)
        gdist.broadcast_module(self.critic)
        self.latent_dim: int = self.generator.latent_dim  # type: ignore[assignment]

        self.ema: GeneratorEMA | None = GeneratorEMA(self.generator, self.run.ema) if self.run.ema else None
        # compiled views run the hot loop; the plain modules own the weights and go into checkpoints
        self.g_fwd: Any = torch.compile(self.generator) if self.run.compile else self.generator
        # torch.compile (2.14, measured) saves spectral norm's power-iteration vectors for backward and lets the
        # next critic call update them in place, so a step that scores real and fake in two calls fails in
        # backward ("modified by an inplace operation"); eager spectral norm clones them and is right
        critic_eager = self.run.compile and uses_spectral_norm(self.critic)
        self.c_fwd: Any = torch.compile(self.critic) if self.run.compile and not critic_eager else self.critic

        opt = self.run.optimizer
        self.opt_g = make_optimizer(opt.generator, self.generator)
        self.opt_d = make_optimizer(opt.critic, self.critic)
        self.sched_g = make_scheduler(opt.generator, self.opt_g, self.run.steps)
        self.sched_d = make_scheduler(opt.critic, self.opt_d, self.run.steps)
        fp16 = self.run.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self._amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.run.precision)

        self._datasets: dict[str, Any] = {"train": self.parts.data.dataset("train")}
        self.labelled = self.info.labelled
        self.stream = BatchStream(
            self._datasets["train"],
            self.run.batch_size,
            self.device,
            seed=self.run.seed,
            rank=self.denv.rank,
            world_size=self.denv.world_size,
            num_workers=self.run.num_workers,
            labelled=self.labelled,
        )
        # the same latents for every sample grid / scatter plot of the run
        gen = torch.Generator().manual_seed(self.run.seed + 12345)
        n_fixed = self.run.num_samples if self.info.is_image else max(SCATTER_POINTS, self.run.num_samples)
        self.fixed_z = torch.randn(n_fixed, self.latent_dim, generator=gen).to(self.device)
        self.fixed_labels = (
            (torch.arange(n_fixed) % self.info.num_classes).to(self.device) if self.labelled else None  # type: ignore[operator]
        )
        self.step = 0
        self._acc: dict[str, Tensor] = {}
        self._acc_n = 0
        self._first_bad: dict[str, Tensor] = {}
        self._last_log_time = time.perf_counter()
        self._last_log_step = 0
        self._last_checkpoint: Path | None = None
        self._tb: TensorBoardLogger | None = None
        self._reporter: ProgressReporter | None = None
        if critic_eager:
            self._message("warning: run.compile: the critic uses spectral norm, which torch.compile mis-handles "
                          "when the critic is called twice in one step; the critic runs uncompiled")

    # -------------------------------------------------------------------------------------- helpers
    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """The run manifest (computed once: it runs git), written to manifest.json and into every checkpoint."""
        return run_manifest(self.spec, self.denv.world_size)

    @property
    def is_main(self) -> bool:
        return self.denv.is_main

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._amp_dtype)

    def _latents(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        z = torch.randn(n, self.latent_dim, device=self.device, generator=generator)
        labels = (
            torch.randint(self.info.num_classes, (n,), device=self.device, generator=generator)  # type: ignore[arg-type]
            if self.labelled
            else None
        )
        return z, labels

    def _side_generator(self, purpose: int) -> torch.Generator:
        """A private RNG for sampling/evaluation, seeded by (seed, step, rank): never the training RNG."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(hash((self.run.seed, purpose, self.step, self.denv.rank)) & 0x7FFF_FFFF_FFFF_FFFF)
        return gen

    def _real(self) -> tuple[Tensor, Tensor | None]:
        x, y = self.stream.next()
        if self.run.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def _on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 and hand its result — or its error — to every rank."""
        result: Any = None
        error: str | None = None
        if self.is_main:
            try:
                result = fn()
            except GankitError as exc:
                error = str(exc)
        if self.denv.enabled:
            result, error = gdist.broadcast_object((result, error))
        if error is not None:
            raise GankitError(error)
        return result

    def _step_optimizer(
        self, loss: Tensor, module: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, cfg: Any
    ) -> None:
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        gdist.average_gradients(module)
        if cfg.grad_clip is not None:
            scaler.unscale_(opt)
            clip_gradients(module, cfg)
        scaler.step(opt)
        scaler.update()

    # ------------------------------------------------------------------------------------ one step
    def critic_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        x_r, y_r = self._real()
        z, y_f = self._latents(self.run.batch_size)
        with torch.no_grad(), self.autocast():
            x_f = self.g_fwd(z, y_f)
        b = LossInputs(
            step="critic", critic=self.c_fwd, fake=x_f.detach().to(x_r.dtype), real=x_r,
            real_labels=y_r, fake_labels=y_f, autocast=self.autocast,
        )
        loss = self.divergence.critic_loss(b)
        extra = critic_regularizers(b, self.run.regularize)
        total = loss if extra is None else loss + extra
        self._step_optimizer(total, self.critic, self.opt_d, self.scaler_d, self.run.optimizer.critic)
        after = getattr(self.divergence, "after_critic_step", None)
        if after is not None:
            after(b)
        clip = getattr(self.divergence, "clip_critic", None)
        if clip is not None:
            clip(self.critic)
        return loss.detach(), b.logs

    def generator_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        z, y_f = self._latents(self.run.batch_size)
        x_r, y_r = self._real() if self.divergence.generator_uses_real else (None, None)
        with self.autocast():
            x_f = self.g_fwd(z, y_f)
        if x_r is not None:
            x_f = x_f.to(x_r.dtype)
        self.critic.requires_grad_(False)
        try:
            b = LossInputs(
                step="generator", critic=self.c_fwd, fake=x_f, real=x_r,
                real_labels=y_r, fake_labels=y_f, autocast=self.autocast,
            )
            loss = self.divergence.generator_loss(b)
            extra = generator_regularizers(b, self.run.regularize)
            total = loss if extra is None else loss + extra
            self._step_optimizer(total, self.generator, self.opt_g, self.scaler_g, self.run.optimizer.generator)
        finally:
            self.critic.requires_grad_(True)
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        return loss.detach(), b.logs

    def train_step(self) -> None:
        """One generator step preceded by ``critic_steps`` critic steps (their losses and logs averaged)."""
        self.generator.train()
        self.critic.train()
        critic_sums: dict[str, Tensor] = {}
        counts: dict[str, int] = {}
        for _ in range(self.run.critic_steps):
            loss_d, logs_d = self.critic_step()
            for key, value in {"loss_d": loss_d, **logs_d}.items():
                critic_sums[key] = critic_sums[key] + value if key in critic_sums else value
                counts[key] = counts.get(key, 0) + 1
        loss_g, logs_g = self.generator_step()
        self.sched_d.step()
        self.sched_g.step()
        self.step += 1
        values = {key: value / counts[key] if counts[key] > 1 else value for key, value in critic_sums.items()}
        values.update(loss_g=loss_g, **logs_g)
        self._accumulate(values)

    def _accumulate(self, values: dict[str, Tensor]) -> None:
        """Add this step's values to the log sums and note the first step at which each was not finite."""
        for key, value in values.items():
            value = value.detach().float().to(self.device, non_blocking=True)
            if key in self._acc:
                self._acc[key] = self._acc[key] + value
                first = self._first_bad[key]
            else:
                self._acc[key] = value.clone()
                first = torch.full((), -1, dtype=torch.long, device=self.device)
            fresh = (first < 0) & ~torch.isfinite(value)
            self._first_bad[key] = torch.where(fresh, self.step, first)
        self._acc_n += 1

    # ----------------------------------------------------------------------------- divergence check
    def _raise_if_nonfinite(self) -> None:
        """Stop with the step and the loss that went NaN/inf, or the parameter that did (all ranks agree)."""
        keep = f"; last good checkpoint: {self._last_checkpoint}" if self._last_checkpoint else ""
        keys = list(self._first_bad)
        if keys:
            never = torch.iinfo(torch.long).max
            firsts = torch.stack([self._first_bad[k] for k in keys])
            firsts = gdist.all_reduce_min(torch.where(firsts < 0, never, firsts)).tolist()
            bad = [(s, k) for s, k in zip(firsts, keys, strict=True) if s != never]
            if bad:
                step = min(s for s, _ in bad)
                names = ", ".join(k for s, k in bad if s == step)
                verb = "are" if "," in names else "is"
                raise TrainingError(f"training diverged at step {step}: {names} {verb} not finite (NaN or inf){keep}")
        named = [(f"{n} parameter '{pn}'", p) for n, m in (("generator", self.generator), ("critic", self.critic))
                 for pn, p in m.named_parameters()]
        if named:
            finite = torch.stack([torch.isfinite(p).all() for _, p in named])
            if not bool(finite.all()):
                which = next(name for (name, _), ok in zip(named, finite.tolist(), strict=True) if not ok)
                raise TrainingError(f"training diverged by step {self.step}: {which} is not finite{keep}")

    # ----------------------------------------------------------------------------------- sampling
    def sampling_generator(self) -> nn.Module:
        """The EMA generator when there is one: samples and metrics use the averaged weights."""
        return self.ema.module if self.ema is not None else self.generator

    @torch.no_grad()
    def generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        g = self.sampling_generator()
        was_training = g.training
        g.eval()
        try:
            out = []
            for i in range(0, len(z), self.run.batch_size):
                y = labels[i : i + self.run.batch_size] if labels is not None else None
                with self.autocast():
                    out.append(g(z[i : i + self.run.batch_size], y).float())
            return torch.cat(out)
        finally:
            g.train(was_training)

    def sample_fake(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        z, labels = self._latents(n, generator if generator is not None else self._side_generator(1))
        return self.generate(z, labels), labels

    def _dataset(self, split: str) -> Any:
        if split not in self._datasets:
            self._datasets[split] = self.parts.data.dataset(split)  # type: ignore[arg-type]
        return self._datasets[split]

    def sample_real(self, n: int, split: str = "train") -> tuple[Tensor, Tensor | None]:
        """A fixed subset of the data (the same on every call and every rank)."""
        return real_subset(self._dataset(split), n, self.run.seed, self.device, self.labelled)

    def write_samples(self) -> Path:
        """A grid of the fixed latents' images, or a scatter plot of the fixed latents' points (rank 0)."""
        path = self.out / "samples" / f"step-{self.step:09d}.png"
        fake = self.generate(self.fixed_z, self.fixed_labels)
        if self.info.is_image:
            grid = save_grid(fake, path, self.info.value_range)
            if self._tb is not None:
                self._tb.image("samples", grid, self.step)
        else:
            real, _ = self.sample_real(SCATTER_POINTS)
            save_scatter(fake.flatten(1)[:, :2], path, real=real.flatten(1)[:, :2], modes=self.info.modes,
                         title=f"step {self.step}")
        return path

    # --------------------------------------------------------------------------------- evaluation
    def evaluate(self) -> dict[str, float]:
        """Every metric, on every rank (each with its own samples); the results are averaged over ranks."""
        if not self.parts.metrics:
            return {}
        gen = self._side_generator(2)
        ctx = EvalContext(
            info=self.info,
            device=self.device,
            sample_fake=lambda n: self.sample_fake(n, gen),
            sample_real=self.sample_real,
            cache_dir=self.opts.cache_dir,
            rank=self.denv.rank,
            world_size=self.denv.world_size,
        )
        results: dict[str, float] = {}
        for name, metric in self.parts.metrics.items():
            values = metric(ctx)
            for key, value in values.items():
                results[key if key.startswith(name) else f"{name}/{key}"] = float(value)
        if self.denv.enabled and results:
            keys = sorted(results)
            mean = gdist.all_reduce_mean(torch.tensor([results[k] for k in keys], dtype=torch.float64,
                                                      device=self.device))
            results = dict(zip(keys, mean.tolist(), strict=True))
        return results

    # ------------------------------------------------------------------------------- checkpoints
    def _rng_state(self) -> dict[str, Tensor]:
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def state_dict(self) -> dict[str, Any]:
        """Everything the next step depends on, as plain tensors/numbers/strings (``weights_only`` loadable).
        Every rank must call it: the RNG states of all ranks are gathered."""
        div_state = getattr(self.divergence, "state_dict", None)
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "divergence": div_state() if div_state is not None else None,
            "rng": gdist.gather_states(self._rng_state()),
            "data": self.stream.state_dict(),
            "log": {"sums": dict(self._acc), "count": self._acc_n, "last_step": self._last_log_step},
            "world_size": self.denv.world_size,
            "manifest": json.dumps(self.manifest),
        }

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        try:
            self.generator.load_state_dict(state["generator"])
            self.critic.load_state_dict(state["critic"])
            if self.ema is not None and state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.sched_g.load_state_dict(state["sched_g"])
            self.sched_d.load_state_dict(state["sched_d"])
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        except (KeyError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise GankitError(f"{source}: checkpoint does not match this spec's networks/optimizers: {first}") from None
        for sched in (self.sched_g, self.sched_d):  # the schedule length follows this spec's run.steps
            for fn in sched.lr_lambdas:
                if isinstance(fn, LinearDecay):
                    fn.total = self.run.steps
        div_load = getattr(self.divergence, "load_state_dict", None)
        if div_load is not None and state.get("divergence") is not None:
            div_load(state["divergence"])
        self.step = int(state["step"])
        ranks = state["rng"]
        if len(ranks) == self.denv.world_size:
            rng = ranks[self.denv.rank]
            torch.set_rng_state(rng["cpu"].cpu())
            if self.device.type == "cuda" and "cuda" in rng:
                torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
        else:  # another world size: fresh, distinct streams per rank (the run is no longer bit-reproducible)
            torch.manual_seed(hash((self._seed, self.step)) & 0x7FFF_FFFF_FFFF_FFFF)
        warning = self.stream.load_state_dict(state["data"])
        if warning and self.is_main:
            self._message(f"warning: {warning}")
        log = state.get("log") or {}
        self._acc = {k: v.to(self.device) for k, v in log.get("sums", {}).items()}
        self._acc_n = int(log.get("count", 0))
        self._first_bad = {k: torch.full((), -1, dtype=torch.long, device=self.device) for k in self._acc}
        self._last_log_step = int(log.get("last_step", self.step))
        self._last_checkpoint = source

    def checkpoint(self) -> Path | None:
        """Save a checkpoint: every rank takes part (RNG states are gathered); rank 0 writes."""
        state = self.state_dict()
        path = None
        if self.is_main:
            path = save_checkpoint(state, self.out / "checkpoints", self.step, self.run.keep_checkpoints)
        self._last_checkpoint = self.out / "checkpoints" / checkpoint_name(self.step)
        return path

    # --------------------------------------------------------------------------------------- logging
    def log(self) -> dict[str, Any]:
        """Average the log sums over steps and ranks; rank 0 appends them to metrics.jsonl and replots."""
        keys = list(self._acc)
        values = torch.stack([self._acc[k] for k in keys]).div(max(self._acc_n, 1)) if keys else torch.zeros(0)
        values = gdist.all_reduce_mean(values)
        now = time.perf_counter()
        steps = self.step - self._last_log_step
        imgs = steps * self.run.batch_size * (self.run.critic_steps + 1) * self.denv.world_size
        row: dict[str, Any] = {"step": self.step, "time": round(time.time(), 3)}
        row.update(dict(zip(keys, values.tolist(), strict=True)))
        row["img_per_s"] = round(imgs / max(now - self._last_log_time, 1e-9), 1)
        row["lr_g"] = self.sched_g.get_last_lr()[0]
        row["lr_d"] = self.sched_d.get_last_lr()[0]
        self._acc, self._acc_n, self._first_bad = {}, 0, {}
        self._last_log_time, self._last_log_step = now, self.step
        if self.is_main:
            append_jsonl(self.out / "metrics.jsonl", row)
            if self._tb is not None:
                self._tb.scalars(row, "train/")
            self._plot()
        return row

    def _plot(self) -> None:
        try:
            plot_history(read_jsonl(self.out / "metrics.jsonl"), self.out / "plots" / "training.png")
        except Exception as exc:  # a plotting problem must never stop training
            self._message(f"warning: could not refresh plots/training.png: {exc}")

    def _message(self, text: str) -> None:
        if not self.is_main:
            return
        if self._reporter is not None:
            self._reporter.message(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def _record_eval(self, metrics: dict[str, float], final: bool = False) -> None:
        """Append an eval row; at the end also write eval.json (even without metrics: it marks a finished run)."""
        if not self.is_main:
            return
        if final:
            write_json_atomic(self.out / "eval.json", {"step": self.step, **metrics})
        if not metrics:
            return
        row = {"step": self.step, "kind": "eval", **metrics}
        append_jsonl(self.out / "metrics.jsonl", row)
        if self._tb is not None:
            self._tb.scalars(row, "eval/")
        self._plot()

    # ---------------------------------------------------------------------------------------- driver
    def _prepare_out_dir(self) -> None:
        def prepare() -> None:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
                probe = self.out / ".gankit-write-test"
                probe.write_text("ok")
                probe.unlink()
            except OSError as exc:
                raise GankitError(f"run.out_dir: cannot write to {self.out}: {exc.strerror or exc}") from None
            if self.opts.resume is None:
                found = [name for name in RUN_MARKERS if (self.out / name).exists()]
                if found:
                    raise GankitError(
                        f"{self.out} already holds a run ({', '.join(found)}); pass --resume to continue it, "
                        "or --out for a new folder"
                    )
            remove_partial_files(self.out)
            write_json_atomic(self.out / "manifest.json", self.manifest)

        self._on_main(prepare)

    def _maybe_resume(self) -> None:
        """Load the checkpoint ``options.resume`` names (rank 0 picks it; every rank loads it)."""
        resume = self.opts.resume
        if resume is None:
            return

        def pick() -> str | None:
            if resume is True:
                found = list_checkpoints(self.out / "checkpoints")
                return str(found[-1]) if found else None
            return str(resolve_checkpoint(Path(resume)))

        chosen = self._on_main(pick)
        if chosen is None:
            self._message(f"no checkpoint in {self.out / 'checkpoints'}; starting from step 0")
            if self.is_main:
                truncate_jsonl(self.out / "metrics.jsonl", 0)
            return
        path = Path(chosen)
        state = load_checkpoint(path, map_location=self.device)
        self.load_state_dict(state, path)
        if self.is_main:
            saved_hash = json.loads(state.get("manifest") or "{}").get("spec_hash")
            if saved_hash and saved_hash != self.spec.digest():
                self._message(f"warning: the spec differs from the one {path.name} was trained with "
                              f"(spec hash {saved_hash}, now {self.spec.digest()})")
            truncate_jsonl(self.out / "metrics.jsonl", self.step)
            self._message(f"resumed from {path} at step {self.step}")

    def _intervals(self) -> tuple[bool, bool, bool, bool]:
        run, step = self.run, self.step
        last = step >= run.steps
        return (
            step % run.log_every == 0 or last,
            step % run.sample_every == 0 or last,
            bool(run.eval_every) and step % run.eval_every == 0 and not last,
            step % run.checkpoint_every == 0 and not last,
        )

    def _stop_requested(self, stop: StopRequests) -> bool:
        # several processes must stop at the same step: agree on it (a host-side collective, no device sync)
        return gdist.any_rank(stop.requested) if self.denv.enabled else stop.requested

    def fit(self, on_step: Callable[[Trainer], None] | None = None) -> TrainResult:
        """Train to ``run.steps``, writing artifacts. SIGINT/SIGTERM save a checkpoint and raise
        :class:`~gankit.errors.Interrupted`; NaN/inf raises :class:`~gankit.errors.TrainingError`."""
        self._prepare_out_dir()
        self._maybe_resume()
        run = self.run
        if self.is_main and run.tensorboard:
            self._tb = TensorBoardLogger(self.out / "tensorboard")
        self._reporter = reporter = ProgressReporter(run.steps, self.step, enabled=self.is_main,
                                                     bar=self.opts.progress)
        self._last_log_time = time.perf_counter()
        try:
            with StopRequests() as stop, reporter:
                try:
                    while self.step < run.steps:
                        self.train_step()
                        due_log, due_sample, due_eval, due_ckpt = self._intervals()
                        if due_log or due_sample or due_eval or due_ckpt:
                            self._raise_if_nonfinite()
                        if due_log:
                            reporter.update(self.step, self.log())
                        else:
                            reporter.advance(self.step)
                        if due_sample and self.is_main:
                            self.write_samples()
                        if due_eval:
                            self._record_eval(self.evaluate())
                        if due_ckpt:
                            self.checkpoint()
                        if on_step is not None:
                            on_step(self)
                        if self._stop_requested(stop):
                            self._stop(stop)
                    return self._finish()
                except KeyboardInterrupt:  # a second signal: abort at once
                    last = f"; last checkpoint: {self._last_checkpoint}" if self._last_checkpoint else ""
                    raise Interrupted(f"interrupted again during step {self.step + 1}; stopped without saving"
                                      f"{last}") from None
        finally:
            self._reporter = None
            if self._tb is not None:
                self._tb.close()
                self._tb = None

    def _stop(self, stop: StopRequests) -> None:
        what = stop.signal or "a signal on another process"
        try:
            self._raise_if_nonfinite()
            self.checkpoint()
        except TrainingError as exc:
            raise Interrupted(f"{what} at step {self.step}; no checkpoint saved: {exc}") from None
        raise Interrupted(
            f"stopped by {what} at step {self.step}; saved {self._last_checkpoint}; continue with --resume"
        )

    def _finish(self) -> TrainResult:
        """The final checkpoint, samples and evaluation; a resumed run that already has them skips them."""
        final = self.out / "checkpoints" / checkpoint_name(self.step)
        samples = self.out / "samples" / f"step-{self.step:09d}.png"

        def done() -> tuple[bool, bool, dict[str, float] | None]:
            evaluated = None
            path = self.out / "eval.json"
            if path.exists():
                saved = json.loads(path.read_text(encoding="utf-8"))
                if saved.pop("step", None) == self.step:
                    evaluated = saved
            return final.exists(), samples.exists(), evaluated

        has_checkpoint, has_samples, evaluated = self._on_main(done)
        self._raise_if_nonfinite()
        if not has_checkpoint:
            self.checkpoint()
        else:
            self._last_checkpoint = final
        if self.is_main and not has_samples:
            self.write_samples()
        if evaluated is None:
            evaluated = self.evaluate()
            self._record_eval(evaluated, final=True)
        return TrainResult(self.step, self.out, final, evaluated)
