"""The public ops module: one definition of the pair distance, wrappers unwrapped once, penalties that run the
critic eagerly; divergences reach the run through ``LossInputs.run``, never through the engine."""

from __future__ import annotations

import torch
from divergence_helpers import ColumnCritic, divergence, inputs
from torch import nn

from gankit import ops
from gankit.protocols import LossInputs, RunContext, critic_kind


def test_l2_is_the_per_pixel_root_mean_square_difference():
    real = torch.zeros(2, 1, 4, 4)
    fake = torch.full((2, 1, 4, 4), 3.0)
    fake[1] = -0.5
    assert torch.allclose(ops.pair_distance(real, fake, "l2"), torch.tensor([3.0, 0.5]))  # not sqrt(16)·3
    assert torch.allclose(ops.pair_distance(real, fake, "l1"), torch.tensor([3.0, 0.5]))
    assert not hasattr(LossInputs, "pair_distance")  # a GAN-QP helper is not part of the core contract


class _PairCriticWithAModuleAttribute(nn.Module):
    """A plain critic whose submodule happens to be called ``module``: it is not a wrapper."""

    kind = "pair"

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        return self.module(x).squeeze(1)


def test_unwrap_looks_through_wrappers_only():
    critic = _PairCriticWithAModuleAttribute()
    assert ops.unwrap(critic) is critic and critic_kind(critic) == "pair"
    wrapped = nn.DataParallel(critic)
    assert ops.unwrap(wrapped) is critic and critic_kind(wrapped) == "pair"


def test_input_gradient_norms_are_the_same_through_a_wrapper():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))

    class Scores(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = critic

        def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            return self.net(x).squeeze(1)

    plain = Scores()
    x = torch.randn(5, 3)
    direct = ops.input_gradient_norms(plain, x, None)
    through = ops.input_gradient_norms(nn.DataParallel(plain), x, None)
    squared = ops.input_gradient_norms(plain, x, None, squared=True)
    assert torch.allclose(direct, through) and torch.allclose(squared, direct.square(), atol=1e-6)
    assert direct.grad_fn is not None  # a penalty on it trains the critic


def test_began_averages_its_energies_with_the_runs_cross_rank_mean():
    calls = []

    def mean_over_ranks(t: torch.Tensor) -> torch.Tensor:
        calls.append(t.clone())
        return t * 0 + torch.tensor([1.0, 3.0])  # as if the other rank had very different energies

    began = divergence("began", gamma=0.5, lambda_k=0.1)
    real, fake = torch.tensor([[0.2, 0.0], [0.4, 0.0]]), torch.tensor([[0.1, 0.0], [0.3, 0.0]])
    b = inputs(ColumnCritic(), real, fake)
    b.run = RunContext(device=torch.device("cpu"), world_size=2, all_reduce_mean=mean_over_ranks)
    began.after_critic_step(b)
    assert len(calls) == 1 and torch.allclose(calls[0], torch.tensor([0.3, 0.2]))
    assert torch.isclose(began.k, torch.tensor(0.1 * (0.5 * 1.0 - 3.0)).clamp(0, 1))
    alone = divergence("began", gamma=0.5, lambda_k=0.1)
    alone.after_critic_step(inputs(ColumnCritic(), real, fake))  # no run context: one process
    assert torch.isclose(alone.k, torch.tensor(0.1 * (0.5 * 0.3 - 0.2)).clamp(0, 1))
