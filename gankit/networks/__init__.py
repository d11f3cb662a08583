"""Built-in generators and critics (a gankit plugin registered through the ``gankit`` entry-point group).

Params models live here, torch-free, with the cross-checks ``gankit validate`` runs against the data set
(image network on 2-D data, a resolution a network cannot produce, conditioning without labels). Each declares
what it is (:class:`gankit.protocols.GeneratorDeclarations`, :class:`gankit.protocols.CriticDeclarations`):
the critic's kind, whether it reads labels or has a class head, and whether batch norm couples its scores
(which per-sample gradient penalties cannot use; :mod:`gankit.capabilities` checks that).
The networks live in the submodules and are imported only on build.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from gankit.capabilities import critic_declarations, data_info, generator_declarations
from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import CriticDeclarations, CriticKind, GeneratorDeclarations

if TYPE_CHECKING:
    from gankit.spec import Spec


#: DCGAN-shaped networks: powers of two from 16 to 256, and MNIST's 28 (a 7×7 start)
DCGAN_SIDES = (16, 28, 32, 64, 128, 256)
#: SNGAN's ResNets
RESNET_SIDES = (32, 64, 128)


class NetworkParams(Params):
    """Shared cross-checks: which data a network accepts and whether it needs labels."""

    images_only: ClassVar[bool] = False

    #: the square image sides the network can produce or read; ``None``: any
    sides: ClassVar[tuple[int, ...] | None] = None

    def needs_labels(self) -> bool:
        return False

    def supported_sides(self) -> str | None:
        """``None`` if every image side works, else a description used in the error."""
        if self.sides is None:
            return None
        *rest, last = self.sides
        return f"{', '.join(map(str, rest))} or {last}" if rest else str(last)

    def side_ok(self, side: int) -> bool:
        return self.sides is None or side in self.sides

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        info = data_info(spec)
        if info is None:
            return
        if self.images_only and not info.is_image:
            yield "", f"this network needs image data, but data '{spec.data.name}' has samples of shape {info.shape}"
            return
        if info.is_image:
            _, h, w = info.shape
            if h != w:
                yield "", f"needs square images, got {h}×{w}"
            elif not self.side_ok(h):
                yield "", f"cannot produce {h}×{w} images (supported sides: {self.supported_sides()})"
        if self.needs_labels() and info.num_classes is None:
            yield "conditional", f"a conditional network needs labelled data, but data '{spec.data.name}' has no labels"


class MLPGeneratorParams(NetworkParams, GeneratorDeclarations):
    """A fully connected generator (the VEEGAN/PacGAN 2-D protocol uses 4×400 ReLU and a 2-d latent)."""

    latent_dim: int = Field(2, gt=0, description="Dimension of z ~ N(0, I).")
    hidden: int = Field(400, gt=0, description="Width of each hidden layer.")
    depth: int = Field(4, ge=1, description="Number of hidden layers.")
    activation: Literal["relu", "leaky_relu", "elu", "tanh"] = Field("relu", description="Hidden activation.")
    batch_norm: bool = Field(False, description="Batch norm after each hidden layer.")
    output: Literal["auto", "linear", "tanh"] = Field(
        "auto", description="Output activation; auto: tanh for images, linear for points."
    )


class MLPCriticParams(NetworkParams, CriticDeclarations):
    """A fully connected critic; ``spectral_norm`` bounds each layer's Lipschitz constant."""

    hidden: int = Field(400, gt=0, description="Width of each hidden layer.")
    depth: int = Field(4, ge=1, description="Number of hidden layers.")
    activation: Literal["relu", "leaky_relu", "elu", "tanh"] = Field("leaky_relu", description="Hidden activation.")
    norm: Literal["none", "layer"] = Field("none", description="Normalisation after each hidden layer.")
    spectral_norm: bool = Field(False, description="Spectral normalisation of every linear layer.")


class _ImageNetworkParams(NetworkParams):
    images_only: ClassVar[bool] = True


