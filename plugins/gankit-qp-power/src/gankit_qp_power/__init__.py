"""gankit-qp-power: GAN-QP with an even-power potential, a third-party gankit plugin.

This module is what the ``gankit`` entry point names. gankit imports it to list plugins and validate specs,
so it holds only the torch-free params model and the registration hook; the loss lives in
:mod:`gankit_qp_power.loss` and is imported when a spec using it is built.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from gankit.divergences import DivergenceParams
from gankit.hookspecs import hookimpl
from gankit.protocols import CriticKind
from pydantic import Field, field_validator

__version__ = "0.1.0"


class QPPowerParams(DivergenceParams):
    """QP divergence with an even power k: critic penalty |Δ|^k / (k λ^(k−1) d^(k−1)); k = 2 is GAN-QP.

    Deriving from :class:`gankit.divergences.DivergenceParams` declares what the loss needs
    (:class:`gankit.protocols.DivergenceDeclarations`), which ``gankit validate`` checks against the critic:
    like GAN-QP this divergence takes a unary (score) or a binary (pair) critic and no gradient penalty.
    """

    critic_kinds: ClassVar[tuple[CriticKind, ...]] = ("score", "pair")

    power: int = Field(4, ge=2, description="Even power k of the potential (2 reproduces GAN-QP).")
    lam: float = Field(10.0, gt=0, description="λ: scales the potential (GAN-QP's reference value is 10).")
    distance: Literal["l1", "l2"] = Field(
        "l1", description="d(x_r, x_f) per real/fake pair: l1 = mean |diff|; l2 = per-pixel root-mean-square "
        "difference sqrt(mean diff²), as in the GAN-QP author's code (not the Euclidean norm)."
    )
    eps: float = Field(1e-8, gt=0, description="Added to d so identical pairs do not divide by zero.")

    @field_validator("power")
    @classmethod
    def _even(cls, power: int) -> int:
        # an odd power would reward negative Δ without bound: the critic's objective has no maximum
        if power % 2:
            raise ValueError(f"must be even (2, 4, 6, ...), got {power}")
        return power


@hookimpl
def register_divergences(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "qp-power",
        QPPowerParams,
        "gankit_qp_power.loss:QPPower",
        "GAN-QP with an even-power potential |Δ|^k (k = 2: GAN-QP)",
    )
