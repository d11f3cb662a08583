"""Initialisation as the papers do it (DCGAN: N(0, 0.02); SNGAN: Glorot-uniform with gain √2 in residual
paths), spectral normalisation, and label conditioning that actually reaches the outputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.networks import (
    AutoencoderCriticParams,
    DCGANCriticParams,
    DCGANGeneratorParams,
    PairCriticParams,
    ResNetCriticParams,
    ResNetGeneratorParams,
)
from gankit.networks.autoencoder import AutoencoderCritic
from gankit.networks.dcgan import DCGANCritic, DCGANGenerator
from gankit.networks.layers import ConditionalBatchNorm2d, weight_of
from gankit.networks.pair import PairCritic
from gankit.networks.resnet import CriticBlock, GeneratorBlock, ResNetCritic, ResNetGenerator
from gankit.protocols import DataInfo

INFO = DataInfo(shape=(3, 32, 32), num_classes=10)


def _convs_and_linears(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]


@torch.no_grad()
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_dcgan_init(spectral_norm: bool) -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(DCGANGeneratorParams(conditional="embedding"), INFO)
    d = DCGANCritic(DCGANCriticParams(spectral_norm=spectral_norm, conditional="projection"), INFO)
    for net in (g, d):
        for m in _convs_and_linears(net):
            w = weight_of(m)
            if w.numel() > 5000:  # enough draws to pin the moments down
                assert abs(float(w.mean())) < 0.002 and float(w.std()) == pytest.approx(0.02, rel=0.1), m
            if m.bias is not None:
                assert (m.bias == 0).all()
        bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        assert bns or net is d
        for bn in bns:
            assert float(bn.weight.std()) == pytest.approx(0.02, rel=0.5) and abs(float(bn.weight.mean()) - 1) < 0.01
            assert (bn.bias == 0).all()
    assert float(g.embed.weight.std()) == pytest.approx(0.02, rel=0.2)
    assert float(weight_of(d.projection).std()) == pytest.approx(0.02, rel=0.1)


def test_conditional_batch_norm_starts_as_plain_batch_norm() -> None:
    g = DCGANGenerator(DCGANGeneratorParams(conditional="cbn"), INFO)
    cbns = [m for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbns) == 3
    for m in cbns:
        assert (m.gain.weight == 1).all() and (m.bias.weight == 0).all()


def _glorot_bound(weight: torch.Tensor, gain: float) -> float:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return gain * math.sqrt(6 / (fan_in + fan_out))


def _assert_glorot(weight: torch.Tensor, gain: float) -> None:
    bound = _glorot_bound(weight, gain)
    assert float(weight.abs().max()) <= bound + 1e-7
    if weight.numel() > 2000:  # a uniform on [−b, b] reaches close to b and has std b/√3
        assert float(weight.abs().max()) > 0.97 * bound
        assert float(weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.05)


@torch.no_grad()
def test_sngan_init() -> None:
    torch.manual_seed(0)
    g = ResNetGenerator(ResNetGeneratorParams(width=64, conditional="cbn"), INFO)
    d = ResNetCritic(ResNetCriticParams(width=64, conditional="projection"), INFO)
    residual = set()
    for block in [m for m in (*g.modules(), *d.modules()) if isinstance(m, GeneratorBlock | CriticBlock)]:
        for conv in (block.conv1, block.conv2):
            _assert_glorot(weight_of(conv), math.sqrt(2))
            residual.add(conv)
        if block.shortcut is not None:
            _assert_glorot(weight_of(block.shortcut), 1.0)
    assert len(residual) == 2 * (3 + 4)
    for m in (g.project, g.out, d.head):
        _assert_glorot(weight_of(m), 1.0)
    _assert_glorot(weight_of(d.projection), 1.0)
    for net in (g, d):
        for m in _convs_and_linears(net):
            if m.bias is not None:
                assert (m.bias == 0).all()
    for m in g.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            assert (m.gain.weight == 1).all() and (m.bias.weight == 0).all()


def _top_singular_value(m: nn.Module) -> float:
    w = m.weight.detach()  # through the parametrization: the normalised weight
    if isinstance(m, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    return float(torch.linalg.matrix_norm(w.flatten(1), ord=2))


@pytest.mark.parametrize("which", ["dcgan", "resnet", "pair"])
def test_spectral_norm_bounds_every_layer(which: str) -> None:
    torch.manual_seed(0)
    info = DataInfo(shape=(1, 16 if which != "resnet" else 32, 16 if which != "resnet" else 32))
    critic = {
        "dcgan": lambda: DCGANCritic(DCGANCriticParams(width=8, spectral_norm=True, norm="none"), info),
        "resnet": lambda: ResNetCritic(ResNetCriticParams(width=8), info),
        "pair": lambda: PairCritic(PairCriticParams(width=8, hidden=16, spectral_norm=True), info),
    }[which]()
    layers = _convs_and_linears(critic)
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    x = torch.randn(4, *info.shape)
    for _ in range(30):  # power iteration runs once per training-mode forward
        critic(x, x) if which == "pair" else critic(x)
    critic.eval()
    for m in layers:
        assert _top_singular_value(m) == pytest.approx(1.0, abs=0.05), m


def test_spectral_norm_covers_the_projection_embedding() -> None:
    dcgan = DCGANCritic(DCGANCriticParams(spectral_norm=True, conditional="projection"), INFO)
    resnet = ResNetCritic(ResNetCriticParams(width=8, conditional="projection"), INFO)
    assert hasattr(dcgan.projection, "parametrizations") and hasattr(resnet.projection, "parametrizations")


def test_no_spectral_norm_when_off() -> None:
    d = DCGANCritic(DCGANCriticParams(spectral_norm=False), INFO)
    assert not any(hasattr(m, "parametrizations") for m in d.modules())


def test_conditioning_reaches_the_output() -> None:
    torch.manual_seed(0)
    z = torch.randn(1, 128).repeat(2, 1)
    y = torch.tensor([2, 5])
    for g in (DCGANGenerator(DCGANGeneratorParams(conditional="cbn", width=16), INFO),
              DCGANGenerator(DCGANGeneratorParams(conditional="embedding", width=16), INFO),
              ResNetGenerator(ResNetGeneratorParams(conditional="cbn", width=16), INFO)):
        for m in g.modules():  # move the class tables off their identity start, as training would
            if isinstance(m, ConditionalBatchNorm2d):
                nn.init.normal_(m.gain.weight, 1.0, 0.3)
                nn.init.normal_(m.bias.weight, 0.0, 0.3)
        g.eval()
        out = g(z, y)
        assert not torch.allclose(out[0], out[1]), type(g).__name__  # same z, different labels
        assert torch.allclose(g(z, y.flip(0))[1], out[0], atol=1e-6)  # the label alone decides
        with pytest.raises(ValueError, match="needs labels"):
            g(z)
    x = torch.randn(1, 3, 32, 32).repeat(2, 1, 1, 1)
    for d in (DCGANCritic(DCGANCriticParams(conditional="projection", width=16), INFO),
              ResNetCritic(ResNetCriticParams(conditional="projection", width=16), INFO)):
        d.eval()
        scores = d(x, y)
        assert scores.shape == (2,) and not torch.allclose(scores[0], scores[1])
        with pytest.raises(ValueError, match="needs labels"):
            d(x)
    acgan = DCGANCritic(DCGANCriticParams(conditional="acgan", width=16), INFO)
    scores, logits = acgan(x, y)
    assert scores.shape == (2,) and logits.shape == (2, 10)
    assert torch.allclose(acgan(x)[1], logits)  # the class head does not read the labels


def test_unconditional_networks_ignore_labels() -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(DCGANGeneratorParams(width=16), INFO).eval()
    z = torch.randn(2, 128)
    assert torch.equal(g(z, torch.tensor([1, 2])), g(z))
    ae = AutoencoderCritic(AutoencoderCriticParams(width=8), INFO)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(ae(x, torch.tensor([1, 2])), ae(x))