def conditional_critic_problems(conditional: str, spec: Spec) -> Iterator[tuple[str, str]]:
    """A label-aware critic is wasted (or trained on nonsense) unless the generator uses the labels too, and an
    ACGAN head learns nothing when its loss weight is 0."""
    if conditional == "none":
        return
    if not generator_declarations(spec.generator.params).needs_labels():
        yield "conditional", (
            f"a {conditional} critic needs a conditional generator, but generator '{spec.generator.name}' "
            "ignores labels (set generator.params.conditional)"
        )
    if conditional == "acgan" and spec.run.regularize.acgan == 0:
        yield "conditional", "an ACGAN head needs run.regularize.acgan > 0 (its loss weight), which is 0"


def conditional_generator_problems(conditional: str, spec: Spec) -> Iterator[tuple[str, str]]:
    """The mirror image: labels fed to the generator carry no training signal unless the critic sees them."""
    if conditional == "none":
        return
    if not critic_declarations(spec.critic.params).needs_labels():
        yield "conditional", (
            f"a conditional generator needs a label-aware critic, but critic '{spec.critic.name}' ignores labels "
            "(set critic.params.conditional to 'projection' or 'acgan')"
        )


class _ConditionalGeneratorParams(_ImageNetworkParams, GeneratorDeclarations):
    """An image generator that may take labels (subclasses narrow ``conditional`` to what they support)."""

    conditional: str = "none"

    def needs_labels(self) -> bool:
        return self.conditional != "none"

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        yield from super().check(spec)
        yield from conditional_generator_problems(self.conditional, spec)


class _ConditionalCriticParams(_ImageNetworkParams, CriticDeclarations):
    """An image critic that may take labels: a projection term or an ACGAN class head."""

    conditional: str = "none"

    def needs_labels(self) -> bool:
        return self.conditional != "none"

    def has_class_head(self) -> bool:
        return self.conditional == "acgan"

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        yield from super().check(spec)
        yield from conditional_critic_problems(self.conditional, spec)


class DCGANGeneratorParams(_ConditionalGeneratorParams):
    """DCGAN generator (Radford 2015): projection, then ×2 transposed convolutions with batch norm and ReLU,
    tanh output. Sides: powers of two from 16 to 256, and 28 (MNIST: a 7×7 start)."""

    sides: ClassVar[tuple[int, ...] | None] = DCGAN_SIDES

    latent_dim: int = Field(128, gt=0, description="Dimension of z ~ N(0, I).")
    width: int = Field(64, gt=0, description="Channels of the last hidden layer; earlier layers double it (up to 8×).")
    kernel: Literal[4, 5] = Field(4, description="Kernel size: 4 (DCGAN) or 5 (the GAN-QP reference network).")
    conditional: Literal["none", "embedding", "cbn"] = Field(
        "none", description="Label conditioning: none, a label embedding concatenated to z (cGAN; the stronger "
        "signal in a shallow DCGAN), or conditional batch norm."
    )
    embed_dim: int = Field(32, gt=0, description="Size of the label embedding (conditional = 'embedding').")


class DCGANCriticParams(_ConditionalCriticParams):
    """DCGAN critic: ×½ strided convolutions with LeakyReLU(0.2), no normalisation on the first block, a linear
    head. WGAN-GP wants ``norm = "layer"`` or ``"none"`` (a per-sample penalty is wrong with batch norm)."""

    sides: ClassVar[tuple[int, ...] | None] = DCGAN_SIDES

    width: int = Field(64, gt=0, description="Channels of the first convolution; later ones double it (up to 8×).")
    kernel: Literal[4, 5] = Field(4, description="Kernel size: 4 (DCGAN) or 5 (the GAN-QP reference network).")
    norm: Literal["batch", "layer", "none"] = Field("batch", description="Normalisation after each convolution.")
    spectral_norm: bool = Field(False, description="Spectral normalisation of every convolution and the head.")
    head_bias: bool = Field(True, description="Bias in the linear head (the GAN-QP reference has none).")
    conditional: Literal["none", "projection", "acgan"] = Field(
        "none", description="Label conditioning: a projection term (Miyato 2018) or an ACGAN class head."
    )

    def mixes_batch(self) -> tuple[str, str] | None:
        return ("norm", 'use norm = "layer" or "none"') if self.norm == "batch" else None


