"""The files ``gankit new-plugin`` writes, as :class:`string.Template` strings (``$name`` placeholders).

Every kind gets the same package shape as ``plugins/gankit-qp-power``: a ``pyproject.toml`` declaring the
``gankit`` entry point, a torch-free plugin module with the params model and the registration hook, the
implementation in a submodule imported only on build, tests that pass out of the box (from the checkout or
installed) and an example spec. Only the plugin module, the implementation and the tests differ per kind.

Placeholders: ``$dist`` (distribution), ``$module`` (import name), ``$name`` (component name), ``$Class``
(class-name stem), ``$kind`` (component kind), ``$summary``, ``$gankit_req`` (e.g. ``gankit>=0.1``).
"""

from __future__ import annotations

from string import Template

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["$gankit_req"]

[project.optional-dependencies]
test = ["pytest>=8"]

# what makes this a gankit plugin: a module in the `gankit` entry-point group
[project.entry-points.gankit]
$module = "$module"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# the tests also run from a checkout that is not installed
pythonpath = ["src"]

[tool.ruff]
line-length = 120

[tool.ruff.lint]
select = ["E", "F", "W", "I", "UP", "B"]

[tool.ruff.lint.isort]
known-first-party = ["$module"]
''')

README = Template('''\
# $dist

A gankit plugin adding the $kind `$name`: $summary.

```bash
pytest                              # this package's tests: they pass before and after installing
pip install -e .                    # registers the entry point ...
gankit list-plugins --kind $kind    # ... so gankit lists '$name' from $dist
gankit train specs/example.toml
```

