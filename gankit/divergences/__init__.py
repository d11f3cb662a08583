"""Built-in divergences (a gankit plugin registered through the ``gankit`` entry-point group).

Params models live here, torch-free; each loss lives in its own submodule (formulas: THEORY.md §2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import NoParams, Params


class GANQPParams(Params):
    """GAN-QP (Su 2018): critic loss E[−Δ + Δ²/(2λ d)], generator loss E[Δ]; d per real/fake pair."""

    lam: float = Field(10.0, gt=0, description="λ: scales the quadratic potential (reference 10).")
    distance: Literal["l1", "l2"] = Field(
        "l1", description="d(x_r, x_f) per pair: l1 = mean |diff|, l2 = sqrt(mean diff²)."
    )
    eps: float = Field(1e-8, gt=0, description="Added to d so identical pairs do not divide by zero.")


@hookimpl
def register_divergences(register) -> None:  # type: ignore[no-untyped-def]
    register("sgan-ns", NoParams, "gankit.divergences.sgan:NonSaturating", "SGAN, non-saturating (Goodfellow 2014)")
    register("gan-qp", GANQPParams, "gankit.divergences.ganqp:GANQP", "GAN-QP quadratic potential (Su 2018)")