class ResNetGeneratorParams(_ConditionalGeneratorParams):
    """SNGAN-style ResNet generator (Miyato 2018): up-sampling residual blocks, batch norm, ReLU, tanh output."""

    sides: ClassVar[tuple[int, ...] | None] = RESNET_SIDES

    latent_dim: int = Field(128, gt=0, description="Dimension of z ~ N(0, I).")
    width: int = Field(256, gt=0, description="Channels of every residual block.")
    conditional: Literal["none", "cbn"] = Field("none", description="Conditional batch norm on the labels.")


class ResNetCriticParams(_ConditionalCriticParams):
    """SNGAN-style ResNet critic: down-sampling residual blocks, ReLU, global sum pooling, spectral norm."""

    sides: ClassVar[tuple[int, ...] | None] = RESNET_SIDES

    width: int = Field(128, gt=0, description="Channels of every residual block.")
    spectral_norm: bool = Field(True, description="Spectral normalisation of every layer (SNGAN).")
    conditional: Literal["none", "projection", "acgan"] = Field(
        "none", description="Label conditioning: a projection term or an ACGAN class head."
    )


class AutoencoderCriticParams(NetworkParams, CriticDeclarations):
    """Autoencoder critic for EBGAN/BEGAN: its score is the per-sample reconstruction error."""

    critic_kind: ClassVar[CriticKind] = "autoencoder"
    sides: ClassVar[tuple[int, ...] | None] = DCGAN_SIDES  # on image data; any sample shape otherwise
    width: int = Field(64, gt=0, description="Hidden width (MLP) or first-layer channels (convolutional).")
    code_dim: int = Field(64, gt=0, description="Size of the bottleneck code.")
    loss: Literal["l1", "l2"] = Field("l1", description="Reconstruction error: mean |x − AE(x)| or mean squared.")


class PairCriticParams(NetworkParams, CriticDeclarations):
    """Binary critic T(x_a, x_b) for GAN-QP's general form: a shared encoder, then an MLP on both codes."""

    critic_kind: ClassVar[CriticKind] = "pair"
    sides: ClassVar[tuple[int, ...] | None] = DCGAN_SIDES  # on image data; any sample shape otherwise
    width: int = Field(64, gt=0, description="Hidden width (MLP) or first-layer channels (convolutional).")
    hidden: int = Field(256, gt=0, description="Width of the head on the concatenated codes.")
    spectral_norm: bool = Field(False, description="Spectral normalisation of every layer.")


@hookimpl
def register_generators(register) -> None:  # type: ignore[no-untyped-def]
    m = "gankit.networks"
    register("mlp", MLPGeneratorParams, f"{m}.mlp:build_generator", "Fully connected generator")
    register("dcgan", DCGANGeneratorParams, f"{m}.dcgan:build_generator", "DCGAN generator (Radford 2015)")
    register("resnet", ResNetGeneratorParams, f"{m}.resnet:build_generator", "SNGAN ResNet generator (Miyato 2018)")


@hookimpl
def register_critics(register) -> None:  # type: ignore[no-untyped-def]
    m = "gankit.networks"
    register("mlp", MLPCriticParams, f"{m}.mlp:build_critic", "Fully connected critic")
    register("dcgan", DCGANCriticParams, f"{m}.dcgan:build_critic", "DCGAN critic (Radford 2015)")
    register("resnet", ResNetCriticParams, f"{m}.resnet:build_critic", "SNGAN ResNet critic (Miyato 2018)")
    register("autoencoder", AutoencoderCriticParams, f"{m}.autoencoder:build",
             "Autoencoder critic for EBGAN/BEGAN (score = reconstruction error)")
    register("pair", PairCriticParams, f"{m}.pair:build", "Binary critic T(x_a, x_b) for GAN-QP's general form")
