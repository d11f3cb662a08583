"""Installing a package never changes what a valid spec means: built-in names stay built-in, a shadowed
third-party component is reachable as ``dist:name`` and reported; ``run.requires`` is reported first."""

from __future__ import annotations

import json
import types

import pytest
from conftest import ROOT, tiny_spec, to_toml
from plugin_site import add_dist, run_gankit
from pydantic import ValidationError

from gankit.errors import SpecError
from gankit.hookspecs import hookimpl
from gankit.plugins import load_registry
from gankit.spec import spec_model, validate_spec

SHADOWING = """
from gankit.hookspecs import hookimpl
from gankit.divergences import GANQPParams


@hookimpl
def register_divergences(register):
    register("gan-qp", GANQPParams, "gankit.divergences.ganqp:GANQP", "another gan-qp")
"""


def _module(name: str, divergence: str) -> types.ModuleType:
    from gankit.divergences import GANQPParams

    module = types.ModuleType(name)

    def register_divergences(register):  # type: ignore[no-untyped-def]
        register(divergence, GANQPParams, "gankit.divergences.ganqp:GANQP", "a test divergence")

    module.register_divergences = hookimpl(register_divergences)  # type: ignore[attr-defined]
    return module


def test_a_builtin_name_keeps_meaning_the_builtin_when_a_package_registers_it_too():
    registry = load_registry(extra=[(_module("gankit_extra", "gan-qp"), "gankit-extra", "0.1")])
    spec = validate_spec(tiny_spec(), registry=registry)
    assert spec.divergence.component.dist == "gankit"
    other = validate_spec(tiny_spec(divergence={"name": "gankit-extra:gan-qp"}), registry=registry)
    assert other.divergence.component.dist == "gankit-extra"
    hidden = registry.shadow_note(other.divergence.component)
    assert hidden is not None and "gankit-extra:gan-qp" in hidden


def test_two_third_party_packages_with_one_name_are_an_error_naming_both():
    registry = load_registry(extra=[(_module("pkg_a", "qp-x"), "pkg-a", "1"), (_module("pkg_b", "qp-x"), "pkg-b", "1")])
    with pytest.raises(SpecError) as info:
        validate_spec(tiny_spec(divergence={"name": "qp-x"}), registry=registry)
    assert dict(info.value.problems)["divergence.name"] == (
        "divergence 'qp-x' is registered by both pkg-a and pkg-b; write 'pkg-a:qp-x' or 'pkg-b:qp-x'")


def test_list_plugins_and_validate_flag_the_shadowing(tmp_path):
    site = add_dist(tmp_path / "site", "gankit-extra", "gankit_extra", SHADOWING, version="0.1")
    listed = run_gankit(site, "list-plugins", "--json", "--kind", "divergence")
    assert listed.returncode == 0, listed.stderr
    rows = [r for r in json.loads(listed.stdout) if r["name"] == "gan-qp"]
    by_dist = {r["distribution"]: r["status"] for r in rows}
    assert by_dist["gankit"] == "ok"
    assert by_dist["gankit-extra"].startswith("shadowed:") and "'gankit-extra:gan-qp'" in by_dist["gankit-extra"]
    table = run_gankit(site, "list-plugins", "--kind", "divergence")
    assert "shadowed" in table.stdout
    quickstart = str(ROOT / "specs" / "quickstart.toml")
    checked = run_gankit(site, "validate", quickstart)
    assert checked.returncode == 0, checked.stderr
    assert "1 valid, 0 invalid" in checked.stdout
    assert "divergence.name: 'gan-qp' is the built-in divergence; gankit-extra also registers" in checked.stderr
    github = run_gankit(site, "validate", "--format", "github", quickstart)
    assert github.returncode == 0 and "::warning file=" in github.stdout
    as_json = json.loads(run_gankit(site, "validate", "--format", "json", quickstart).stdout)
    assert as_json[0]["valid"] and [w["path"] for w in as_json[0]["warnings"]] == ["divergence.name"]


def test_list_plugins_knows_every_kind_a_plugin_can_register():
    from gankit.hookspecs import HOOKS

    for kind in ("augment", "feature-extractor"):
        listed = run_gankit(None, "list-plugins", "--kind", kind, "--json")
        assert listed.returncode == 0, listed.stderr
        assert all(r["kind"] == kind for r in json.loads(listed.stdout))
    assert "augment" in HOOKS


def test_requires_is_reported_before_the_names_it_explains(tmp_path):
    data = tiny_spec(run={"requires": ["gankit-extra>=0.1"]}, generator={"name": "tiny-mlp"},
                     divergence={"name": "power-qp"})
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    paths = [p for p, _ in info.value.problems]
    assert paths == ["run.requires.0", "generator.name", "divergence.name"]
    assert info.value.problems[0][1] == (
        "requires gankit-extra>=0.1, which is not installed (pip install 'gankit-extra>=0.1')")
    spec = tmp_path / "needs.toml"
    spec.write_text(to_toml(data))
    result = run_gankit(None, "validate", str(spec))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 3
    assert "requires gankit-extra>=0.1, which is not installed" in lines[0]


def test_an_unknown_component_is_one_line_wherever_a_spec_is_validated():
    """``sample``/``eval`` validate a checkpoint's stored spec with the model directly: one line there too."""
    with pytest.raises(ValidationError) as info:
        spec_model().model_validate(tiny_spec(generator={"name": "tiny-mlp"}))
    (error,) = info.value.errors(include_url=False)
    assert error["loc"] == ("generator", "name")
    assert error["msg"] == "unknown generator 'tiny-mlp'"


PLUGIN_LOSS = """
from gankit.hookspecs import hookimpl
from gankit.divergences import NoDivergenceParams


@hookimpl
def register_divergences(register):
    register("extra-sgan", NoDivergenceParams, "gankit.divergences.sgan:NonSaturating", "sgan from a package")
"""


@pytest.mark.slow  # three fresh interpreters and a short training: ~10 s idle
def test_sample_from_a_run_whose_plugin_is_gone_says_so_in_one_line(tmp_path):
    site = add_dist(tmp_path / "site", "gankit-extra-loss", "gankit_extra_loss", PLUGIN_LOSS, version="0.1")
    spec = tmp_path / "spec.toml"
    spec.write_text(to_toml(tiny_spec(divergence={"name": "extra-sgan"}, metrics=[],
                                      run={"steps": 2, "log_every": 1, "sample_every": 2, "checkpoint_every": 2})))
    trained = run_gankit(site, "train", str(spec), "--out", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    sampled = run_gankit(None, "sample", str(tmp_path / "run"), "--out", str(tmp_path / "samples"))
    assert sampled.returncode == 1
    (line,) = sampled.stderr.strip().splitlines()
    assert "divergence.name: unknown divergence 'extra-sgan'" in line and "Input tag" not in line
