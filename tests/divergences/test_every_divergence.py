"""Every registered divergence: finite losses and non-zero generator gradients on random batches (CPU), with
each critic kind it accepts; an example spec per divergence, all valid, small 2-D runs; a short training
of each spec on the ring without NaN; critic-kind mistakes caught by validation; BEGAN's k_t in checkpoints."""

from __future__ import annotations

import math
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, get_args

import pytest
import torch
from conftest import ROOT, tiny_spec
from packaging.requirements import Requirement
from torch import nn

from gankit.divergences import FDivergence
from gankit.engine.trainer import Trainer, TrainOptions
from gankit.errors import SpecError
from gankit.plugins import get_registry, reset_registry
from gankit.protocols import BuildEnv, DataInfo, LossInputs
from gankit.spec import load_spec, validate_spec

SPECS = sorted((ROOT / "specs").glob("div-*.toml"))
PLUGIN_SPECS = sorted((ROOT / "plugins").glob("*/specs/*.toml"))


# ------------------------------------------------------------------------- tiny critics of each kind
class ScoreCritic(nn.Module):
    kind = "score"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


class AutoencoderCritic(nn.Module):
    """Energy = per-sample mean absolute reconstruction error (EBGAN/BEGAN)."""

    kind = "autoencoder"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ELU(), nn.Linear(16, 1), nn.Linear(1, 16), nn.ELU(),
                                 nn.Linear(16, 2))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return (self.net(x) - x).abs().mean(dim=1)


class PairCritic(nn.Module):
    kind = "pair"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=1)).squeeze(1)


CRITICS = {"score": ScoreCritic, "autoencoder": AutoencoderCritic, "pair": PairCritic}


def _cases() -> list[Any]:
    """(qualified name, params, critic kind) for every registered divergence and every critic kind it takes;
    f-GAN once per f-divergence."""
    reset_registry()
    cases = []
    for component in sorted(get_registry().of_kind("divergence"), key=lambda c: c.qualified_name):
        variants: list[dict[str, Any]] = [{}]
        if component.name == "f-gan" and component.dist == "gankit":
            variants = [{"divergence": f} for f in get_args(FDivergence)]
            variants.append({"divergence": "js", "generator_loss": "saturating"})
        for params in variants:
            for kind in getattr(component.params_model, "critic_kinds", ("score",)):
                label = "-".join([component.qualified_name, *map(str, params.values()), kind])
                cases.append(pytest.param(component.qualified_name, params, kind, id=label))
    reset_registry()
    return cases


@pytest.mark.parametrize(("name", "params", "kind"), _cases())
def test_finite_losses_and_generator_gradients(name: str, params: dict[str, Any], kind: str) -> None:
    torch.manual_seed(0)
    component = get_registry().lookup("divergence", name)
    div = component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(2,))))
    critic = CRITICS[kind]()
    real = torch.randn(16, 2)
    fake = (torch.randn(16, 2) * 0.5 + 1).requires_grad_(True)
    b = LossInputs(step="critic", critic=critic, real=real, fake=fake.detach())
    loss_critic = div.critic_loss(b)
    loss_critic.backward()
    assert loss_critic.shape == () and torch.isfinite(loss_critic)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters()), "critic gets no gradient"
    for hook in ("after_critic_step", "clip_critic"):
        if hasattr(div, hook):
            getattr(div, hook)(b if hook == "after_critic_step" else critic)
    critic.requires_grad_(False)  # as in the engine's generator step
    # real samples reach the generator loss only if the divergence declares it reads them
    b = LossInputs(step="generator", critic=critic, real=real if div.generator_uses_real else None, fake=fake)
    loss_generator = div.generator_loss(b)
    (grad,) = torch.autograd.grad(loss_generator, fake)
    assert loss_generator.shape == () and torch.isfinite(loss_generator) and torch.isfinite(grad).all()
    assert grad.abs().sum() > 0, f"{name}: zero generator gradient"


def test_declaring_no_real_samples_is_enforced() -> None:
    b = LossInputs(step="generator", critic=torch.nn.Identity(), real=None, fake=torch.zeros(2, 2))
    with pytest.raises(RuntimeError, match="does not declare generator_uses_real"):
        _ = b.real


def test_every_divergence_is_documented() -> None:
    for component in get_registry().of_kind("divergence"):
        assert component.summary, component.name
        for field, info in component.params_model.model_fields.items():
            assert info.description, f"{component.name}.{field} has no description"


