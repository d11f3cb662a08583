"""Built-in divergences (a gankit plugin registered through the ``gankit`` entry-point group).

Params models live here, torch-free; each family of losses lives in its own submodule (formulas: THEORY.md §2).
Every params model derives from :class:`DivergenceParams` and declares what the loss needs
(:class:`gankit.protocols.DivergenceDeclarations`: accepted critic kinds, input-gradient penalties), so
``gankit validate`` rejects e.g. EBGAN with a score critic, or WGAN-GP with a batch-norm critic, before anything
is built (:mod:`gankit.capabilities` does the checking).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import CriticKind, DivergenceDeclarations


class DivergenceParams(Params, DivergenceDeclarations):
    """Base of every divergence's params (built-in, and plugins that want the same checks). The defaults
    declare a loss on a unary score critic without gradient penalties; override ``critic_kinds`` and
    ``input_gradients`` (see :class:`gankit.protocols.DivergenceDeclarations`) to declare otherwise.
    """


class NoDivergenceParams(DivergenceParams):
    """For divergences without parameters (SGAN, hinge, RSGAN, RaSGAN): only the score-critic check."""


class GANQPParams(DivergenceParams):
    """GAN-QP (Su 2018): critic loss E[−Δ + Δ²/(2λ d)], generator loss E[Δ]; d per real/fake pair.

    A score critic gives ``Δ = T(x_r) − T(x_f)``, a pair critic ``Δ = T(x_r, x_f) − T(x_f, x_r)``.
    """

    critic_kinds: ClassVar[tuple[CriticKind, ...]] = ("score", "pair")

    lam: float = Field(10.0, gt=0, description="λ: scales the quadratic potential (reference 10).")
    distance: Literal["l1", "l2"] = Field(
        "l1", description="d(x_r, x_f) per pair: l1 = mean |diff|; l2 = per-pixel root-mean-square "
        "difference sqrt(mean diff²), as in the GAN-QP author's code (not the Euclidean norm)."
    )
    eps: float = Field(1e-8, gt=0, description="Added to d so identical pairs do not divide by zero.")


class LSGANParams(DivergenceParams):
    """Least squares GAN (Mao 2017): targets a (fake), b (real) for the critic and c for the generator."""

    a: float = Field(0.0, description="Critic target for fake samples.")
    b: float = Field(1.0, description="Critic target for real samples.")
    c: float = Field(1.0, description="Generator's target for fake samples.")


class WGANParams(DivergenceParams):
    """WGAN (Arjovsky 2017): Lipschitz constraint by clipping every critic weight to [−clip, clip]."""

    clip: float = Field(0.01, gt=0, description="Weight clipping bound c.")


class WGANGPParams(DivergenceParams):
    """WGAN-GP (Gulrajani 2017): two-sided penalty λ E(‖∇T(x̂)‖₂ − 1)² at per-sample interpolates."""

    input_gradients: ClassVar[bool] = True

    lam: float = Field(10.0, gt=0, description="Gradient penalty weight λ.")


class WGANDivParams(DivergenceParams):
    """WGAN-div (Wu 2018): penalty k E‖∇T(x̂)‖^p at per-sample interpolates."""

    input_gradients: ClassVar[bool] = True

    k: float = Field(2.0, gt=0, description="Penalty weight k.")
    p: float = Field(6.0, gt=1, description="Power p of the gradient norm (p > 1, as the paper requires).")


FDivergence = Literal["kl", "reverse-kl", "pearson", "neyman", "hellinger", "js", "tv", "gan"]


class FGANParams(DivergenceParams):
    """f-GAN (Nowozin 2016): the variational bound of an f-divergence with output activation g_f."""

    divergence: FDivergence = Field(
        "js",
        description="Which f-divergence: kl, reverse-kl, pearson (χ²), neyman (χ²), hellinger (squared), "
        "js (Jensen-Shannon), tv (total variation) or gan (the GAN objective, 2·JS − log 4).",
    )
    generator_loss: Literal["saturating", "non-saturating"] = Field(
        "non-saturating", description="saturating: −E_q f*(g_f(V)); non-saturating: −E_q g_f(V)."
    )


class EBGANParams(DivergenceParams):
    """EBGAN (Zhao 2017): L_D = D(x) + max(0, m − D(G(z))), L_G = D(G(z)); D a reconstruction error."""

    critic_kinds: ClassVar[tuple[CriticKind, ...]] = ("autoencoder",)

    margin: float = Field(1.0, gt=0, description="Margin m on the energy of fake samples.")


class BEGANParams(DivergenceParams):
    """BEGAN (Berthelot 2017): L_D = L(x) − k_t L(G(z)), L_G = L(G(z)), k_t driven towards γ-equilibrium."""

    critic_kinds: ClassVar[tuple[CriticKind, ...]] = ("autoencoder",)

    gamma: float = Field(0.5, gt=0, le=1, description="Diversity ratio γ = E L(G(z)) / E L(x).")
    lambda_k: float = Field(0.001, gt=0, description="Learning rate λ_k of the equilibrium term k_t.")
    k_init: float = Field(0.0, ge=0, le=1, description="Initial k_t.")


@hookimpl
def register_divergences(register) -> None:  # type: ignore[no-untyped-def]
    m = "gankit.divergences"
    register("sgan", NoDivergenceParams, f"{m}.sgan:Minimax", "SGAN, minimax / saturating (Goodfellow 2014)")
    register("sgan-ns", NoDivergenceParams, f"{m}.sgan:NonSaturating", "SGAN, non-saturating (Goodfellow 2014)")
    register("lsgan", LSGANParams, f"{m}.lsgan:LSGAN", "Least squares GAN (Mao 2017)")
    register("wgan", WGANParams, f"{m}.wgan:WGAN", "WGAN with weight clipping (Arjovsky 2017)")
    register("wgan-gp", WGANGPParams, f"{m}.wgan:WGANGP", "WGAN with gradient penalty (Gulrajani 2017)")
    register("wgan-div", WGANDivParams, f"{m}.wgan:WGANDiv", "Wasserstein divergence (Wu 2018)")
    register("hinge", NoDivergenceParams, f"{m}.hinge:Hinge", "Hinge loss (Lim & Ye 2017; Miyato 2018)")
    register("rsgan", NoDivergenceParams, f"{m}.relativistic:RSGAN",
             "Relativistic standard GAN (Jolicoeur-Martineau 2018)")
    register("rasgan", NoDivergenceParams, f"{m}.relativistic:RaSGAN",
             "Relativistic average SGAN (Jolicoeur-Martineau 2018)")
    register("gan-qp", GANQPParams, f"{m}.ganqp:GANQP", "GAN-QP quadratic potential, unary or pair critic (Su 2018)")
    register("f-gan", FGANParams, f"{m}.fgan:FGAN", "f-GAN: KL, reverse KL, χ², Hellinger, JS, TV (Nowozin 2016)")
    register("ebgan", EBGANParams, f"{m}.energy:EBGAN", "Energy-based GAN, autoencoder critic (Zhao 2017)")
    register("began", BEGANParams, f"{m}.energy:BEGAN", "Boundary equilibrium GAN, autoencoder critic (Berthelot 2017)")