Layout (the same shape as gankit's example plugin `plugins/gankit-qp-power`):

- `src/$module/__init__.py` — the module the `gankit` entry point names: the params model and the
  registration hook. gankit imports it to list plugins and validate specs, so it must not import torch.
- `src/$module/$impl.py` — the implementation, imported only when a spec using it is built.
- `tests/` — what the $kind computes, registration, validation messages and a short training run.
- `specs/example.toml` — a spec using it; `run.requires` makes validation say what to install.

The contracts are in `gankit/protocols.py` (what a $kind must be) and `gankit/hookspecs.py` (the hooks).
''')

GITIGNORE = "__pycache__/\n*.egg-info/\nbuild/\ndist/\nruns/\n.gankit-cache/\n"

CONFTEST = Template('''\
"""Fixtures: the gankit registry with this plugin in it, installed or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gankit.plugins import Registry, load_registry, reset_registry

DIST = "$dist"
KIND = "$kind"


def installed(registry: Registry) -> bool:
    """Whether this package's entry point is visible (it is after ``pip install``)."""
    return any(c.dist == DIST for c in registry.of_kind(KIND))


@pytest.fixture
def registry() -> Iterator[Registry]:
    """The installed plugins, plus this package's module loaded directly when it is not installed, so the
    tests pass from a plain checkout too. It becomes gankit's process-wide registry for the test."""
    import $module

    reg = load_registry()
    if not installed(reg):
        reg = load_registry(extra=[($module, DIST, $module.__version__)])
    reset_registry(reg)
    yield reg
    reset_registry()
''')

#: the example spec; ``$slot_tables`` holds the tables that differ per kind
SPEC = Template('''\
# An example run using '$name' from $dist, on 2-D data (about a minute on a CPU):
#   gankit train specs/example.toml

[run]
steps = 1000
batch_size = 100
log_every = 100
sample_every = 500
checkpoint_every = 500
# validation says clearly what to install when the plugin is missing
requires = ["$dist>=0.1"]

[run.optimizer.generator]
name = "adam"
lr = 0.001
betas = [0.5, 0.999]

[run.optimizer.critic]
name = "adam"
lr = 0.001
betas = [0.5, 0.999]

$slot_tables''')

#: the built-in components the example spec uses in the slots the plugin does not fill
SPEC_TABLES = {
    "data": '[data]\nname = "ring"\nparams = { n_samples = 20000 }\n',
    "generator": '[generator]\nname = "mlp"\nparams = { latent_dim = 2, hidden = 128, depth = 3 }\n',
    "critic": '[critic]\nname = "mlp"\nparams = { hidden = 128, depth = 3 }\n',
    "divergence": '[divergence]\nname = "sgan-ns"\n',
    "metric": '[[metrics]]\nname = "mode-coverage"\nparams = { n_samples = 1000 }\n',
}

#: the plugin's own table in its example spec
PLUGIN_TABLES = {
    "data": Template('[data]\nname = "$name"\nparams = { centre = [0.0, 0.0], std = 0.1 }\n'),
    "generator": Template('[generator]\nname = "$name"\nparams = { latent_dim = 2, hidden = 128 }\n'),
    "critic": Template('[critic]\nname = "$name"\nparams = { hidden = 128 }\n'),
    "divergence": Template('[divergence]\nname = "$name"\nparams = { margin = 1.0 }\n'),
    "metric": Template('[[metrics]]\nname = "$name"\nparams = { n_samples = 500 }\n'),
}

#: a part of every kind's test module: the example spec trains for a few steps without NaN
TRAIN_TEST = Template('''\


def test_example_spec_trains_without_nan(registry: Registry, tmp_path: Path) -> None:
    from gankit.engine.trainer import Trainer, TrainOptions

    overrides = ["run.steps=20", "run.log_every=10", "run.sample_every=20", "run.checkpoint_every=20",
                 "run.device=cpu"]
    try:
        distribution(DIST)
    except PackageNotFoundError:  # run.requires names this package, which a plain checkout has not installed
        overrides.append("run.requires=[]")
    spec = load_spec(SPEC, overrides)
    result = Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    assert result.step == 20
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r[k] for r in rows if "loss_d" in r for k in ("loss_d", "loss_g")]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
$extra_train_checks''')

TEST_HEADER = Template('''\
"""Tests for the $kind '$name':
$what
"""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import torch
from gankit.errors import SpecError
from gankit.plugins import Registry
from gankit.protocols import $protocol_imports
from gankit.spec import load_spec, validate_spec
$nn_import
SPEC = Path(__file__).resolve().parents[1] / "specs" / "example.toml"
DIST, KIND = "$dist", "$kind"


def spec_data(**tables: dict) -> dict:
    """The example spec as a dict, with some tables replaced."""
    import tomllib

    data = tomllib.loads(SPEC.read_text(encoding="utf-8"))
    data["run"]["requires"] = []
    data.update(tables)
    return data


def test_registered_with_documented_params(registry: Registry) -> None:
    component = registry.lookup(KIND, "$name")
    assert component.dist == DIST
    fields = component.params_model.model_fields
    assert fields and all(f.description for f in fields.values())
    component.params_model()  # the defaults are valid
''')

# ------------------------------------------------------------------------------------------ divergence
DIVERGENCE_INIT = Template('''\
"""$dist: a gankit plugin adding the divergence '$name'.

gankit imports this module (the ``gankit`` entry point in pyproject.toml names it) to list plugins and
validate specs, so it holds only the torch-free params model and the registration hook. The loss lives in
:mod:`$module.loss` and is imported only when a spec using it is built.
"""

from __future__ import annotations

from gankit.divergences import DivergenceParams
from gankit.hookspecs import hookimpl
from pydantic import Field

__version__ = "0.1.0"


class ${Class}Params(DivergenceParams):
    """Params of '$name'. Unknown keys are errors and every field is documented (``gankit schema``).

    Deriving from ``DivergenceParams`` makes ``gankit validate`` check the critic's kind against
    ``critic_kinds`` (default ``("score",)``; add ``"autoencoder"`` or ``"pair"`` if the loss handles them).
    """

    margin: float = Field(1.0, gt=0, description="Margin m: real scores are pushed above m, fake ones below −m.")


