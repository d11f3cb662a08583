"""Spec validation: every error class reports `path: message`, all at once, with suggestions."""

from __future__ import annotations

import pytest
from conftest import TINY_SPEC, tiny_spec, to_toml

from gankit.errors import SpecError
from gankit.spec import apply_overrides, load_spec, validate_spec


def problems(data: dict, *overrides: str) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        validate_spec(data, overrides)
    return dict(info.value.problems)


def test_valid_tiny_spec_has_typed_params():
    spec = validate_spec(tiny_spec())
    assert spec.divergence.params.lam == 10.0
    assert spec.divergence.component.dist == "gankit"
    assert spec.run.optimizer.generator.name == "adam"
    assert [path for path, _ in spec.components()] == ["data", "generator", "critic", "divergence", "metrics.0"]


def test_unknown_keys_at_every_level_with_suggestions():
    data = tiny_spec(divergence={"name": "gan-qp", "params": {"lamb": 1.0}})
    data["run"]["stepz"] = 3
    data["generator"]["parms"] = {}
    data["divergance"] = {}
    found = problems(data)
    assert found["divergence.params.lamb"] == "unknown key; did you mean 'lam'?"
    assert found["run.stepz"] == "unknown key; did you mean 'steps'?"
    assert found["generator.parms"] == "unknown table; did you mean 'params'?"
    assert found["divergance"] == "unknown table; did you mean 'divergence'?"


def test_nested_run_tables_suggest_too():
    data = tiny_spec(run={"optimizer": {"generator": {"lrr": 0.1}}})
    assert problems(data)["run.optimizer.generator.lrr"] == "unknown key; did you mean 'lr'?"


def test_wrong_type_and_out_of_range():
    data = tiny_spec(divergence={"name": "gan-qp", "params": {"lam": -1.0, "distance": "l3"}})
    data["run"]["batch_size"] = "big"
    found = problems(data)
    assert found["divergence.params.lam"].startswith("input should be greater than 0")
    assert "'l1' or 'l2'" in found["divergence.params.distance"]
    assert found["run.batch_size"].startswith("input should be a valid integer")


def test_unknown_component_suggests_the_registered_name():
    found = problems(tiny_spec(divergence={"name": "ganqp", "params": {}}))
    assert found["divergence.name"] == "unknown divergence 'ganqp'; did you mean 'gan-qp'?"


def test_missing_tables_and_names():
    data = tiny_spec()
    del data["critic"]
    data["generator"] = {"params": {}}
    found = problems(data)
    assert found["critic"] == "required but missing"
    assert found["generator"].startswith("missing 'name' (one of:") and "mlp" in found["generator"]


def test_metric_errors_point_at_the_array_index():
    data = tiny_spec(metrics=[{"name": "mode-coverage", "params": {}}, {"name": "mode-coverge", "params": {}}])
    assert problems(data)["metrics.1.name"].endswith("did you mean 'mode-coverage'?")


def test_all_problems_are_reported_at_once():
    data = tiny_spec(divergence={"name": "gan-qp", "params": {"lam": 0}})
    data["run"]["steps"] = 0
    data["run"]["seed"] = -1
    assert set(problems(data)) == {"divergence.params.lam", "run.steps", "run.seed"}


def test_bad_toml_reports_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[run]\nsteps = 10\nbatch_size = = 3\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (line,) = info.value.lines()
    assert line.startswith(f"{path}: invalid TOML at line 3, column 14:")


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.toml")


def test_overrides_are_validated_like_the_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(to_toml(TINY_SPEC))
    spec = load_spec(path, ["run.steps=7", "divergence.params.distance=l2", "metrics.0.params.n_samples=9"])
    assert (spec.run.steps, spec.divergence.params.distance, spec.metrics[0].params.n_samples) == (7, "l2", 9)
    with pytest.raises(SpecError) as info:
        load_spec(path, ["run.steps=-3", "divergence.params.lam=x", "oops"])
    found = dict(info.value.problems)
    assert found["run.steps"].startswith("input should be greater than 0")
    assert found["divergence.params.lam"].startswith("input should be a valid number")
    assert "expected KEY.PATH=VALUE" in found["--set oops"]


def test_override_parses_toml_values():
    data: dict = {"run": {}}
    assert apply_overrides(data, ["run.betas=[0.0, 0.9]", "run.name=plain words", "run.flag=true"]) == []
    assert data["run"] == {"betas": [0.0, 0.9], "name": "plain words", "flag": True}


def test_requires_missing_and_too_old_distributions():
    data = tiny_spec(run={"requires": ["gankit>=999", "surely-not-installed-dist>=1.0", "not a requirement!"]})
    found = problems(data)
    assert "gankit 0.1.0 is installed" in found["run.requires.0"] and "gankit>=999" in found["run.requires.0"]
    assert found["run.requires.1"].startswith("requires surely-not-installed-dist>=1.0, which is not installed")
    assert found["run.requires.2"].startswith("invalid requirement")
    validate_spec(tiny_spec(run={"requires": ["gankit>=0.1", "pydantic>=2"]}))


def test_spec_digest_is_stable_and_sensitive():
    a = validate_spec(tiny_spec())
    b = validate_spec(tiny_spec())
    c = validate_spec(tiny_spec(run={"seed": 1}))
    assert a.digest() == b.digest() != c.digest()


def test_a_kind_with_nothing_installed_rejects_every_name():
    from gankit.plugins import load_registry

    registry = load_registry()
    registry.components["metric"] = []
    with pytest.raises(SpecError) as info:
        validate_spec(tiny_spec(), registry=registry)
    assert dict(info.value.problems) == {"metrics.0.name": "unknown metric 'mode-coverage'"}


@pytest.mark.parametrize(("raw", "value"), [
    ("500", 500), ("true", True), ('"a b"', "a b"), ("cpu", "cpu"), ("1 # a comment", 1), ("[1, 2]", [1, 2]),
    ("{ a = 1 }", {"a": 1}), ("", ""),
])
def test_override_values_are_toml_or_plain_text(raw, value):
    from gankit.spec import parse_override_value

    assert parse_override_value(raw) == value


@pytest.mark.parametrize("raw", ["1\n[foo]", "1\nx = 2", "1\r\n", '"a"\n'])
def test_override_values_must_be_one_line(raw):
    from gankit.spec import parse_override_value

    with pytest.raises(ValueError, match="one line"):
        parse_override_value(raw)
