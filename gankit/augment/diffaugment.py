"""DiffAugment (Zhao, Liu, Lin, Zhu, Han 2020): the same differentiable policies on every critic input.

Every listed policy is applied to every sample with that sample's own random parameters (THEORY.md §6):

* ``color``: brightness ``x + (u − 0.5)``; saturation ``(x − mean_c)·2u + mean_c`` (mean over channels);
  contrast ``(x − mean)·(u + 0.5) + mean`` (mean over C, H, W); one ``u ~ U(0, 1)`` per sample and operation.
* ``translation``: an integer shift in ``[−s, s]`` rows and columns independently, ``s = round(ratio · side)``
  (the reference code's rounding; 1/8 of the side by default), zero padding.
* ``cutout``: a zeroed square of ``round(ratio · side)`` pixels (1/2 by default) at a uniformly drawn centre.

Unlike ADA nothing here is optional per sample: DiffAugment relies on the generator being trained through the
same transformations, and on the transformations being applied to real and fake batches alike.
"""

from __future__ import annotations

from torch import Tensor

from gankit.augment import DiffAugmentParams
from gankit.augment.ops import cutout, translate_zero
from gankit.augment.stream import RandomStream
from gankit.protocols import BuildEnv


class DiffAugment(RandomStream):
    salt = 0x0D1F_FA06

    def __init__(self, params: DiffAugmentParams, env: BuildEnv | None = None) -> None:
        super().__init__()
        self.params = params
        if env is not None and env.data is not None and not env.data.is_image:
            raise ValueError(f"diffaugment works on images only; the data has samples of shape {env.data.shape}")

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"diffaugment expects image batches (B, C, H, W), got shape {tuple(x.shape)}")
        self._check_device(x)
        self._calls += 1
        for policy in self.params.policy:
            x = getattr(self, f"_{policy}")(x)
        return x

    def _color(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        u = self.uniform(3, b).to(x.dtype).view(3, b, 1, 1, 1)
        x = x + (u[0] - 0.5)
        mean_c = x.mean(dim=1, keepdim=True)
        x = (x - mean_c) * (u[1] * 2) + mean_c
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (u[2] + 0.5) + mean

    def _translation(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        sh, sw = int(h * self.params.translation + 0.5), int(w * self.params.translation + 0.5)
        rows = self.integers(-sh, sh + 1, b)
        cols = self.integers(-sw, sw + 1, b)
        return translate_zero(x, rows, cols)

    def _cutout(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        ch, cw = int(h * self.params.cutout + 0.5), int(w * self.params.cutout + 0.5)
        # the reference draws the centre from [0, side + (1 − size % 2)): every square position is equally likely
        rows = self.integers(0, h + (1 - ch % 2), b)
        cols = self.integers(0, w + (1 - cw % 2), b)
        return cutout(x, rows, cols, ch, cw)
