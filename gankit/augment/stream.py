"""The random stream every built-in augmentation draws from: its own ``torch.Generator``, never the training RNG.

It is created in ``bind(ctx)`` on the run's device from ``ctx.seed`` (distinct per rank), mixed with a salt so
that it never replays the training RNG, which the engine seeds from the same number. Its state is part of the
augmentation's ``state_dict`` so a resumed run draws exactly the augmentations it would have drawn.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.protocols import RunContext

_MASK = (1 << 63) - 1


def mix_seed(seed: int, salt: int) -> int:
    """A 63-bit seed from ``(seed, salt)`` (one round of splitmix64: nearby seeds give unrelated streams)."""
    z = (seed * 0x9E3779B97F4A7C15 + salt) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK


class RandomStream:
    """Base of the built-in augmentations: ``bind``, per-sample draws, and the stream's checkpoint state."""

    #: distinguishes the streams of different augmentation kinds made from the same run seed
    salt: int = 0x6A75_6D65

    def __init__(self) -> None:
        self.run: RunContext | None = None
        self._generator: torch.Generator | None = None
        self._seed = 0
        self._calls = 0

    def bind(self, ctx: RunContext) -> None:
        """Create the random stream on ``ctx.device`` from ``ctx.seed``; called once, before any checkpoint
        is loaded."""
        self.run = ctx
        self._seed = mix_seed(ctx.seed, self.salt)
        self._generator = torch.Generator(device=ctx.device)
        self._generator.manual_seed(self._seed)
        self._calls = 0

    @property
    def generator(self) -> torch.Generator:
        if self._generator is None:
            raise RuntimeError(
                f"{type(self).__name__} was used before bind(ctx): the engine must bind an augmentation to the run "
                "(device, per-rank seed) before the first critic call"
            )
        return self._generator

    def _check_device(self, x: Tensor) -> None:
        if x.device.type != self.generator.device.type:
            raise RuntimeError(
                f"{type(self).__name__} is bound to {self.generator.device} but got a batch on {x.device}"
            )

    def uniform(self, *shape: int) -> Tensor:
        """``U[0, 1)`` draws from this stream, on its device."""
        return torch.rand(shape, generator=self.generator, device=self.generator.device)

    def normal(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.generator, device=self.generator.device)

    def integers(self, low: int, high: int, *shape: int) -> Tensor:
        """Integers in ``[low, high)``."""
        return torch.randint(low, high, shape, generator=self.generator, device=self.generator.device)

    # ------------------------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Tensor]:
        """This rank's stream: the seed it was made from, how many batches it augmented, and its state. All CPU
        tensors, so an engine can gather every rank's state like its RNG states."""
        return {
            "seed": torch.tensor(self._seed, dtype=torch.int64),
            "calls": torch.tensor(self._calls, dtype=torch.int64),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the stream exactly when ``state`` comes from this rank's stream (same seed); a state from
        another seed (another rank or world size) cannot be replayed, so the stream is re-seeded from this
        rank's seed and the number of batches already augmented: distinct, reproducible, not bit-exact."""
        calls = int(state.get("calls", 0))
        if int(state.get("seed", -1)) == self._seed and "generator" in state:  # ints or 0-d tensors alike
            self.generator.set_state(torch.as_tensor(state["generator"]).cpu())
        else:
            self.generator.manual_seed(mix_seed(self._seed, calls))
        self._calls = calls