@hookimpl
def register_divergences(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "$name",
        ${Class}Params,
        "$module.loss:$Class",
        "$summary",
    )
''')

DIVERGENCE_IMPL = Template('''\
"""The divergence '$name': a hinge loss with margin m — replace the two losses with your own.

Critic loss ``E_p relu(m − T(x_r)) + E_q relu(m + T(x_f))``; generator loss ``−E_q T(x_f)``.
``b`` (a ``gankit.protocols.LossInputs``) gives the real and fake batches, lazily computed critic scores, the
critic itself (for gradient penalties), labels, per-pair distances and ``b.log(name, value)`` for extra
values in the training log.
"""

from __future__ import annotations

import torch.nn.functional as F
from gankit.protocols import BuildEnv, LossInputs
from torch import Tensor

from $module import ${Class}Params


class $Class:
    """A gankit divergence (``gankit.protocols.Divergence``)."""

    #: set to True if generator_loss reads b.real or b.real_scores: the engine then draws a real batch for it
    generator_uses_real = False
    critic_kinds = ${Class}Params.critic_kinds

    def __init__(self, params: ${Class}Params, env: BuildEnv) -> None:
        self.params = params

    def critic_loss(self, b: LossInputs) -> Tensor:
        m = self.params.margin
        return F.relu(m - b.real_scores).mean() + F.relu(m + b.fake_scores).mean()

    def generator_loss(self, b: LossInputs) -> Tensor:
        return -b.fake_scores.mean()
''')

DIVERGENCE_TESTS = Template('''\


class FirstColumn(nn.Module):
    """T(x) = x[:, 0]: lets a test choose the critic's scores exactly."""

    kind = "score"

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, 0]


class SmallCritic(nn.Module):
    kind = "score"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(registry: Registry, **params: float):
    component = registry.lookup(KIND, "$name")
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(2,))))


def batch(scores: list[float]) -> torch.Tensor:
    return torch.tensor([[s, 0.0] for s in scores], dtype=torch.float64)


def test_losses_match_the_formula(registry: Registry) -> None:
    from gankit.protocols import LossInputs

    real, fake, m = [1.5, 0.2, -0.4], [-2.0, 0.3, 1.0], 0.5
    b = LossInputs(step="critic", critic=FirstColumn(), real=batch(real), fake=batch(fake))
    div = build(registry, margin=m)
    expected = sum(max(0.0, m - r) for r in real) / 3 + sum(max(0.0, m + f) for f in fake) / 3
    assert div.critic_loss(b).item() == pytest.approx(expected)
    assert div.generator_loss(b).item() == pytest.approx(-sum(fake) / 3)


def test_finite_losses_and_generator_gradients(registry: Registry) -> None:
    from gankit.protocols import LossInputs

    torch.manual_seed(0)
    div, critic = build(registry), SmallCritic()
    real, fake = torch.randn(32, 2), (torch.randn(32, 2) * 0.5 + 1).requires_grad_(True)
    loss_d = div.critic_loss(LossInputs(step="critic", critic=critic, real=real, fake=fake.detach()))
    loss_d.backward()
    assert torch.isfinite(loss_d)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
    b = LossInputs(step="generator", critic=critic, real=real if div.generator_uses_real else None, fake=fake)
    loss_g = div.generator_loss(b)
    (grad,) = torch.autograd.grad(loss_g, fake)
    assert torch.isfinite(loss_g) and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_invalid_params_are_spec_errors(registry: Registry) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(divergence={"name": "$name", "params": {"margin": 0}}))
    assert "greater than 0" in dict(info.value.problems)["divergence.params.margin"]
