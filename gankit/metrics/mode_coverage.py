"""Mode coverage on data with known modes (VEEGAN/PacGAN protocol, THEORY.md §5).

A sample is *high quality* if it lies within ``quality_std`` standard deviations of its nearest mode; a mode
is *captured* if at least one high-quality sample is nearest to it; the reverse KL compares the histogram of
high-quality samples over modes with the uniform distribution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gankit.errors import GankitError
from gankit.metrics import ModeCoverageParams
from gankit.protocols import BuildEnv, EvalContext


def mode_statistics(samples: Tensor, centres: Tensor, std: float, quality_std: float = 3.0) -> dict[str, float]:
    """Coverage statistics of ``samples`` (N, D) against mode ``centres`` (M, D)."""
    dist = torch.cdist(samples.double(), centres.double())
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= quality_std * std
    counts = torch.bincount(nearest[good], minlength=len(centres)).double()
    n_modes = len(centres)
    captured = int((counts > 0).sum())
    if counts.sum() > 0:
        freq = counts / counts.sum()
        nz = freq > 0
        reverse_kl = float((freq[nz] * (freq[nz] * n_modes).log()).sum())
    else:
        reverse_kl = math.log(n_modes)  # nothing captured: as far from uniform as a single mode would be
    return {
        "modes": float(captured),
        "high_quality": float(good.double().mean() * 100),
        "reverse_kl": reverse_kl,
    }


class ModeCoverage:
    def __init__(self, params: ModeCoverageParams, env: BuildEnv) -> None:
        problem = next(iter(params.problems(env.data)), None)
        if problem is not None:
            raise GankitError(f"metric 'mode-coverage': {problem[1]}")
        if env.data is None or env.data.modes is None or env.data.mode_std is None:
            raise GankitError("metric 'mode-coverage': needs data with known mode centres (e.g. 'ring' or 'grid')")
        self.params = params
        self.centres = torch.tensor(env.data.modes, dtype=torch.float64)
        self.std = env.data.mode_std

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        fake, _ = ctx.sample_fake(self.params.n_samples)
        return mode_statistics(fake.flatten(1).cpu(), self.centres, self.std, self.params.quality_std)


def build(params: ModeCoverageParams, env: BuildEnv) -> ModeCoverage:
    return ModeCoverage(params, env)
