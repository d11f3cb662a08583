"""Built-in augmentations (the ``augment`` component kind), registered like any third-party plugin.

Params models live here, torch-free, with the cross-check ``gankit validate`` runs against the data set: every
built-in augmentation works on images only, so 2-D point data is rejected before anything is built. The
augmentations themselves live in :mod:`gankit.augment.diffaugment` and :mod:`gankit.augment.ada` (formulas:
THEORY.md §6) and are imported only on build.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from gankit.hookspecs import hookimpl
from gankit.networks import data_info
from gankit.params import Params

if TYPE_CHECKING:
    from gankit.spec import Spec

DiffAugmentPolicy = Literal["color", "translation", "cutout"]


class ImageAugmentParams(Params):
    """Shared check: image augmentations need ``(C, H, W)`` samples (known from the data's params)."""

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        info = data_info(spec)
        if info is not None and not info.is_image:
            yield "", (
                f"augment '{spec.augment.name if spec.augment else '?'}' works on images only, but data "
                f"'{spec.data.name}' has samples of shape {info.shape}; remove the [augment] table"
            )


class DiffAugmentParams(ImageAugmentParams):
    """DiffAugment (Zhao et al. 2020): every listed policy is applied to every sample, with per-sample draws."""

    policy: list[DiffAugmentPolicy] = Field(
        default_factory=lambda: ["color", "translation", "cutout"],
        description="Policies, applied in this order: color (brightness, saturation, contrast), translation "
        "(integer shift, zero padding), cutout (a zeroed square).",
    )
    translation: float = Field(
        0.125, gt=0, lt=1, description="Largest shift as a fraction of the image side (paper: 1/8)."
    )
    cutout: float = Field(0.5, gt=0, le=1, description="Side of the cutout square as a fraction of the image side.")

    @field_validator("policy")
    @classmethod
    def _distinct_and_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise PydanticCustomError(
                "policy", "must name at least one of color, translation, cutout (no augmentation: remove [augment])"
            )
        repeated = sorted({p for p in value if value.count(p) > 1})
        if repeated:
            raise PydanticCustomError("policy", "{names} listed more than once", {"names": ", ".join(repeated)})
        return value


class ADAParams(ImageAugmentParams):
    """ADA (Karras et al. 2020): each transform applied with an adaptive probability p, tuned from r_t."""

    target: float = Field(0.6, gt=0, lt=1, description="Target of the overfitting heuristic r_t (paper: 0.6).")
    interval: int = Field(4, gt=0, description="Critic steps between adjustments of p (paper: 4).")
    speed_kimg: float = Field(
        500.0, gt=0, description="Thousands of real images over which p can move from 0 to 1 (paper: 500)."
    )
    p_init: float = Field(0.0, ge=0, le=1, description="Initial p.")
    p_max: float = Field(
        1.0, gt=0, le=1, description="Upper bound for p (the paper's leaks appear above about 0.8; 1 = no cap)."
    )
    fixed: bool = Field(False, description="Keep p at p_init (no adaptation): a fixed-probability pipeline.")
    blit: bool = Field(True, description="Pixel blitting group: x-flip, 90° rotations, integer translation.")
    color: bool = Field(True, description="Colour group: brightness, contrast, luma flip, hue rotation, saturation.")
    translation: float = Field(0.125, gt=0, lt=1, description="Largest integer translation, fraction of the side.")
    statistic: Literal["auto", "sign", "centred"] = Field(
        "auto",
        description="r_t: sign = E sign(T(x_r)) (scores are logits); centred = E sign(T(x_r) − mean T(x_f)), "
        "shift-invariant, for potentials and energies; auto = from the divergence's declaration.",
    )

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        yield from super().check(spec)
        info = data_info(spec)
        if info is not None and info.is_image:
            channels, height, width = info.shape
            if self.color and channels not in (1, 3):
                yield "color", f"the colour group needs 1 or 3 channels, data '{spec.data.name}' has {channels}"
            if self.blit and height != width:
                yield "blit", f"90° rotations need square images, data '{spec.data.name}' is {height}×{width}"
        if not (self.blit or self.color):
            yield "", "enable at least one group (blit or color); to augment nothing, remove the [augment] table"
        if self.p_init > self.p_max:
            yield "p_init", f"must be <= p_max ({self.p_max})"


@hookimpl
def register_augments(register) -> None:  # type: ignore[no-untyped-def]
    m = "gankit.augment"
    register("diffaugment", DiffAugmentParams, f"{m}.diffaugment:DiffAugment",
             "DiffAugment: color, translation, cutout on real and fake (Zhao 2020)")
    register("ada", ADAParams, f"{m}.ada:ADA",
             "Adaptive augmentation: pixel blitting and colour with adaptive p (Karras 2020)")