''')

# ---------------------------------------------------------------------------------------------- metric
METRIC_INIT = Template('''\
"""$dist: a gankit plugin adding the metric '$name'.

gankit imports this module (the ``gankit`` entry point in pyproject.toml names it) to list plugins and
validate specs, so it holds only the torch-free params model and the registration hook. The metric lives in
:mod:`$module.metric` and is imported only when a spec using it is built.
"""

from __future__ import annotations

from gankit.hookspecs import hookimpl
from gankit.params import Params
from pydantic import Field

__version__ = "0.1.0"


class ${Class}Params(Params):
    """Params of '$name'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    n_samples: int = Field(1000, gt=0, description="Generated and real samples to compare.")


@hookimpl
def register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "$name",
        ${Class}Params,
        "$module.metric:$Class",
        "$summary",
    )
''')

METRIC_IMPL = Template('''\
"""The metric '$name': the distance between the means of generated and real samples — replace it with yours.

A metric is called with a ``gankit.protocols.EvalContext`` (``sample_fake(n)``, ``sample_real(n, split)``,
the device, a cache folder and a memo shared by one evaluation) and returns named values.
"""

from __future__ import annotations

import torch
from gankit.protocols import BuildEnv, EvalContext

from $module import ${Class}Params


class $Class:
    """A gankit metric (``gankit.protocols.Metric``): ``‖E x_f − E x_r‖₂`` over flattened samples."""

    def __init__(self, params: ${Class}Params, env: BuildEnv) -> None:
        self.params = params

    @torch.no_grad()
    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        fake, _ = ctx.sample_fake(self.params.n_samples)
        real, _ = ctx.sample_real(self.params.n_samples, "train")
        gap = fake.flatten(1).double().mean(0) - real.flatten(1).double().mean(0)
        return {"$name": float(gap.norm())}
''')

METRIC_TESTS = Template('''\


def context(fake: torch.Tensor, real: torch.Tensor):
    from gankit.protocols import EvalContext

    return EvalContext(
        info=DataInfo(shape=tuple(fake.shape[1:])), device=torch.device("cpu"),
        sample_fake=lambda n: (fake[:n], None), sample_real=lambda n, split: (real[:n], None),
        cache_dir=Path("."),
    )


def build(registry: Registry, **params: int):
    component = registry.lookup(KIND, "$name")
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=(2,))))


def test_value_matches_the_formula(registry: Registry) -> None:
    fake = torch.tensor([[1.0, 2.0], [3.0, 2.0]])
    real = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    # means (2, 2) and (0, 0.5): distance sqrt(4 + 2.25) = 2.5
    assert build(registry, n_samples=2)(context(fake, real)) == {"$name": pytest.approx(2.5)}
    assert build(registry, n_samples=2)(context(real, real)) == {"$name": pytest.approx(0.0)}


def test_invalid_params_are_spec_errors(registry: Registry) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(metrics=[{"name": "$name", "params": {"n_samples": 0}}]))
    assert "greater than 0" in dict(info.value.problems)["metrics.0.params.n_samples"]
''')

# ------------------------------------------------------------------------------------ generator, critic
NETWORK_INIT = Template('''\
"""$dist: a gankit plugin adding the $kind '$name'.

gankit imports this module (the ``gankit`` entry point in pyproject.toml names it) to list plugins and
validate specs, so it holds only the torch-free params model and the registration hook. The network lives in
:mod:`$module.network` and is imported only when a spec using it is built.
"""

from __future__ import annotations

from gankit.hookspecs import hookimpl
from gankit.params import Params
from pydantic import Field

__version__ = "0.1.0"


class ${Class}Params(Params):
    """Params of '$name'. Unknown keys are errors and every field is documented (``gankit schema``)."""
$fields

@hookimpl
def $hook(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "$name",
        ${Class}Params,
        "$module.network:build",
        "$summary",
    )
''')

GENERATOR_FIELDS = '''\

    latent_dim: int = Field(2, gt=0, description="Dimension of z ~ N(0, I).")
    hidden: int = Field(128, gt=0, description="Width of the hidden layers.")
'''

CRITIC_FIELDS = '''\

    hidden: int = Field(128, gt=0, description="Width of the hidden layers.")
'''

GENERATOR_IMPL = Template('''\
"""The generator '$name': a two-hidden-layer MLP from z to samples of the data's shape — make it yours.

