"""Every registered divergence: finite losses and non-zero generator gradients on random batches, and a
short training on the 8-Gaussian ring (its example spec) without NaN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from gankit.engine.trainer import Trainer, TrainOptions
from gankit.plugins import get_registry, reset_registry
from gankit.protocols import BuildEnv, DataInfo, LossInputs
from gankit.spec import load_spec

SPECS = sorted((ROOT / "specs").glob("div-*.toml"))


def _names() -> list[str]:
    reset_registry()
    names = sorted(c.qualified_name for c in get_registry().of_kind("divergence"))
    reset_registry()
    return names


def _critic_for(div_params) -> torch.nn.Module:
    from gankit.networks import AutoencoderCriticParams, MLPCriticParams
    from gankit.networks.autoencoder import AutoencoderCritic
    from gankit.networks.mlp import MLPCritic

    info = DataInfo(shape=(2,))
    if "autoencoder" in getattr(div_params, "critic_kinds", ("score",)):
        return AutoencoderCritic(AutoencoderCriticParams(width=32, code_dim=4), info)
    return MLPCritic(MLPCriticParams(hidden=32, depth=2), info)


@pytest.mark.parametrize("name", _names())
def test_finite_losses_and_generator_gradients(name):
    torch.manual_seed(0)
    component = get_registry().lookup("divergence", name)
    params = component.params_model()
    div = component.build(params, BuildEnv(data=DataInfo(shape=(2,))))
    critic = _critic_for(params)
    real = torch.randn(16, 2)
    fake = (torch.randn(16, 2) * 0.5 + 1).requires_grad_(True)
    b = LossInputs(step="critic", critic=critic, real=real, fake=fake.detach())
    loss_d = div.critic_loss(b)
    loss_d.backward()
    assert torch.isfinite(loss_d)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
    real_g = real if div.generator_uses_real else None
    b = LossInputs(step="generator", critic=critic, real=real_g, fake=fake)
    loss_g = div.generator_loss(b)
    (grad,) = torch.autograd.grad(loss_g, fake)
    assert torch.isfinite(loss_g) and torch.isfinite(grad).all()
    assert grad.abs().sum() > 0, f"{name}: zero generator gradient"


def test_declaring_no_real_samples_is_enforced():
    b = LossInputs(step="generator", critic=torch.nn.Identity(), real=None, fake=torch.zeros(2, 2))
    with pytest.raises(RuntimeError, match="does not declare generator_uses_real"):
        _ = b.real


def test_every_divergence_has_an_example_spec():
    covered = {load_spec(p).divergence.name for p in SPECS}
    builtin = {c.name for c in get_registry().of_kind("divergence") if c.dist == "gankit"}
    assert builtin <= covered


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.stem for p in SPECS])
def test_short_training_on_the_ring_has_no_nan(spec_path: Path, tmp_path):
    spec = load_spec(spec_path, ["run.steps=40", "run.log_every=20", "run.sample_every=40",
                                 "run.checkpoint_every=40", "run.device=cpu", "data.params.n_samples=2000",
                                 "metrics.0.params.n_samples=200"])
    out = tmp_path / "run"
    result = Trainer(spec, TrainOptions(out_dir=out, progress=False)).fit()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r[k] for r in rows for k in ("loss_d", "loss_g") if k in r]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(v)) for v in losses)
    assert result.step == 40


def test_began_k_t_is_saved_and_restored(tmp_path):
    spec = load_spec(ROOT / "specs" / "div-began.toml",
                     ["run.steps=20", "run.log_every=10", "run.checkpoint_every=10", "run.device=cpu",
                      "data.params.n_samples=1000", "divergence.params.lambda_k=0.05"])
    out = tmp_path / "run"
    trainer = Trainer(spec, TrainOptions(out_dir=out, progress=False))
    trainer.fit()
    k_final = trainer.divergence.k.item()
    from gankit.engine.checkpoint import load_checkpoint

    state = load_checkpoint(out / "checkpoints" / "step-000000020.pt")
    assert state["divergence"]["k"].item() == pytest.approx(k_final) and k_final > 0
    resumed = Trainer(spec, TrainOptions(out_dir=out, resume=True, progress=False))
    resumed._maybe_resume()
    assert resumed.divergence.k.item() == pytest.approx(k_final)
