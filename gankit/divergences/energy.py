"""Energy-based GANs with an autoencoder critic: the critic's score is the reconstruction error ``L(v)``.

BEGAN carries its equilibrium term ``k_t`` across steps; it is divergence state, saved in checkpoints
through ``state_dict``/``load_state_dict`` and kept on the device (no host sync in the loop).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.divergences import BEGANParams, EBGANParams
from gankit.protocols import BuildEnv, LossInputs


class EBGAN:
    """Critic: E_p D(x) + E_q max(0, m − D(G(z))). Generator: E_q D(G(z))."""

    generator_uses_real = False

    def __init__(self, params: EBGANParams, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        return b.real_scores.mean() + F.relu(self.params.margin - b.fake_scores).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return b.fake_scores.mean()


class BEGAN:
    """Critic: L(x) − k_t L(G(z)). Generator: L(G(z)). Then k ← clamp(k + λ_k (γ L(x) − L(G(z))), 0, 1)."""

    generator_uses_real = False

    def __init__(self, params: BEGANParams, env: BuildEnv) -> None:
        self.params = params
        self.k = torch.tensor(params.k_init)

    def critic_loss(self, b: LossInputs) -> Tensor:
        self.k = self.k.to(b.fake.device)
        b.log("k_t", self.k)
        return b.real_scores.mean() - self.k * b.fake_scores.mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return b.fake_scores.mean()

    @torch.no_grad()
    def after_critic_step(self, b: LossInputs) -> None:
        """Update ``k_t`` from this critic step's energies (averaged over processes, so every rank keeps the
        same ``k_t``) and log the convergence measure ``M = L(x) + |γ L(x) − L(G(z))|``."""
        means = torch.stack([b.real_scores.detach().mean(), b.fake_scores.detach().mean()])
        if b.run is not None:  # no run context: one process, the local means are the global ones
            means = b.run.all_reduce_mean(means)
        real, fake = means.unbind()
        balance = self.params.gamma * real - fake
        self.k = (self.k + self.params.lambda_k * balance).clamp(0.0, 1.0)
        b.log("convergence", real + balance.abs())

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = torch.as_tensor(state["k"]).clone()