A generator is an ``nn.Module`` with an integer ``latent_dim`` whose ``forward(z, labels=None)`` returns a
batch shaped like the data (``env.data.shape``); see ``gankit.protocols.Generator``.
"""

from __future__ import annotations

import math

from gankit.protocols import BuildEnv, DataInfo
from torch import Tensor, nn

from $module import ${Class}Params


class $Class(nn.Module):
    def __init__(self, params: ${Class}Params, info: DataInfo) -> None:
        super().__init__()
        self.latent_dim = params.latent_dim
        self.shape = info.shape
        self.net = nn.Sequential(
            nn.Linear(params.latent_dim, params.hidden), nn.ReLU(),
            nn.Linear(params.hidden, params.hidden), nn.ReLU(),
            nn.Linear(params.hidden, math.prod(info.shape)),
        )
        # images are scaled to [-1, 1]; 2-D points are unbounded
        self.out = nn.Tanh() if info.is_image else nn.Identity()

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.out(self.net(z)).view(-1, *self.shape)


def build(params: ${Class}Params, env: BuildEnv) -> $Class:
    if env.data is None:
        raise ValueError("needs the data's shape")
    return $Class(params, env.data)
''')

CRITIC_IMPL = Template('''\
"""The critic '$name': a two-hidden-layer MLP scoring flattened samples — make it yours.

A score critic is an ``nn.Module`` with ``kind = "score"`` whose ``forward(x, labels=None)`` returns one raw
score per sample, shape ``(B,)``; see ``gankit.protocols.Critic`` for autoencoder and pair critics.
"""

from __future__ import annotations

import math

from gankit.protocols import BuildEnv, DataInfo
from torch import Tensor, nn

from $module import ${Class}Params


class $Class(nn.Module):
    kind = "score"

    def __init__(self, params: ${Class}Params, info: DataInfo) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(info.shape), params.hidden), nn.LeakyReLU(0.2),
            nn.Linear(params.hidden, params.hidden), nn.LeakyReLU(0.2),
            nn.Linear(params.hidden, 1),
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(x).squeeze(1)


def build(params: ${Class}Params, env: BuildEnv) -> $Class:
    if env.data is None:
        raise ValueError("needs the data's shape")
    return $Class(params, env.data)
''')

GENERATOR_TESTS = Template('''\


def build(registry: Registry, shape: tuple[int, ...], **params: int) -> nn.Module:
    component = registry.lookup(KIND, "$name")
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=shape)))


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_output_has_the_data_shape_and_gradients_flow(registry: Registry, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = build(registry, shape, latent_dim=3)
    assert net.latent_dim == 3
    x = net(torch.randn(5, 3))
    assert x.shape == (5, *shape) and torch.isfinite(x).all()
    if len(shape) == 3:  # images live in [-1, 1]
        assert x.abs().max() <= 1
    x.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_invalid_params_are_spec_errors(registry: Registry) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(generator={"name": "$name", "params": {"hidden": 0}}))
    assert "greater than 0" in dict(info.value.problems)["generator.params.hidden"]
''')

CRITIC_TESTS = Template('''\


def build(registry: Registry, shape: tuple[int, ...], **params: int) -> nn.Module:
    component = registry.lookup(KIND, "$name")
    return component.build(component.params_model(**params), BuildEnv(data=DataInfo(shape=shape)))


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_one_score_per_sample_and_gradients_flow(registry: Registry, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = build(registry, shape, hidden=16)
    assert getattr(net, "kind", "score") == "score"
    x = torch.randn(5, *shape, requires_grad=True)
    scores = net(x)
    assert scores.shape == (5,) and torch.isfinite(scores).all()
    (grad,) = torch.autograd.grad(scores.sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_invalid_params_are_spec_errors(registry: Registry) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(critic={"name": "$name", "params": {"hidden": 0}}))
    assert "greater than 0" in dict(info.value.problems)["critic.params.hidden"]
''')

# ------------------------------------------------------------------------------------------------ data
DATA_INIT = Template('''\
"""$dist: a gankit plugin adding the data set '$name'.

