"""Compatibility comes from what components declare, never from their names: third-party components get the
same checks as built-ins, in ``validate`` and in the build, against the registry they were resolved in."""

from __future__ import annotations

import ast
import types
from typing import ClassVar, get_args

import pytest
from conftest import ROOT, tiny_spec
from pydantic import Field

from gankit.build import build_components
from gankit.errors import GankitError, PluginError, SpecError
from gankit.hookspecs import hookimpl
from gankit.params import NoParams, Params
from gankit.plugins import load_registry
from gankit.protocols import CriticDeclarations, CriticKind, DivergenceDeclarations
from gankit.spec import spec_model, validate_spec


class PenaltyParams(Params, DivergenceDeclarations):
    """A third-party loss with a per-sample gradient penalty."""

    input_gradients: ClassVar[bool] = True
    lam: float = Field(10.0, gt=0)


class BatchNormCriticParams(Params, CriticDeclarations):
    """A third-party critic with batch norm switched by ``bn``."""

    bn: bool = True

    def mixes_batch(self) -> tuple[str, str] | None:
        return ("bn", "set bn = false") if self.bn else None


class EnergyCriticParams(Params, CriticDeclarations):
    critic_kind: ClassVar[CriticKind] = "autoencoder"


def _third_party() -> types.ModuleType:
    module = types.ModuleType("gankit_extra_caps")

    def register_divergences(register):  # type: ignore[no-untyped-def]
        register("my-gp", PenaltyParams, "gankit.divergences.wgan:WGANGP", "a gradient-penalty loss")

    def register_critics(register):  # type: ignore[no-untyped-def]
        register("bn-mlp", BatchNormCriticParams, "gankit.networks.mlp:build_critic", "a batch-norm critic")
        register("energy", EnergyCriticParams, "gankit.networks.autoencoder:build", "an autoencoder critic")
        # declares nothing, so it is a score critic -- but it builds an autoencoder
        register("liar", NoParams, "tests_caps_liar:build", "declares one kind, builds another")

    module.register_divergences = hookimpl(register_divergences)  # type: ignore[attr-defined]
    module.register_critics = hookimpl(register_critics)  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(extra=[(_third_party(), "gankit-extra", "0.1")])


def _problems(registry, **tables):  # type: ignore[no-untyped-def]
    try:
        validate_spec(tiny_spec(**tables), registry=registry)
    except SpecError as exc:
        return dict(exc.problems)
    return {}


def test_a_third_party_gradient_penalty_rejects_a_third_party_batch_norm_critic(registry):
    found = _problems(registry, divergence={"name": "my-gp"}, critic={"name": "bn-mlp"})
    assert list(found) == ["critic.params.bn"]
    assert "the per-sample gradient penalty of divergence 'my-gp'" in found["critic.params.bn"]
    assert found["critic.params.bn"].endswith("set bn = false")
    assert _problems(registry, divergence={"name": "my-gp"}, critic={"name": "bn-mlp", "params": {"bn": False}}) == {}


def test_a_third_party_gradient_penalty_rejects_the_builtin_batch_norm_critic(registry):
    found = _problems(registry, divergence={"name": "my-gp"}, critic={"name": "dcgan"},
                      data={"name": "ring"}, generator={"name": "mlp"})
    assert "critic.params.norm" in found and "divergence 'my-gp'" in found["critic.params.norm"]


def test_builtin_penalties_and_r1_reject_a_third_party_batch_norm_critic(registry):
    assert "critic.params.bn" in _problems(registry, divergence={"name": "wgan-div"}, critic={"name": "bn-mlp"})
    found = _problems(registry, critic={"name": "bn-mlp"}, run={"regularize": {"r1": 1.0}})
    assert "R1/R2" in found["critic.params.bn"]


def test_a_declared_critic_kind_is_checked_against_the_divergence(registry):
    found = _problems(registry, critic={"name": "energy"})
    assert found == {"critic.name": "divergence 'gan-qp' needs a critic of kind score or pair, but 'energy' is a "
                                    "autoencoder critic"}
    assert _problems(registry, critic={"name": "energy"}, divergence={"name": "began"}) == {}


def test_the_build_holds_a_critic_to_the_kind_it_declares(registry, monkeypatch):
    liar = types.ModuleType("tests_caps_liar")

    def build(params, env):  # type: ignore[no-untyped-def]
        from gankit.networks import AutoencoderCriticParams
        from gankit.networks.autoencoder import build as build_autoencoder

        return build_autoencoder(AutoencoderCriticParams(), env)

    liar.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "tests_caps_liar", liar)
    # a spec made without validate_spec's cross-checks: the build applies the same rules
    spec = spec_model(registry).model_validate(tiny_spec(critic={"name": "liar"}, divergence={"name": "began"}))
    with pytest.raises(GankitError, match=r"critic\.name: divergence 'began' needs a critic of kind autoencoder"):
        build_components(spec)
    spec = validate_spec(tiny_spec(critic={"name": "liar"}), registry=registry)
    with pytest.raises(PluginError, match="builds a autoencoder critic, but its params model declares "
                                          "critic_kind = 'score'"):
        build_components(spec)


def test_metric_checks_use_the_registry_passed_in():
    from gankit.features import RawParams

    module = types.ModuleType("gankit_extra_features")

    def register_feature_extractors(register):  # type: ignore[no-untyped-def]
        register("my-features", RawParams, "gankit.features.raw:build", "only in this registry")

    module.register_feature_extractors = hookimpl(register_feature_extractors)  # type: ignore[attr-defined]
    registry = load_registry(extra=[(module, "gankit-extra-features", "0.1")])
    metric = {"name": "precision-recall", "params": {"extractor": "my-features", "n_samples": 100}}
    spec = validate_spec(tiny_spec(metrics=[metric]), registry=registry)  # not in the process registry
    assert spec.metrics[0].params.extractor == "my-features"
    with pytest.raises(SpecError, match="unknown feature-extractor 'my-features'"):
        validate_spec(tiny_spec(metrics=[metric]))


# the core: modules that must ask components what they declare, never test their names
CORE = ["build.py", "spec.py", "capabilities.py", "plugins.py", "ops.py", "protocols.py", "engine/regularizers.py",
        "cli/validate.py", "cli/plugins.py"]


@pytest.mark.parametrize("module", CORE)
def test_no_core_module_names_a_component(module):
    registry = load_registry()
    names = {c.name for kind in registry.components for c in registry.of_kind(kind)} - set(get_args(CriticKind))
    tree = ast.parse((ROOT / "gankit" / module).read_text(encoding="utf-8"))
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not literals & names, f"{module} names components {sorted(literals & names)}"

