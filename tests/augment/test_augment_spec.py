"""The ``[augment]`` table: optional, validated like every component table (unknown keys, params by the
augmentation's own schema, image-only augmentations refused for 2-D data at validation), listed by
``list-plugins``, described by ``schema``, built into ``Components.augment`` with the divergence's r_t rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import tiny_spec

from gankit.errors import SpecError
from gankit.spec import validate_spec


def _image_spec(mnist_dir: Path, augment: dict[str, Any] | None, divergence: str = "gan-qp") -> dict[str, Any]:
    spec = tiny_spec(
        data={"name": "mnist", "params": {"root": str(mnist_dir), "limit": 64}},
        generator={"name": "dcgan", "params": {"latent_dim": 16, "width": 8}},
        critic={"name": "dcgan", "params": {"width": 8, "norm": "layer"}},
        divergence={"name": divergence, "params": {}},
    )
    spec["metrics"] = []
    if augment is not None:
        spec["augment"] = augment
    return spec


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    return dict(info.value.problems)


def test_absent_table_means_no_augmentation() -> None:
    spec = validate_spec(tiny_spec())
    assert spec.augment is None
    assert "augment" not in [path for path, _ in spec.components()]


def test_valid_tables_have_typed_params(mnist_dir: Path) -> None:
    spec = validate_spec(_image_spec(mnist_dir, {"name": "diffaugment", "params": {"policy": ["color", "cutout"]}}))
    assert spec.augment is not None and spec.augment.params.policy == ["color", "cutout"]
    spec = validate_spec(_image_spec(mnist_dir, {"name": "ada"}))
    assert spec.augment is not None and spec.augment.params.target == 0.6 and spec.augment.params.interval == 4


def test_errors_name_the_path(mnist_dir: Path) -> None:
    found = _problems(_image_spec(mnist_dir, {"name": "ada", "params": {"targt": 0.5, "p_init": 2}}))
    assert found["augment.params.targt"] == "unknown key; did you mean 'target'?"
    assert found["augment.params.p_init"].startswith("input should be less than or equal to 1")
    found = _problems(_image_spec(mnist_dir, {"name": "diffaugmnt"}))
    assert found["augment.name"] == "unknown augment 'diffaugmnt'; did you mean 'diffaugment'?"
    found = _problems(_image_spec(mnist_dir, {"name": "diffaugment", "params": {"policy": ["color", "color"]}}))
    assert found["augment.params.policy"] == "color listed more than once"
    found = _problems(_image_spec(mnist_dir, {"name": "diffaugment", "params": {"policy": ["colour"]}}))
    assert "'color', 'translation' or 'cutout'" in found["augment.params.policy.0"]
    found = _problems(_image_spec(mnist_dir, {"name": "diffaugment", "params": {"policy": []}}))
    assert found["augment.params.policy"].startswith("must name at least one")
    found = _problems(_image_spec(mnist_dir, {"params": {}}))
    assert found["augment"] == "missing 'name' (one of: ada, diffaugment)"
    found = _problems(_image_spec(mnist_dir, {"name": "ada", "params": {"blit": False, "color": False}}))
    assert found["augment.params"].startswith("enable at least one group")
    found = _problems(_image_spec(mnist_dir, {"name": "ada", "params": {"p_init": 0.9, "p_max": 0.8}}))
    assert found["augment.params.p_init"] == "must be <= p_max (0.8)"
    found = _problems({**_image_spec(mnist_dir, None), "augment": 3})
    assert found["augment"].startswith("expected a table")


@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_two_dimensional_data_is_refused_at_validation(name: str) -> None:
    found = _problems({**tiny_spec(), "augment": {"name": name}})
    assert found["augment.params"] == (
        f"augment '{name}' works on images only, but data 'ring' has samples of shape (2,); "
        "remove the [augment] table"
    )


def test_list_plugins_and_schema_show_the_augment_kind(cli: Any) -> None:
    result = cli("list-plugins", "--kind", "augment", "--json")
    assert result.code == 0
    rows = json.loads(result.out)
    assert {(r["kind"], r["name"]) for r in rows} == {("augment", "ada"), ("augment", "diffaugment")}
    everything = json.loads(cli("list-plugins", "--json").out)
    assert {"ada", "diffaugment"} <= {r["name"] for r in everything if r["kind"] == "augment"}
    schema = json.loads(cli("schema").out)
    assert "augment" in schema["properties"] and "augment" not in schema.get("required", [])
    text = json.dumps(schema)
    assert "DiffAugment" in text and '"speed_kimg"' in text and '"cutout"' in text


def test_validate_cli_reports_the_two_dimensional_error_in_one_line(cli: Any, write_spec: Any) -> None:
    path = write_spec({**tiny_spec(), "augment": {"name": "diffaugment", "params": {}}})
    result = cli("validate", path)
    assert result.code != 0
    line = next(ln for ln in result.err.splitlines() if "augment.params" in ln)
    assert "works on images only" in line and "Traceback" not in result.err


@pytest.mark.parametrize(("divergence", "statistic"), [("sgan-ns", "sign"), ("hinge", "sign"), ("gan-qp", "centred"),
                                                       ("wgan-gp", "centred"), ("lsgan", "centred")])
def test_build_fills_components_augment_and_ada_reads_the_divergence_declaration(
    mnist_dir: Path, divergence: str, statistic: str
) -> None:
    from gankit.augment.ada import ADA
    from gankit.build import build_components

    spec = validate_spec(_image_spec(mnist_dir, {"name": "ada"}, divergence))
    comps = build_components(spec)
    assert isinstance(comps.augment, ADA) and comps.augment.statistic == statistic
    forced = validate_spec(_image_spec(mnist_dir, {"name": "ada", "params": {"statistic": "sign"}}, divergence))
    assert build_components(forced).augment.statistic == "sign"


def test_build_without_the_table_leaves_augment_none(mnist_dir: Path) -> None:
    from gankit.build import build_components

    assert build_components(validate_spec(_image_spec(mnist_dir, None))).augment is None


def test_a_spec_without_augment_keeps_its_dict_and_hash() -> None:
    """Runs trained before [augment] existed resume without a "the spec differs" warning: a spec without the
    table dumps (and hashes) exactly as before, with no ``augment`` key."""
    import hashlib

    spec = validate_spec(tiny_spec())
    assert "augment" not in spec.to_dict()
    before = json.dumps(spec.model_dump(mode="json", exclude={"augment"}), sort_keys=True).encode()
    assert spec.digest() == hashlib.sha256(before).hexdigest()[:16]


def test_a_spec_with_augment_round_trips_through_its_dict(mnist_dir: Path) -> None:
    spec = validate_spec(_image_spec(mnist_dir, {"name": "ada", "params": {"target": 0.7}}))
    again = validate_spec(spec.to_dict())
    assert again.augment is not None and again.augment.params.target == 0.7 and again.digest() == spec.digest()
