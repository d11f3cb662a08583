"""``raw``: the samples themselves as features (2-D points for precision/recall and density/coverage)."""

from __future__ import annotations

from torch import Tensor

from gankit.features import RawParams
from gankit.features.base import Extractor
from gankit.protocols import BuildEnv


class RawExtractor(Extractor):
    name = "raw"
    digest = "raw-flatten-v1"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return x.flatten(1), None


def build(params: RawParams, env: BuildEnv) -> RawExtractor:
    return RawExtractor(params.batch_size)
