"""One training step: ``critic_steps`` critic steps, a generator step, the optimizer steps and EMA.

:class:`StepRunner` owns the networks (and their compiled views), optimizers, schedules, gradient scalers,
the EMA, the data stream and the components that take part in a loss (divergence, augmentation), and
their checkpoint state. Every loss sees a :class:`~gankit.protocols.LossInputs` carrying the augmentation
and the run's :class:`~gankit.protocols.RunContext`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gankit.build import Components
from gankit.engine import distributed as gdist
from gankit.engine.batches import BatchStream
from gankit.engine.context import EngineContext
from gankit.engine.ema import GeneratorEMA
from gankit.engine.generation import draw_latents, load_weights
from gankit.engine.optim import LinearDecay, clip_gradients, make_optimizer, make_scheduler
from gankit.engine.regularizers import critic_regularizers, generator_regularizers
from gankit.errors import GankitError
from gankit.protocols import LossInputs, RunContext


def uses_spectral_norm(module: nn.Module) -> bool:
    """Whether any layer of ``module`` carries a ``torch.nn.utils.parametrizations.spectral_norm``."""
    for m in module.modules():
        for plist in getattr(m, "parametrizations", {}).values():
            if any(type(p).__name__ == "_SpectralNorm" for p in plist):
                return True
    return False


def _bind(component: Any, run: RunContext) -> None:
    bind = getattr(component, "bind", None)
    if callable(bind):
        bind(run)

#: optimizer-state keys of checkpoints written by gankit 0.1 before the rename (``_d`` was the critic)
_LEGACY_KEYS = {
    "opt_generator": "opt_g", "opt_critic": "opt_d", "sched_generator": "sched_g", "sched_critic": "sched_d",
    "scaler_generator": "scaler_g", "scaler_critic": "scaler_d",
}


class StepRunner:
    """The training step and everything it updates."""

    def __init__(self, ctx: EngineContext, parts: Components, dataset: Any) -> None:
        self.ctx = ctx
        run = self.run = ctx.run
        self.info = parts.info
        self.divergence = parts.divergence
        self.augment = parts.augment
        self.run_ctx = ctx.run_context()
        for component in (self.divergence, self.augment):  # after build, before any checkpoint is loaded
            if component is not None:
                _bind(component, self.run_ctx)
        self.generator: nn.Module = parts.generator.to(ctx.device)
        self.critic: nn.Module = parts.critic.to(ctx.device)
        if run.channels_last and self.info.is_image:
            self.generator = self.generator.to(memory_format=torch.channels_last)
            self.critic = self.critic.to(memory_format=torch.channels_last)
        gdist.broadcast_module(self.generator)
        gdist.broadcast_module(self.critic)
        self.latent_dim: int = self.generator.latent_dim  # type: ignore[assignment]
        self.ema: GeneratorEMA | None = GeneratorEMA(self.generator, run.ema) if run.ema else None
        # compiled views run the hot loop; the plain modules own the weights and go into checkpoints
        self.g_fwd: Any = torch.compile(self.generator) if run.compile else self.generator
        # torch.compile (2.14, measured) saves spectral norm's power-iteration vectors for backward and lets the
        # next critic call update them in place, so a step that scores real and fake in two calls fails in
        # backward ("modified by an inplace operation"); eager spectral norm clones them and is right
        self.critic_eager = run.compile and uses_spectral_norm(self.critic)
        self.c_fwd: Any = torch.compile(self.critic) if run.compile and not self.critic_eager else self.critic
        opt = run.optimizer
        self.opt_generator = make_optimizer(opt.generator, self.generator)
        self.opt_critic = make_optimizer(opt.critic, self.critic)
        self.sched_generator = make_scheduler(opt.generator, self.opt_generator, run.steps)
        self.sched_critic = make_scheduler(opt.critic, self.opt_critic, run.steps)
        fp16 = run.precision == "fp16"
        self.scaler_generator = torch.amp.GradScaler(ctx.device.type, enabled=fp16)
        self.scaler_critic = torch.amp.GradScaler(ctx.device.type, enabled=fp16)
        self.stream = BatchStream(dataset, run.batch_size, ctx.device, seed=run.seed, rank=ctx.denv.rank,
                                  world_size=ctx.denv.world_size, num_workers=run.num_workers,
                                  labelled=self.info.labelled)

    def real(self) -> tuple[Tensor, Tensor | None]:
        x, y = self.stream.next()
        if self.run.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def latents(self, n: int) -> tuple[Tensor, Tensor | None]:
        return draw_latents(n, self.latent_dim, self.info, self.ctx.device, None)

    def _inputs(self, **kwargs: Any) -> LossInputs:
        return LossInputs(critic=self.c_fwd, autocast=self.ctx.autocast, augment=self.augment, run=self.run_ctx,
                          **kwargs)

    def _optimize(self, loss: Tensor, module: nn.Module, opt: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, cfg: Any) -> None:
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        gdist.average_gradients(module)
        if cfg.grad_clip is not None:
            scaler.unscale_(opt)
            clip_gradients(module, cfg)
        scaler.step(opt)
        scaler.update()

    def critic_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        x_r, y_r = self.real()
        z, y_f = self.latents(self.run.batch_size)
        with torch.no_grad(), self.ctx.autocast():
            x_f = self.g_fwd(z, y_f)
        b = self._inputs(step="critic", fake=x_f.detach().to(x_r.dtype), real=x_r, real_labels=y_r, fake_labels=y_f)
        loss = self.divergence.critic_loss(b)
        extra = critic_regularizers(b, self.run.regularize)
        self._optimize(loss if extra is None else loss + extra, self.critic, self.opt_critic, self.scaler_critic,
                       self.run.optimizer.critic)
        for component in (self.divergence, self.augment):
            after = getattr(component, "after_critic_step", None)
            if after is not None:
                after(b)
        clip = getattr(self.divergence, "clip_critic", None)
        if clip is not None:
            clip(self.critic)
        return loss.detach(), b.logs

    def generator_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        z, y_f = self.latents(self.run.batch_size)
        x_r, y_r = self.real() if self.divergence.generator_uses_real else (None, None)
        with self.ctx.autocast():
            x_f = self.g_fwd(z, y_f)
        if x_r is not None:
            x_f = x_f.to(x_r.dtype)
        self.critic.requires_grad_(False)
        try:
            b = self._inputs(step="generator", fake=x_f, real=x_r, real_labels=y_r, fake_labels=y_f)
            loss = self.divergence.generator_loss(b)
            extra = generator_regularizers(b, self.run.regularize)
            self._optimize(loss if extra is None else loss + extra, self.generator, self.opt_generator,
                           self.scaler_generator, self.run.optimizer.generator)
        finally:
            self.critic.requires_grad_(True)
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        return loss.detach(), b.logs

    def train_step(self) -> dict[str, Tensor]:
        """One generator step preceded by ``critic_steps`` critic steps; the values to log (critic ones
        averaged over its steps)."""
        self.generator.train()
        self.critic.train()
        sums: dict[str, Tensor] = {}
        counts: dict[str, int] = {}
        for _ in range(self.run.critic_steps):
            loss_critic, logs_critic = self.critic_step()
            for key, value in {"loss_critic": loss_critic, **logs_critic}.items():
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
        loss_generator, logs_generator = self.generator_step()
        self.sched_critic.step()
        self.sched_generator.step()
        values = {key: value / counts[key] if counts[key] > 1 else value for key, value in sums.items()}
        values.update(loss_generator=loss_generator, **logs_generator)
        return values

    def sampling_generator(self) -> nn.Module:
        """The EMA generator when there is one: samples and metrics use the averaged weights."""
        return self.ema.module if self.ema is not None else self.generator

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        return [(f"{n} parameter '{pn}'", p) for n, m in (("generator", self.generator), ("critic", self.critic))
                for pn, p in m.named_parameters()]

    def lrs(self) -> dict[str, float]:
        return {"lr_generator": self.sched_generator.get_last_lr()[0], "lr_critic": self.sched_critic.get_last_lr()[0]}

    # ------------------------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = {
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_generator": self.opt_generator.state_dict(), "opt_critic": self.opt_critic.state_dict(),
            "sched_generator": self.sched_generator.state_dict(), "sched_critic": self.sched_critic.state_dict(),
            "scaler_generator": self.scaler_generator.state_dict(), "scaler_critic": self.scaler_critic.state_dict(),
            "divergence": _state_of(self.divergence),
            "data": self.stream.state_dict(),
        }
        augment = _state_of(self.augment)
        if augment is not None:
            state["augment"] = augment
        return state

    def load_state_dict(self, state: dict[str, Any], source: Any) -> str | None:
        """Load everything this runner owns (checkpoints written before the critic side was named ``critic`` keep
        ``opt_d``-style keys, read through ``_LEGACY_KEYS``); returns the data stream's warning, if any."""
        load_weights(self.generator, state["generator"], "generator", source)
        load_weights(self.critic, state["critic"], "critic", source)
        try:
            if self.ema is not None and state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            for name in ("opt_generator", "opt_critic", "sched_generator", "sched_critic", "scaler_generator",
                         "scaler_critic"):
                getattr(self, name).load_state_dict(state[name if name in state else _LEGACY_KEYS[name]])
        except (KeyError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GankitError(f"{source}: checkpoint does not match this spec's networks/optimizers: {first}") from None
        for sched in (self.sched_generator, self.sched_critic):  # the schedule length follows this spec's run.steps
            for fn in sched.lr_lambdas:
                if isinstance(fn, LinearDecay):
                    fn.total = self.run.steps
        for component, key in ((self.divergence, "divergence"), (self.augment, "augment")):
            load = getattr(component, "load_state_dict", None)
            if component is not None and load is not None and state.get(key) is not None:
                load(state[key])
        return self.stream.load_state_dict(state["data"])


def _state_of(component: Any) -> Any:
    fn = getattr(component, "state_dict", None)
    return fn() if component is not None and callable(fn) else None