# ------------------------------------------------------------------------------------------- specs
def test_every_divergence_has_an_example_spec() -> None:
    specs = {p.stem: load_spec(p) for p in SPECS}
    builtin = {c.name for c in get_registry().of_kind("divergence") if c.dist == "gankit"}
    assert builtin <= {s.divergence.name for s in specs.values()}
    for stem, spec in specs.items():
        name = spec.divergence.name
        if name == "f-gan":
            assert stem == f"div-f-gan-{spec.divergence.params.divergence}"
        else:
            assert stem in (f"div-{name}", f"div-{name}-{spec.critic.name}"), stem
    f_divergences = {s.divergence.params.divergence for s in specs.values() if s.divergence.name == "f-gan"}
    assert f_divergences >= set(get_args(FDivergence)) - {"gan"}  # "gan" is sgan's objective, already covered


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.stem for p in SPECS])
def test_specs_are_small_2d_runs(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    assert spec.data.name in ("ring", "grid")
    assert spec.generator.name == "mlp" and spec.critic.name in ("mlp", "autoencoder", "pair")
    assert spec.run.steps <= 5000 and [m.name for m in spec.metrics] == ["mode-coverage"]


def _missing_requirement(spec_path: Path) -> str | None:
    """The first distribution a spec's ``run.requires`` names that is not installed."""
    for text in tomllib.loads(spec_path.read_text(encoding="utf-8")).get("run", {}).get("requires", []):
        name = Requirement(text).name
        try:
            distribution(name)
        except PackageNotFoundError:
            return name
    return None


@pytest.mark.parametrize("spec_path", SPECS + PLUGIN_SPECS, ids=[p.stem for p in SPECS + PLUGIN_SPECS])
def test_short_training_on_the_ring_has_no_nan(spec_path: Path) -> None:
    """30 generator steps of each spec through the engine's own critic and generator steps (no artifacts:
    the losses are under test), with every loss, logged value and parameter finite."""
    missing = _missing_requirement(spec_path)
    if missing:
        pytest.skip(f"{missing} is not installed (pip install -e {spec_path.parents[1]})")
    spec = load_spec(spec_path, ["run.device=cpu", "run.batch_size=64", "data.params.n_samples=2000"])
    trainer = Trainer(spec, TrainOptions(out_dir=Path("unused"), progress=False))
    params_before = [p.detach().clone() for p in trainer.generator.parameters()]
    logged: dict[str, float] = {}
    for _ in range(30):
        for _ in range(spec.run.critic_steps):
            loss_critic, logs_critic = trainer.critic_step()
        loss_generator, logs_generator = trainer.generator_step()
        values = {"loss_critic": loss_critic, "loss_generator": loss_generator, **logs_critic, **logs_generator}
        logged = {k: float(v) for k, v in values.items()}
        assert all(math.isfinite(v) for v in logged.values()), logged
    for net in (trainer.generator, trainer.critic):
        assert all(torch.isfinite(p).all() for p in net.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(params_before, trainer.generator.parameters(), strict=True))
    div = trainer.divergence
    if hasattr(div, "clip_critic"):
        clip = spec.divergence.params.clip
        assert all(p.abs().max() <= clip for p in trainer.critic.parameters())
    if spec.divergence.name == "began":
        assert {"k_t", "convergence"} <= set(logged) and 0 <= div.k.item() <= 1
    if spec.divergence.name in ("wgan-gp", "wgan-div"):
        assert {"gp", "div_penalty"} & set(logged)


def test_began_k_t_is_saved_and_restored(tmp_path: Path) -> None:
    spec = load_spec(ROOT / "specs" / "div-began.toml",
                     ["run.steps=20", "run.log_every=10", "run.checkpoint_every=10", "run.sample_every=20",
                      "run.device=cpu", "data.params.n_samples=1000", "metrics.0.params.n_samples=100",
                      "divergence.params.lambda_k=0.05"])
    out = tmp_path / "run"
    trainer = Trainer(spec, TrainOptions(out_dir=out, progress=False))
    trainer.fit()
    k_final = trainer.divergence.k.item()
    from gankit.engine.checkpoint import load_checkpoint

    state = load_checkpoint(out / "checkpoints" / "step-000000020.pt")
    assert state["divergence"]["k"].item() == pytest.approx(k_final) and k_final > 0
    resumed = Trainer(spec, TrainOptions(out_dir=out, resume=True, progress=False))
    assert resumed.divergence.k.item() == 0.0  # a fresh build starts from k_init ...
    resumed._maybe_resume()
    assert resumed.divergence.k.item() == pytest.approx(k_final)  # ... and the checkpoint restores k_t


# ---------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("divergence", "critic", "message"),
    [
        ("ebgan", "mlp", "divergence 'ebgan' needs a critic of kind autoencoder, but 'mlp' is a score critic"),
        ("began", "pair", "divergence 'began' needs a critic of kind autoencoder, but 'pair' is a pair critic"),
        ("wgan-gp", "autoencoder", "needs a critic of kind score, but 'autoencoder' is a autoencoder critic"),
        ("gan-qp", "autoencoder", "needs a critic of kind score or pair"),
    ],
)
def test_a_critic_of_the_wrong_kind_is_a_validation_error(divergence: str, critic: str, message: str) -> None:
    data = tiny_spec(divergence={"name": divergence, "params": {}}, critic={"name": critic, "params": {}})
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    assert message in dict(info.value.problems)["critic.name"]


def test_r1_with_a_pair_critic_is_a_validation_error() -> None:
    data = tiny_spec(critic={"name": "pair", "params": {}}, run={"regularize": {"r1": 1.0}})
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    assert "need a unary critic" in dict(info.value.problems)["run.regularize"]
    validate_spec(tiny_spec(critic={"name": "pair", "params": {}}))  # without R1 the pair critic is fine
