"""Built-in metrics (a gankit plugin registered through the ``gankit`` entry-point group).

Params models live here, torch-free; each metric lives in its own submodule (definitions: THEORY.md §4).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params

if TYPE_CHECKING:
    from gankit.spec import Spec


class ModeCoverageParams(Params):
    """Modes captured, high-quality share and reverse KL to uniform, for data with known mode centres."""

    n_samples: int = Field(2500, gt=0, description="Generated samples to classify (the protocol uses 2,500).")
    quality_std: float = Field(3.0, gt=0, description="A sample is high quality within this many std of a mode.")

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        info = getattr(spec.data.params, "info", None)
        if info is not None and info().modes is None and not info().is_image:
            yield "", f"data '{spec.data.name}' has no known mode centres; mode-coverage needs them"


@hookimpl
def register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "mode-coverage", ModeCoverageParams, "gankit.metrics.mode_coverage:build",
        "Modes captured / high-quality % / reverse KL (VEEGAN/PacGAN protocol)",
    )
