"""The data set 'plugin-template': its params model and registration hook (torch-free).

``info()`` (``gankit.protocols.DataDeclarations``) tells validation, networks and metrics the sample shape,
labels and known modes without loading anything.
"""

from __future__ import annotations

import math

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import DataInfo
from pydantic import Field


class PluginTemplateDataParams(Params):
    """Params of 'plugin-template'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    centre: tuple[float, float] = Field((0.0, 0.0), description="Centre of the Gaussian blob.")
    std: float = Field(0.1, gt=0, description="Standard deviation of each coordinate.")
    n_samples: int = Field(10_000, gt=0, description="Samples drawn once, seeded by the run's seed.")

    def info(self) -> DataInfo:
        # one known mode, so gankit's mode-coverage metric works on this data set too
        return DataInfo(shape=(2,), value_range=(-math.inf, math.inf), modes=(self.centre,), mode_std=self.std,
                        key=f"plugin-template-{self.centre}-{self.std}")


@hookimpl
def register_data(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "plugin-template",
        PluginTemplateDataParams,
        "plugin_template.data_impl:build",
        "a 2-D Gaussian blob (scaffolded by gankit new-plugin)",
    )
