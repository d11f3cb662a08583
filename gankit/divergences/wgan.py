"""Wasserstein GANs: the critic estimates W1 under a Lipschitz constraint, by clipping or by penalties."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.divergences import WGANDivParams, WGANGPParams, WGANParams
from gankit.ops import interpolate_gradient_norms
from gankit.protocols import BuildEnv, LossInputs


class _Wasserstein:
    """Critic: E_q T − E_p T. Generator: −E_q T."""

    generator_uses_real = False

    def critic_loss(self, b: LossInputs) -> Tensor:
        return b.fake_scores.mean() - b.real_scores.mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return -b.fake_scores.mean()


class WGAN(_Wasserstein):
    """Weight clipping to [−c, c] after every critic step (the engine calls ``clip_critic``)."""

    def __init__(self, params: WGANParams, env: BuildEnv) -> None:
        self.params = params

    @torch.no_grad()
    def clip_critic(self, critic: nn.Module) -> None:
        for p in critic.parameters():
            p.clamp_(-self.params.clip, self.params.clip)


class WGANGP(_Wasserstein):
    """Adds λ E_x̂ (‖∇T(x̂)‖₂ − 1)² (two-sided) to the critic loss."""

    def __init__(self, params: WGANGPParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        gp = (interpolate_gradient_norms(b) - 1).square().mean()
        b.log("gp", gp)
        return super().critic_loss(b) + self.params.lam * gp


class WGANDiv(_Wasserstein):
    """Adds k E_x̂ ‖∇T(x̂)‖^p to the critic loss (no Lipschitz target)."""

    def __init__(self, params: WGANDivParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        penalty = interpolate_gradient_norms(b).pow(self.params.p).mean()
        b.log("div_penalty", penalty)
        return super().critic_loss(b) + self.params.k * penalty
