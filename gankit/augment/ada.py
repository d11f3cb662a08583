"""ADA (Karras, Aittala, Hellsten, Laine, Lehtinen, Aila 2020): augment with a probability p tuned to overfitting.

**Pipeline.** Each transform is applied to each sample independently with probability ``p`` (StyleGAN2-ADA's
"bgc" pipeline, minus general geometry):

* pixel blitting: x-flip (``i ~ {0, 1}``), 90° rotations (``k ~ {0, 1, 2, 3}``), integer translation up to
  ``translation`` of the side (reflect padding, as the reference pads its geometric transforms);
* colour: brightness ``+ N(0, 0.2²)``, contrast ``× 2^N(0, 0.5²)``, luma flip (``i ~ {0, 1}``), hue rotation about
  the grey axis (``θ ~ U(−π, π)``), saturation ``× 2^N(0, 1)``. Grey images use the mean of the colour rows.

**Non-leaking.** Each transform is skipped with probability ``1 − p > 0``, so the augmented distribution is a
mixture that still contains the clean distribution with weight ``(1 − p)^n``; its map from data distribution
to augmented distribution is invertible, and the generator can only match the augmented reals by matching the
clean reals. The paper measures leaks (e.g. generated images rotated or colour-flipped) starting near
``p ≈ 0.8`` for the blitting/colour groups; ``p_max`` can cap p below that.

**Adaptation.** The overfitting heuristic r_t is accumulated over ``interval`` critic steps (and over ranks with
``all_reduce_mean``), then ``p ← clip(p + sign(r_t − target) · N / (speed_kimg · 1000), 0, p_max)`` with ``N``
the real images seen in that interval (``batch × interval × ranks``), so p can cross [0, 1] in
``speed_kimg`` thousand images. Two definitions of r_t:

* ``sign``: ``E sign(T(x_r))``, the paper's, for divergences whose critic scores are logits (``0`` means "can't
  tell"): the divergence declares ``scores_are_logits = True`` (SGAN, SGAN-NS, hinge);
* ``centred``: ``E_i sign(T(x_r,i) − mean_j T(x_f,j))``, negated for autoencoder critics (lower energy = real), and
  ``E_i sign(T(x_r,i, x_f,i) − T(x_f,i, x_r,i))`` for a pair critic. Potentials (WGAN-GP, GAN-QP, relativistic
  losses, LSGAN, f-GAN) are defined up to a constant, so a fixed threshold means nothing; centring on the fake
  scores makes the statistic shift-invariant. 0 still means "can't tell", 1 "every real scores above the
  average fake": the same target scale. It is what ``auto`` picks for any divergence not declaring logits.

p and r_t (the current batch's statistic) are logged as ``augment/p`` and ``augment/rt``. The state (p, the
running statistic and the random stream) is in the checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gankit.augment import ADAParams, ops
from gankit.augment.stream import RandomStream
from gankit.protocols import BuildEnv, LossInputs, RunContext, critic_kind


def divergence_scores_are_logits(env: BuildEnv | None) -> bool:
    """Whether the spec's divergence declares ``scores_are_logits = True`` on the class its factory names.

    Resolved from the registered factory (the divergence's class), so no divergence instance is needed and no
    component is named here; a factory that is a plain function declares nothing (centred statistic)."""
    spec = getattr(env, "spec", None)
    table = getattr(spec, "divergence", None)
    component = getattr(table, "component", None)
    if component is None:
        return False
    return bool(getattr(component.load_factory(), "scores_are_logits", False))


class ADA(RandomStream):
    salt = 0x0ADA_0ADA

    def __init__(
        self, params: ADAParams, env: BuildEnv | None = None, *, scores_are_logits: bool | None = None
    ) -> None:
        super().__init__()
        self.params = params
        if env is not None and env.data is not None:
            shape = env.data.shape
            if len(shape) != 3:
                raise ValueError(f"ada works on images only; the data has samples of shape {shape}")
            if params.color and shape[0] not in (1, 3):
                raise ValueError(f"ada's colour group needs 1 or 3 channels, the data has {shape[0]}")
            if params.blit and shape[1] != shape[2]:
                raise ValueError(f"ada's 90° rotations need square images, the data is {shape[1]}×{shape[2]}")
        if params.statistic == "auto":
            logits = divergence_scores_are_logits(env) if scores_are_logits is None else scores_are_logits
            self.statistic = "sign" if logits else "centred"
        else:
            self.statistic = params.statistic
        self.p = torch.tensor(float(params.p_init))
        self._sign_sum = torch.zeros(())
        self._sign_count = torch.zeros(())
        self._steps = 0  # critic steps since the last adjustment

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.p = self.p.to(ctx.device)
        self._sign_sum = self._sign_sum.to(ctx.device)
        self._sign_count = self._sign_count.to(ctx.device)

    # ---------------------------------------------------------------------------------- augmentation
    def _gate(self, b: int) -> Tensor:
        """Per-sample booleans: apply this transform? (probability p)."""
        return self.uniform(b) < self.p

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"ada expects image batches (B, C, H, W), got shape {tuple(x.shape)}")
        self._check_device(x)
        self._calls += 1
        if self.params.blit:
            x = self._blit(x)
        if self.params.color:
            x = self._colour(x)
        return x

    def _blit(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        flip = (self.integers(0, 2, b) == 1) & self._gate(b)
        turns = self.integers(0, 4, b) * self._gate(b)
        shift = (self.uniform(2, b) * 2 - 1) * self.params.translation * self._gate(b)
        rows = torch.round(shift[0] * h).long()
        cols = torch.round(shift[1] * w).long()
        return ops.blit(x, flip, turns, rows, cols)

    def _colour(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        dev = self.generator.device
        one = torch.ones(b, device=dev)
        brightness = self.normal(b) * 0.2 * self._gate(b)
        contrast = torch.where(self._gate(b), torch.exp2(self.normal(b) * 0.5), one)
        flip = self.integers(0, 2, b).float() * self._gate(b)
        theta = (self.uniform(b) * 2 - 1) * math.pi * self._gate(b)
        sat = torch.where(self._gate(b), torch.exp2(self.normal(b) * 1.0), one)
        matrix = ops.translate3d(brightness)
        matrix = ops.scale3d(contrast) @ matrix
        matrix = ops.luma_flip(flip) @ matrix
        matrix = ops.hue_rotation(theta) @ matrix
        matrix = ops.saturation(sat) @ matrix
        return ops.apply_colour_matrix(x, matrix)

    # ------------------------------------------------------------------------------------ adaptation
    @torch.no_grad()
    def real_signs(self, b: LossInputs) -> Tensor:
        """Per-sample ``sign`` entering r_t for this critic step (see the module docstring)."""
        kind = critic_kind(b.critic)
        if kind == "pair":
            t_rf, _ = b.call_critic(b.real, b.fake)
            t_fr, _ = b.call_critic(b.fake, b.real)
            return torch.sign(t_rf - t_fr)
        real = b.real_scores.detach()
        if self.statistic == "sign":
            return torch.sign(real)
        centred = real - b.fake_scores.detach().mean()
        return torch.sign(-centred if kind == "autoencoder" else centred)

    @torch.no_grad()
    def after_critic_step(self, b: LossInputs) -> None:
        """Accumulate r_t; every ``interval`` critic steps move p (identically on every rank); log p and r_t."""
        signs = self.real_signs(b)
        b.log("augment/rt", signs.mean())
        if not self.params.fixed:
            self._sign_sum = self._sign_sum + signs.sum()
            self._sign_count = self._sign_count + signs.numel()
            self._steps += 1
            if self._steps >= self.params.interval:
                self._adjust(b.batch_size)
        b.log("augment/p", self.p)

    def _adjust(self, batch_size: int) -> None:
        reduce = self.run.all_reduce_mean if self.run is not None else (lambda t: t)
        world = self.run.world_size if self.run is not None else 1
        totals = reduce(torch.stack([self._sign_sum, self._sign_count]))
        rt = totals[0] / totals[1].clamp_min(1)
        images = batch_size * world * self._steps
        step = torch.sign(rt - self.params.target) * images / (self.params.speed_kimg * 1000)
        self.p = (self.p + step).clamp(0.0, self.params.p_max)
        self._sign_sum = torch.zeros_like(self._sign_sum)
        self._sign_count = torch.zeros_like(self._sign_count)
        self._steps = 0

    # ------------------------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Tensor]:
        return {
            **super().state_dict(),
            "p": self.p.detach().cpu(),
            "sign_sum": self._sign_sum.detach().cpu(),
            "sign_count": self._sign_count.detach().cpu(),
            "steps": torch.tensor(self._steps, dtype=torch.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        device = self.p.device
        self.p = torch.as_tensor(state["p"]).to(device=device, dtype=torch.float32)
        self._sign_sum = torch.as_tensor(state["sign_sum"]).to(device=device, dtype=torch.float32)
        self._sign_count = torch.as_tensor(state["sign_count"]).to(device=device, dtype=torch.float32)
        self._steps = int(state["steps"])
