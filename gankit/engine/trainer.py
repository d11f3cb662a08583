"""The training loop: critic steps, a generator step, EMA, logging, samples, checkpoints, evaluation.

The hot loop keeps every number on the device: losses are summed into tensors and read back (one host sync)
only at logging, checkpoint and evaluation intervals. A non-finite loss is caught at the next such
interval, reported with the exact step, and never reaches a checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import gankit
from gankit.build import Components, build_components
from gankit.engine import distributed as gdist
from gankit.engine.artifacts import (
    append_jsonl,
    plot_history,
    read_jsonl,
    save_grid,
    save_scatter,
    write_json_atomic,
)
from gankit.engine.batches import BatchStream
from gankit.engine.checkpoint import list_checkpoints, load_checkpoint, resolve_checkpoint, save_checkpoint
from gankit.engine.optim import clip_gradients, make_optimizer, make_scheduler
from gankit.engine.progress import ProgressReporter
from gankit.engine.regularizers import critic_regularizers, generator_regularizers
from gankit.errors import GankitError, Interrupted, TrainingError
from gankit.protocols import EvalContext, LossInputs
from gankit.spec import Spec

CHECKPOINT_FORMAT = "gankit-checkpoint"


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
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
        elif device.index >= torch.cuda.device_count():
            raise GankitError(f"run.device: {name} does not exist ({torch.cuda.device_count()} CUDA device(s))")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GankitError("run.device: MPS was requested but is not available on this machine")
    return device


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


def run_manifest(spec: Spec) -> dict[str, Any]:
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
    }


class Trainer:
    """Trains one spec. ``Trainer(spec, options).fit()``; works the same in one process or under torchrun."""

    def __init__(self, spec: Spec, options: TrainOptions) -> None:
        self.spec = spec
        self.run = spec.run
        self.opts = options
        self.out = options.out_dir
        self.denv = gdist.from_environment()
        self.device = resolve_device(self.run.device, self.denv.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        gdist.init_process_group(self.denv, self.device)
        torch.manual_seed(self.run.seed * 1000 + self.denv.rank)

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

        self.ema: AveragedModel | None = None
        if self.run.ema is not None:
            self.ema = AveragedModel(
                self.generator, multi_avg_fn=get_ema_multi_avg_fn(self.run.ema), use_buffers=True
            )
        # compiled views run the hot loop; the plain modules own the weights and go into checkpoints
        self.g_fwd: Any = torch.compile(self.generator) if self.run.compile else self.generator
        self.c_fwd: Any = torch.compile(self.critic) if self.run.compile else self.critic

        opt = self.run.optimizer
        self.opt_g = make_optimizer(opt.generator, self.generator)
        self.opt_d = make_optimizer(opt.critic, self.critic)
        self.sched_g = make_scheduler(opt.generator, self.opt_g, self.run.steps)
        self.sched_d = make_scheduler(opt.critic, self.opt_d, self.run.steps)
        fp16 = self.run.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self._amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.run.precision)

        dataset = self.parts.data.dataset("train")
        self.labelled = self.info.labelled
        self.stream = BatchStream(
            dataset,
            self.run.batch_size,
            self.device,
            seed=self.run.seed,
            rank=self.denv.rank,
            world_size=self.denv.world_size,
            num_workers=self.run.num_workers,
            labelled=self.labelled,
        )
        gen = torch.Generator().manual_seed(self.run.seed + 12345)
        self.fixed_z = torch.randn(self.run.num_samples, self.latent_dim, generator=gen).to(self.device)
        self.fixed_labels = (
            (torch.arange(self.run.num_samples) % self.info.num_classes).to(self.device) if self.labelled else None
        )
        self.step = 0
        self._acc: dict[str, Tensor] = {}
        self._acc_n = 0
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self._last_log_time = time.perf_counter()
        self._last_log_step = 0
        self._last_checkpoint: Path | None = None

    # -------------------------------------------------------------------------------------- helpers
    @property
    def is_main(self) -> bool:
        return self.denv.is_main

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._amp_dtype)

    def _latents(self, n: int) -> tuple[Tensor, Tensor | None]:
        z = torch.randn(n, self.latent_dim, device=self.device)
        labels = torch.randint(self.info.num_classes, (n,), device=self.device) if self.labelled else None
        return z, labels

    def _real(self) -> tuple[Tensor, Tensor | None]:
        x, y = self.stream.next()
        if self.run.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def _accumulate(self, values: dict[str, Tensor]) -> None:
        for key, value in values.items():
            value = value.detach().float()
            self._acc[key] = self._acc[key] + value if key in self._acc else value.clone()

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
        """One generator step preceded by ``critic_steps`` critic steps."""
        self.generator.train()
        self.critic.train()
        for _ in range(self.run.critic_steps):
            loss_d, logs_d = self.critic_step()
        loss_g, logs_g = self.generator_step()
        self.sched_d.step()
        self.sched_g.step()
        self.step += 1
        bad = ~(torch.isfinite(loss_d) & torch.isfinite(loss_g))
        self._bad_step = torch.where((self._bad_step < 0) & bad, self.step, self._bad_step)
        self._accumulate({"loss_d": loss_d, "loss_g": loss_g, **logs_d, **logs_g})
        self._acc_n += 1

    # ----------------------------------------------------------------------------------- sampling
    def sampling_generator(self) -> nn.Module:
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

    def sample_fake(self, n: int) -> tuple[Tensor, Tensor | None]:
        z, labels = self._latents(n)
        return self.generate(z, labels), labels

    def sample_real(self, n: int, split: str = "train") -> tuple[Tensor, Tensor | None]:
        dataset = self.parts.data.dataset(split)  # type: ignore[arg-type]
        gen = torch.Generator().manual_seed(self.run.seed + 777)
        idx = torch.randperm(len(dataset), generator=gen)[:n]  # type: ignore[arg-type]
        if hasattr(dataset, "tensors"):
            x = dataset.tensors[0][idx]
            y = dataset.tensors[1][idx] if len(dataset.tensors) > 1 else None
        else:
            items = [dataset[int(i)] for i in idx]
            x = torch.stack([it[0] for it in items])
            y = torch.as_tensor([int(it[1]) for it in items])
        return x.to(self.device), (y.to(self.device) if (y is not None and self.labelled) else None)

    def write_samples(self) -> Path:
        path = self.out / "samples" / f"step-{self.step:09d}.png"
        images = self.generate(self.fixed_z, self.fixed_labels)
        if self.info.is_image:
            save_grid(images, path, self.info.value_range)
        else:
            many, _ = self.sample_fake(max(2500, self.run.num_samples))
            real, _ = self.sample_real(2500)
            save_scatter(many[:, :2], path, real=real[:, :2], modes=self.info.modes, title=f"step {self.step}")
        return path

    # --------------------------------------------------------------------------------- evaluation
    def evaluate(self) -> dict[str, float]:
        if not self.parts.metrics:
            return {}
        ctx = EvalContext(
            info=self.info,
            device=self.device,
            sample_fake=self.sample_fake,
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
        return results

    # ------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        ranks = [rng]
        if dist.is_initialized() and self.denv.world_size > 1:
            ranks = [None] * self.denv.world_size  # type: ignore[list-item]
            dist.all_gather_object(ranks, {k: v.cpu() for k, v in rng.items()})
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
            "rng": ranks,
            "data": self.stream.state_dict(),
            "world_size": self.denv.world_size,
            "manifest": json.dumps(run_manifest(self.spec)),
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
        div_load = getattr(self.divergence, "load_state_dict", None)
        if div_load is not None and state.get("divergence") is not None:
            div_load(state["divergence"])
        ranks = state["rng"]
        rng = ranks[self.denv.rank] if len(ranks) == self.denv.world_size else ranks[0]
        torch.set_rng_state(rng["cpu"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.stream.load_state_dict(state["data"])
        self.step = int(state["step"])
        self._last_log_step = self.step
        self._last_checkpoint = source

    def checkpoint(self) -> Path | None:
        """Save a checkpoint (rank 0 writes; every rank takes part in gathering RNG states)."""
        self._raise_if_nonfinite()
        state = self.state_dict()
        path = None
        if self.is_main:
            path = save_checkpoint(state, self.out / "checkpoints", self.step, self.run.keep_checkpoints)
            self._last_checkpoint = path
        return path

    def _raise_if_nonfinite(self) -> None:
        bad = int(self._bad_step.item())
        if bad >= 0:
            keep = f"; last good checkpoint: {self._last_checkpoint}" if self._last_checkpoint else ""
            names = ", ".join(k for k, v in self._acc.items() if not torch.isfinite(v)) or "loss_d/loss_g"
            raise TrainingError(f"training diverged at step {bad}: {names} is not finite{keep}")
        for name, module in (("generator", self.generator), ("critic", self.critic)):
            for pname, p in module.named_parameters():
                if not torch.isfinite(p).all():
                    raise TrainingError(
                        f"training diverged by step {self.step}: {name} parameter '{pname}' is not finite"
                        + (f"; last good checkpoint: {self._last_checkpoint}" if self._last_checkpoint else "")
                    )

    # --------------------------------------------------------------------------------------- logging
    def log(self) -> dict[str, Any]:
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
        self._raise_if_nonfinite()
        self._acc, self._acc_n = {}, 0
        self._last_log_time, self._last_log_step = now, self.step
        if self.is_main:
            append_jsonl(self.out / "metrics.jsonl", row)
            self._plot()
        return row

    def _plot(self) -> None:
        try:
            plot_history(read_jsonl(self.out / "metrics.jsonl"), self.out / "plots" / "training.png")
        except Exception as exc:  # a plotting problem must never stop training
            print(f"warning: could not refresh plots/training.png: {exc}")

    # ---------------------------------------------------------------------------------------- driver
    def _prepare_out_dir(self) -> None:
        if not self.is_main:
            return
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            probe = self.out / ".gankit-write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise GankitError(f"run.out_dir: cannot write to {self.out}: {exc.strerror or exc}") from None
        if self.opts.resume is None and list_checkpoints(self.out / "checkpoints"):
            raise GankitError(
                f"{self.out} already holds a run; pass --resume to continue it, or --out for a new folder"
            )
        write_json_atomic(self.out / "manifest.json", run_manifest(self.spec))

    def _maybe_resume(self) -> None:
        resume = self.opts.resume
        if resume is None:
            return
        if resume is True:
            found = list_checkpoints(self.out / "checkpoints")
            if not found:
                if self.is_main:
                    print(f"no checkpoint in {self.out / 'checkpoints'}; starting from step 0")
                return
            path = found[-1]
        else:
            path = resolve_checkpoint(Path(resume))
        state = load_checkpoint(path, map_location=self.device)
        self.load_state_dict(state, path)
        if self.is_main:
            rows = [r for r in read_jsonl(self.out / "metrics.jsonl") if r.get("step", 0) <= self.step]
            tmp = self.out / ".tmp-metrics.jsonl"
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            os.replace(tmp, self.out / "metrics.jsonl")

    def fit(self, on_step: Callable[[Trainer], None] | None = None) -> TrainResult:
        """Train to ``run.steps``, writing artifacts; SIGINT saves a checkpoint and stops cleanly."""
        self._prepare_out_dir()
        self._maybe_resume()
        run = self.run
        reporter = ProgressReporter(run.steps, self.step, enabled=self.is_main, bar=self.opts.progress)
        metrics: dict[str, float] = {}
        try:
            with reporter:
                while self.step < run.steps:
                    self.train_step()
                    last = self.step == run.steps
                    if self.step % run.log_every == 0 or last:
                        reporter.update(self.step, self.log())
                    else:
                        reporter.advance(self.step)
                    if self.is_main and (self.step % run.sample_every == 0 or last):
                        self.write_samples()
                    if run.eval_every and self.step % run.eval_every == 0 and not last:
                        self._record_eval(self.evaluate())
                    if self.step % run.checkpoint_every == 0 and not last:
                        self.checkpoint()
                    if on_step is not None:
                        on_step(self)
                path = self.checkpoint()
                metrics = self.evaluate()
                self._record_eval(metrics, final=True)
        except KeyboardInterrupt:
            try:
                saved = self.checkpoint()
            except TrainingError as exc:
                raise Interrupted(f"interrupted at step {self.step}; no checkpoint saved: {exc}") from None
            raise Interrupted(f"interrupted at step {self.step}; saved {saved}; continue with --resume") from None
        return TrainResult(self.step, self.out, path, metrics)

    def _record_eval(self, metrics: dict[str, float], final: bool = False) -> None:
        if not metrics or not self.is_main:
            return
        append_jsonl(self.out / "metrics.jsonl", {"step": self.step, "kind": "eval", **metrics})
        if final:
            write_json_atomic(self.out / "eval.json", {"step": self.step, **metrics})
        self._plot()

