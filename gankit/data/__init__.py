"""Built-in data sets (a gankit plugin: registered through the ``gankit`` entry-point group).

Params models live here, torch-free; the loaders live in the submodules and are imported only on build.
"""

from __future__ import annotations

import math

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import DataInfo


class RingParams(Params):
    """A ring of Gaussians; defaults are the VEEGAN/PacGAN protocol (8 modes, radius 1, std 0.01)."""

    modes: int = Field(8, ge=2, le=1000, description="Number of Gaussians on the circle.")
    radius: float = Field(1.0, gt=0, description="Radius of the circle.")
    std: float = Field(0.01, gt=0, description="Standard deviation of each Gaussian.")
    n_samples: int = Field(100_000, gt=0, description="Training samples drawn once (with the run's seed).")

    def centres(self) -> tuple[tuple[float, float], ...]:
        return tuple(
            (self.radius * math.cos(2 * math.pi * k / self.modes), self.radius * math.sin(2 * math.pi * k / self.modes))
            for k in range(self.modes)
        )

    def info(self) -> DataInfo:
        return DataInfo(shape=(2,), num_classes=self.modes, value_range=(-math.inf, math.inf),
                        modes=self.centres(), mode_std=self.std, key=f"ring-{self.modes}-{self.radius}-{self.std}")


class GridParams(Params):
    """A square grid of Gaussians; defaults are the VEEGAN/PacGAN protocol (5×5 at {−4,…,4}², std 0.05)."""

    size: int = Field(5, ge=2, le=30, description="Gaussians per side.")
    spacing: float = Field(2.0, gt=0, description="Distance between neighbouring centres.")
    std: float = Field(0.05, gt=0, description="Standard deviation of each Gaussian.")
    n_samples: int = Field(100_000, gt=0, description="Training samples drawn once (with the run's seed).")

    def centres(self) -> tuple[tuple[float, float], ...]:
        offset = (self.size - 1) / 2
        coords = [(i - offset) * self.spacing for i in range(self.size)]
        return tuple((x, y) for x in coords for y in coords)

    def info(self) -> DataInfo:
        return DataInfo(shape=(2,), num_classes=self.size**2, value_range=(-math.inf, math.inf),
                        modes=self.centres(), mode_std=self.std, key=f"grid-{self.size}-{self.spacing}-{self.std}")


@hookimpl
def register_data(register) -> None:  # type: ignore[no-untyped-def]
    register("ring", RingParams, "gankit.data.mixtures:build", "2-D ring of Gaussians (VEEGAN/PacGAN ring-8)")
    register("grid", GridParams, "gankit.data.mixtures:build", "2-D grid of Gaussians (VEEGAN/PacGAN grid-25)")
