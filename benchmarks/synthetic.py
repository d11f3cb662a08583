"""A benchmark-only data plugin: random images of any shape, held in memory (throughput needs no real data).

Registered into the process-wide registry by :func:`install`, exactly as an entry-point plugin would be.
"""

from __future__ import annotations

import types
from typing import Any

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import BuildEnv, DataInfo


class SyntheticParams(Params):
    """Uniform noise images in [-1, 1]."""

    channels: int = Field(3, gt=0)
    side: int = Field(64, gt=0)
    n_samples: int = Field(4096, gt=0)

    def info(self) -> DataInfo:
        return DataInfo(shape=(self.channels, self.side, self.side), key=f"synthetic-{self.channels}-{self.side}")


class SyntheticSource:
    def __init__(self, params: SyntheticParams, env: BuildEnv) -> None:
        self.params, self.info = params, params.info()

    def dataset(self, split: str = "train") -> Any:
        import torch
        from torch.utils.data import TensorDataset

        p = self.params
        gen = torch.Generator().manual_seed(0)
        return TensorDataset(torch.rand(p.n_samples, p.channels, p.side, p.side, generator=gen) * 2 - 1,
                             torch.zeros(p.n_samples, dtype=torch.long))


@hookimpl
def register_data(register) -> None:  # type: ignore[no-untyped-def]
    register("synthetic-images", SyntheticParams, SyntheticSource, "random images (benchmarks only)")


def install() -> None:
    """Add this plugin to the process-wide registry (beside every installed one)."""
    from gankit.plugins import load_registry, reset_registry

    module = types.ModuleType("gankit_bench_synthetic")
    module.register_data = register_data  # type: ignore[attr-defined]
    reset_registry(load_registry(extra=[(module, "gankit-benchmarks", "0")]))