gankit imports this module (the ``gankit`` entry point in pyproject.toml names it) to list plugins and
validate specs, so it holds only the torch-free params model and the registration hook. ``info()`` tells
validation and the networks the sample shape without loading anything; the data lives in :mod:`$module.data`.
"""

from __future__ import annotations

import math

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import DataInfo
from pydantic import Field

__version__ = "0.1.0"


class ${Class}Params(Params):
    """Params of '$name'. Unknown keys are errors and every field is documented (``gankit schema``)."""

    centre: tuple[float, float] = Field((0.0, 0.0), description="Centre of the Gaussian blob.")
    std: float = Field(0.1, gt=0, description="Standard deviation of each coordinate.")
    n_samples: int = Field(10_000, gt=0, description="Samples drawn once, seeded by the run's seed.")

    def info(self) -> DataInfo:
        # one known mode, so gankit's mode-coverage metric works on this data set too
        return DataInfo(shape=(2,), value_range=(-math.inf, math.inf), modes=(self.centre,), mode_std=self.std,
                        key=f"$name-{self.centre}-{self.std}")


@hookimpl
def register_data(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "$name",
        ${Class}Params,
        "$module.data:build",
        "$summary",
    )
''')

DATA_IMPL = Template('''\
"""The data set '$name': one 2-D Gaussian blob — replace it with your own data.

A data source has ``info`` (a ``gankit.protocols.DataInfo``) and ``dataset(split)`` returning a map-style
dataset of ``(x, y)`` samples, ``y = -1`` when unlabelled. A ``TensorDataset`` is kept on the training device
and batched by index, the fastest path.
"""

from __future__ import annotations

from typing import Literal

import torch
from gankit.protocols import BuildEnv, DataInfo
from torch.utils.data import TensorDataset

from $module import ${Class}Params


class $Class:
    def __init__(self, params: ${Class}Params, seed: int) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        self.seed = seed

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        gen = torch.Generator().manual_seed(self.seed + (0 if split == "train" else 1_000_003))
        x = torch.randn(self.params.n_samples, 2, generator=gen) * self.params.std + torch.tensor(self.params.centre)
        return TensorDataset(x, torch.full((self.params.n_samples,), -1))


def build(params: ${Class}Params, env: BuildEnv) -> $Class:
    return $Class(params, env.spec.run.seed if env.spec is not None else 0)
''')

DATA_TESTS = Template('''\


def build(registry: Registry, **params: object):
    component = registry.lookup(KIND, "$name")
    return component.build(component.params_model(**params), BuildEnv(data=None))


def test_samples_follow_the_params_and_the_seed(registry: Registry) -> None:
    source = build(registry, centre=(1.0, -2.0), std=0.5, n_samples=4000)
    assert source.info.shape == (2,)
    x, y = source.dataset("train").tensors
    assert x.shape == (4000, 2) and (y == -1).all()
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(x.std(0), torch.tensor([0.5, 0.5]), atol=0.05)
    assert torch.equal(x, build(registry, centre=(1.0, -2.0), std=0.5, n_samples=4000).dataset().tensors[0])
    assert not torch.equal(x, source.dataset("test").tensors[0])


def test_invalid_params_are_spec_errors(registry: Registry) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(data={"name": "$name", "params": {"std": -1}}))
    assert "greater than 0" in dict(info.value.problems)["data.params.std"]
''')
