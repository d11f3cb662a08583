"""Output shapes and parameter counts of every network at every supported resolution (on the meta device,
so even 256×256 costs nothing), plus small real forward/backward passes on the CPU."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from torch import nn

from gankit.networks import (
    AutoencoderCriticParams,
    DCGANCriticParams,
    DCGANGeneratorParams,
    MLPCriticParams,
    MLPGeneratorParams,
    PairCriticParams,
    ResNetCriticParams,
    ResNetGeneratorParams,
)
from gankit.networks.autoencoder import AutoencoderCritic
from gankit.networks.dcgan import DCGANCritic, DCGANGenerator
from gankit.networks.mlp import MLPCritic, MLPGenerator
from gankit.networks.pair import PairCritic
from gankit.networks.resnet import ResNetCritic, ResNetGenerator
from gankit.plugins import get_registry
from gankit.protocols import BuildEnv, DataInfo

DCGAN_SIDES = [16, 28, 32, 64, 128, 256]
RESNET_SIDES = [32, 64, 128]
B = 2


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def image(channels: int, side: int, classes: int | None = None) -> DataInfo:
    return DataInfo(shape=(channels, side, side), num_classes=classes)


def scores_of(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


# ------------------------------------------------------------------------------------------ DCGAN
@pytest.mark.parametrize("side", DCGAN_SIDES)
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_every_resolution(side: int, channels: int) -> None:
    info = image(channels, side, classes=10)
    y = torch.tensor([1, 7], device="meta")
    variants_g = [DCGANGeneratorParams(), DCGANGeneratorParams(conditional="embedding", kernel=5),
                  DCGANGeneratorParams(conditional="cbn", width=16)]
    variants_d = [DCGANCriticParams(), DCGANCriticParams(norm="layer", spectral_norm=side in (28, 256), kernel=5,
                                                         head_bias=False),
                  DCGANCriticParams(norm="none", conditional="projection"), DCGANCriticParams(conditional="acgan")]
    with torch.device("meta"):
        for p in variants_g:
            g = DCGANGenerator(p, info)
            x = g(torch.randn(B, p.latent_dim), y)
            assert x.shape == (B, channels, side, side), (p, side)
            assert g.latent_dim == p.latent_dim
        for p in variants_d:
            d = DCGANCritic(p, info)
            out = d(torch.empty(B, channels, side, side), y)
            assert scores_of(out).shape == (B,)
            if p.conditional == "acgan":
                assert isinstance(out, tuple) and out[1].shape == (B, 10)
            assert d.kind == "score"


def dcgan_generator_count(side: int, c: int, w: int, k: int, latent: int) -> int:
    """Independent count: base×base start (7 for 28, else 4), channels w·2^j capped at 8w, halving to w."""
    base = 7 if side == 28 else 4
    stages = round(math.log2(side / base))
    chans = [w * min(2 ** (stages - 1 - i), 8) for i in range(stages)] + [c]
    total = latent * chans[0] * base * base  # projection, no bias (batch norm follows)
    total += sum(2 * ch for ch in chans[:-1])  # batch norm scale and shift
    total += sum(a * b * k * k for a, b in itertools.pairwise(chans))  # transposed convolutions
    return total + c  # the output layer's bias


def dcgan_critic_count(side: int, c: int, w: int, k: int, norm: str, head_bias: bool) -> int:
    base = 7 if side == 28 else 4
    stages = round(math.log2(side / base))
    chans = [c] + [w * min(2**i, 8) for i in range(stages)]
    total = sum(a * b * k * k for a, b in itertools.pairwise(chans))
    total += chans[1]  # the first convolution's bias (no normalisation follows it)
    total += sum(2 * ch for ch in chans[2:]) if norm != "none" else sum(chans[2:])  # norm affine, or conv bias
    return total + chans[-1] * base * base + int(head_bias)


def test_dcgan_counts_match_the_pytorch_dcgan_example() -> None:
    """The well-known 64×64 DCGAN (nz 100, ngf = ndf = 64) has 3,576,704 generator and 2,765,568 discriminator
    parameters. Ours adds the output bias (3) to the generator, and a bias on the first critic convolution (64)
    and on the linear head (1) that replaces the final 4×4 convolution (same 8,192 weights)."""
    info = image(3, 64)
    with torch.device("meta"):
        g = DCGANGenerator(DCGANGeneratorParams(latent_dim=100), info)
        d = DCGANCritic(DCGANCriticParams(), info)
    assert count(g) == 3_576_704 + 3
    assert count(d) == 2_765_568 + 64 + 1


@pytest.mark.parametrize("side", DCGAN_SIDES)
@pytest.mark.parametrize(("w", "k", "norm", "head_bias"), [(64, 4, "batch", True), (24, 5, "none", False),
                                                          (32, 4, "layer", True)])
def test_dcgan_counts_every_resolution(side: int, w: int, k: int, norm: str, head_bias: bool) -> None:
    info = image(3, side)
    with torch.device("meta"):
        g = DCGANGenerator(DCGANGeneratorParams(latent_dim=128, width=w, kernel=k), info)
        d = DCGANCritic(DCGANCriticParams(width=w, kernel=k, norm=norm, head_bias=head_bias,
                                          spectral_norm=side == 64), info)
    assert count(g) == dcgan_generator_count(side, 3, w, k, 128)
    assert count(d) == dcgan_critic_count(side, 3, w, k, norm, head_bias)


def test_dcgan_conditional_counts() -> None:
    info = image(1, 28, classes=10)
    with torch.device("meta"):
        plain = count(DCGANGenerator(DCGANGeneratorParams(width=32), info))
        emb = count(DCGANGenerator(DCGANGeneratorParams(width=32, conditional="embedding", embed_dim=8), info))
        cbn = count(DCGANGenerator(DCGANGeneratorParams(width=32, conditional="cbn"), info))
        d_plain = count(DCGANCritic(DCGANCriticParams(width=32), info))
        d_proj = count(DCGANCritic(DCGANCriticParams(width=32, conditional="projection"), info))
        d_ac = count(DCGANCritic(DCGANCriticParams(width=32, conditional="acgan"), info))
    features = 64 * 7 * 7
    assert emb == plain + 10 * 8 + 8 * 64 * 7 * 7  # the embedding table and its rows of the projection
    assert cbn == plain - 2 * (64 + 32) + 2 * 10 * (64 + 32)  # per-class scale and shift replace BN's
    assert d_proj == d_plain + 10 * features
    assert d_ac == d_plain + features * 10 + 10


# ----------------------------------------------------------------------------------------- ResNet
@pytest.mark.parametrize("side", RESNET_SIDES)
@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_shapes_every_resolution(side: int, channels: int) -> None:
    info = image(channels, side, classes=5)
    y = torch.tensor([0, 4], device="meta")
    with torch.device("meta"):
        for p in (ResNetGeneratorParams(width=64), ResNetGeneratorParams(width=32, conditional="cbn")):
            assert ResNetGenerator(p, info)(torch.randn(B, 128), y).shape == (B, channels, side, side)
        # spectral norm's power iterations are slow on the meta device and do not change shapes: once is enough
        critics = [ResNetCriticParams(width=64, spectral_norm=side == 32),
                   ResNetCriticParams(width=32, conditional="projection", spectral_norm=False),
                   ResNetCriticParams(width=32, conditional="acgan", spectral_norm=False)]
        for q in critics:
            out = ResNetCritic(q, info)(torch.empty(B, channels, side, side), y)
            assert scores_of(out).shape == (B,)
            if q.conditional == "acgan":
                assert out[1].shape == (B, 5)


def resnet_generator_count(side: int, c: int, w: int, latent: int) -> int:
    blocks = round(math.log2(side)) - 2  # 4×4 doubled to side
    block = 2 * w + (9 * w * w + w) + 2 * w + (9 * w * w + w) + (w * w + w)  # BN, conv, BN, conv, 1×1 shortcut
    return latent * 16 * w + 16 * w + blocks * block + 2 * w + 9 * w * c + c


def resnet_critic_count(side: int, c: int, w: int) -> int:
    downs = round(math.log2(side)) - 3  # to 8×8
    conv3 = 9 * w * w + w
    first = (9 * c * w + w) + conv3 + (c * w + w)
    down = 2 * conv3 + (w * w + w)
    return first + (downs - 1) * down + 2 * 2 * conv3 + w + 1


def test_resnet_counts_match_sngan_cifar() -> None:
    """SNGAN's CIFAR-10 ResNet (generator 256 channels, z 128; critic 128 channels): 4,276,739 and 1,053,825
    parameters (spectral norm adds buffers, not parameters)."""
    info = image(3, 32)
    with torch.device("meta"):
        assert count(ResNetGenerator(ResNetGeneratorParams(), info)) == 4_276_739
        assert count(ResNetCritic(ResNetCriticParams(), info)) == 1_053_825


@pytest.mark.parametrize("side", RESNET_SIDES)
def test_resnet_counts_every_resolution(side: int) -> None:
    info = image(1, side)
    with torch.device("meta"):
        assert count(ResNetGenerator(ResNetGeneratorParams(width=48, latent_dim=64), info)) == \
            resnet_generator_count(side, 1, 48, 64)
        assert count(ResNetCritic(ResNetCriticParams(width=40, spectral_norm=False), info)) == \
            resnet_critic_count(side, 1, 40)


# ------------------------------------------------------------------ MLP, autoencoder and pair critics
def test_mlp_counts_and_shapes() -> None:
    info = DataInfo(shape=(2,))
    g = MLPGenerator(MLPGeneratorParams(), info)  # the VEEGAN/PacGAN generator: 4×400 ReLU, z 2
    assert count(g) == (2 * 400 + 400) + 3 * (400 * 400 + 400) + (400 * 2 + 2)
    assert g(torch.randn(5, 2)).shape == (5, 2)
    d = MLPCritic(MLPCriticParams(hidden=16, depth=2), DataInfo(shape=(1, 28, 28)))
    assert count(d) == (784 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert d(torch.randn(3, 1, 28, 28)).shape == (3,)
    g_img = MLPGenerator(MLPGeneratorParams(hidden=8, depth=1), DataInfo(shape=(1, 28, 28)))
    out = g_img(torch.randn(3, 2))
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1  # tanh for images


@pytest.mark.parametrize("shape", [(2,), (1, 16, 16), (3, 28, 28), (3, 32, 32), (1, 64, 64), (3, 128, 128),
                                   (1, 256, 256)])
def test_autoencoder_and_pair_shapes(shape: tuple[int, ...]) -> None:
    info = DataInfo(shape=shape)
    with torch.device("meta"):
        ae = AutoencoderCritic(AutoencoderCriticParams(width=16, code_dim=8), info)
        x = torch.empty(B, *shape)
        assert ae.reconstruct(x).shape == x.shape and ae(x).shape == (B,) and ae.kind == "autoencoder"
        pair = PairCritic(PairCriticParams(width=16, hidden=32, spectral_norm=shape == (3, 32, 32)), info)
        assert pair(x, x).shape == (B,) and pair.kind == "pair"


def test_flat_autoencoder_and_pair_counts() -> None:
    info = DataInfo(shape=(2,))
    ae = AutoencoderCritic(AutoencoderCriticParams(width=32, code_dim=4), info)
    assert count(ae) == (2 * 32 + 32) + (32 * 4 + 4) + (4 * 32 + 32) + (32 * 2 + 2)
    pair = PairCritic(PairCriticParams(width=32, hidden=16), info)
    assert count(pair) == (2 * 32 + 32) + (64 * 16 + 16) + (16 + 1)


def test_autoencoder_energy_is_the_reconstruction_error() -> None:
    torch.manual_seed(0)
    for loss in ("l1", "l2"):
        ae = AutoencoderCritic(AutoencoderCriticParams(width=8, code_dim=4, loss=loss), image(1, 16))
        x = torch.rand(3, 1, 16, 16) * 2 - 1
        diff = ae.reconstruct(x) - x
        expected = diff.abs().mean(dim=(1, 2, 3)) if loss == "l1" else diff.square().mean(dim=(1, 2, 3))
        assert torch.allclose(ae(x), expected) and (ae(x) > 0).all()


def test_pair_critic_is_ordered_and_needs_two_batches() -> None:
    torch.manual_seed(0)
    pair = PairCritic(PairCriticParams(width=8, hidden=16), image(1, 16))
    a, b = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16)
    assert not torch.allclose(pair(a, b), pair(b, a))  # T(x_a, x_b) is not symmetric by construction
    with pytest.raises(ValueError, match="two batches"):
        pair(a, b[:2])


# --------------------------------------------------------------------------- real passes on the CPU
@pytest.mark.parametrize("side", [16, 28, 32])
def test_cpu_forward_backward(side: int) -> None:
    torch.manual_seed(0)
    info = image(3, side, classes=4)
    y = torch.tensor([0, 3])
    nets = [
        (DCGANGenerator(DCGANGeneratorParams(width=8, conditional="cbn"), info),
         DCGANCritic(DCGANCriticParams(width=8, conditional="projection", spectral_norm=True), info)),
        (DCGANGenerator(DCGANGeneratorParams(width=8, conditional="embedding", kernel=5), info),
         DCGANCritic(DCGANCriticParams(width=8, kernel=5, head_bias=False, conditional="acgan"), info)),
    ]
    if side == 32:
        nets.append((ResNetGenerator(ResNetGeneratorParams(width=16, conditional="cbn"), info),
                     ResNetCritic(ResNetCriticParams(width=16, conditional="projection"), info)))
    for g, d in nets:
        x = g(torch.randn(B, g.latent_dim), y)
        assert x.shape == (B, 3, side, side) and x.abs().max() < 1  # tanh output
        out = d(x, y)
        loss = out[0].sum() + out[1].square().sum() if isinstance(out, tuple) else out.sum()
        loss.backward()
        for name, module in (("generator", g), ("critic", d)):
            grads = [p.grad for p in module.parameters() if p.requires_grad]
            assert all(gr is not None and torch.isfinite(gr).all() for gr in grads), name


def test_registered_factories_follow_the_data() -> None:
    """Each registered network, built through the registry, produces (B, *info.shape) for its data."""
    registry = get_registry()
    cases = [
        ("generator", "mlp", DataInfo(shape=(2,))),
        ("generator", "dcgan", image(1, 28)),
        ("generator", "resnet", image(3, 32)),
        ("critic", "mlp", DataInfo(shape=(2,))),
        ("critic", "dcgan", image(3, 16)),
        ("critic", "resnet", image(1, 32)),
        ("critic", "autoencoder", DataInfo(shape=(2,))),
        ("critic", "pair", image(1, 28)),
    ]
    for kind, name, info in cases:
        component = registry.lookup(kind, name)
        with torch.device("meta"):
            net = component.build(component.params_model(), BuildEnv(data=info))
            if kind == "generator":
                assert net(torch.randn(B, net.latent_dim)).shape == (B, *info.shape), name
            else:
                x = torch.empty(B, *info.shape)
                out = net(x, x) if net.kind == "pair" else net(x)
                assert out.shape == (B,), name


def test_network_params_are_torch_free() -> None:
    code = "import sys, gankit.networks; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
