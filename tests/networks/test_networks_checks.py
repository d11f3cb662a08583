"""What ``gankit validate`` catches about networks before anything is built (torch-free params checks), and
the example specs of each network family: valid, and (slow) training a few steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SHARED_DATA, tiny_spec

from gankit.errors import SpecError
from gankit.spec import load_spec, validate_spec

FAMILY_SPECS = ["mnist-dcgan", "mnist-conditional", "grid25-mlp", "fashion-resnet", "stacked-mnist"]


@pytest.fixture
def mnist_like(tmp_path: Path) -> str:
    """A folder that passes the data folder check (validation never opens the files)."""
    for stem in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / stem).write_bytes(b"")
    return str(tmp_path)


@pytest.fixture
def unlabelled_images(tmp_path: Path) -> str:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")  # only the name matters to validation
    return str(folder)


def problems(**tables: Any) -> list[tuple[str, str]]:
    spec = tiny_spec(metrics=[], **tables)
    try:
        validate_spec(spec)
    except SpecError as exc:
        return exc.problems
    return []


def mnist(root: str, **params: Any) -> dict[str, Any]:
    return {"name": "mnist", "params": {"root": root, **params}}


def net(name: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "params": params}


def test_image_network_on_points() -> None:
    found = problems(generator=net("dcgan"), critic=net("resnet"))
    assert ("generator.params", "this network needs image data, but data 'ring' has samples of shape (2,)") in found
    assert any(path == "critic.params" and "needs image data" in msg for path, msg in found)


def test_resolution_the_network_cannot_produce(mnist_like: str, unlabelled_images: str) -> None:
    found = problems(data=mnist(mnist_like), generator=net("resnet"), critic=net("resnet"))
    assert ("generator.params", "cannot produce 28×28 images (supported sides: 32, 64 or 128)") in found
    assert problems(data=mnist(mnist_like, resolution=32), generator=net("resnet"), critic=net("resnet")) == []
    folder = {"name": "image-folder", "params": {"root": unlabelled_images, "resolution": 48}}
    found = problems(data=folder, generator=net("dcgan"), critic=net("pair"))
    assert ("generator.params", "cannot produce 48×48 images (supported sides: 16, 28, 32, 64, 128 or 256)") in found
    assert any(path == "critic.params" and "48×48" in msg for path, msg in found)
    folder["params"]["resolution"] = 512
    assert any("512×512" in msg for _, msg in problems(data=folder, generator=net("dcgan"), critic=net("dcgan")))


def test_conditional_network_needs_labels(unlabelled_images: str) -> None:
    folder = {"name": "image-folder", "params": {"root": unlabelled_images, "resolution": 32}}
    found = problems(data=folder, generator=net("dcgan", conditional="cbn"), critic=net("dcgan"))
    assert ("generator.params.conditional",
            "a conditional network needs labelled data, but data 'image-folder' has no labels") in found
    for conditional in ("projection", "acgan"):
        found = problems(data=folder, generator=net("resnet", conditional="cbn"),
                         critic=net("resnet", conditional=conditional))
        assert any(p == "critic.params.conditional" and "needs labelled data" in m for p, m in found), conditional


def test_conditional_critic_needs_a_conditional_generator(mnist_like: str) -> None:
    found = problems(data=mnist(mnist_like), generator=net("dcgan"), critic=net("dcgan", conditional="projection"))
    assert [p for p, _ in found] == ["critic.params.conditional"]
    assert "generator 'dcgan' ignores labels" in found[0][1]


@pytest.mark.parametrize(("generator", "critic"), [("dcgan", "dcgan"), ("resnet", "resnet"), ("dcgan", "autoencoder")])
def test_conditional_generator_needs_a_label_aware_critic(mnist_like: str, generator: str, critic: str) -> None:
    data = mnist(mnist_like)
    data["params"]["resolution"] = 32
    found = problems(data=data, generator=net(generator, conditional="cbn"), critic=net(critic))
    assert ("generator.params.conditional",
            f"a conditional generator needs a label-aware critic, but critic '{critic}' ignores labels "
            "(set critic.params.conditional to 'projection' or 'acgan')") in found


def test_acgan_head_needs_its_loss(mnist_like: str) -> None:
    found = problems(data=mnist(mnist_like), generator=net("dcgan", conditional="embedding"),
                     critic=net("dcgan", conditional="acgan"), run={"regularize": {"acgan": 0.0}})
    assert found == [("critic.params.conditional",
                      "an ACGAN head needs run.regularize.acgan > 0 (its loss weight), which is 0")]


def test_batch_norm_with_gradient_penalties(mnist_like: str) -> None:
    found = problems(data=mnist(mnist_like), generator=net("dcgan"), critic=net("dcgan"),
                     divergence={"name": "wgan-gp", "params": {}})
    assert [p for p, _ in found] == ["critic.params.norm"] and "wgan-gp" in found[0][1]
    found = problems(data=mnist(mnist_like), generator=net("dcgan"), critic=net("dcgan"), run={"regularize": {"r1": 1}})
    assert [p for p, _ in found] == ["critic.params.norm"] and "R1/R2" in found[0][1]
    assert problems(data=mnist(mnist_like), generator=net("dcgan"), critic=net("dcgan", norm="layer"),
                    divergence={"name": "wgan-gp", "params": {}}) == []


def test_valid_combinations(mnist_like: str) -> None:
    data = mnist(mnist_like)
    assert problems(data=data, generator=net("dcgan", conditional="cbn"),
                    critic=net("dcgan", conditional="projection")) == []
    assert problems(data=data, generator=net("dcgan", conditional="embedding"),
                    critic=net("dcgan", conditional="acgan")) == []
    assert problems(data=data, generator=net("mlp"), critic=net("mlp")) == []  # flat networks take any shape
    assert problems(data=data, generator=net("dcgan"), critic=net("autoencoder"),
                    divergence={"name": "began", "params": {}}) == []
    assert problems(data=data, generator=net("dcgan"), critic=net("pair"),
                    divergence={"name": "gan-qp", "params": {}}) == []


def test_bad_params_values() -> None:
    found = problems(generator=net("dcgan", kernel=3, width=0), critic=net("dcgan", norm="group"))
    paths = {p for p, _ in found}
    assert {"generator.params.kernel", "generator.params.width", "critic.params.norm"} <= paths


# ------------------------------------------------------------------------------------ example specs
def _needs_shared_data() -> None:
    if not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "fashion-mnist").is_dir():
        pytest.skip(f"the example specs read ../shared/data (not found at {SHARED_DATA})")


@pytest.mark.parametrize("name", FAMILY_SPECS)
def test_family_specs_are_valid(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_shared_data()
    monkeypatch.chdir(ROOT)  # data roots are relative to the working directory
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    assert spec.data.params.info().is_image == (name != "grid25-mlp")


QUICK = ["run.steps=3", "run.log_every=1", "run.sample_every=3", "run.checkpoint_every=3", "run.device=cpu",
         "run.num_samples=16"]
SMALL = {
    "mnist-dcgan": ["data.params.limit=256", "metrics.0.params.n_samples=200"],
    "mnist-conditional": ["data.params.limit=256", "metrics.0.params.n_samples=200"],
    "grid25-mlp": ["data.params.n_samples=1000", "metrics.0.params.n_samples=200"],
    "fashion-resnet": ["data.params.limit=256", "run.batch_size=16", "metrics.0.params.n_samples=200"],
    "stacked-mnist": ["data.params.n_samples=256", "metrics.0.params.n_samples=500"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILY_SPECS)
def test_family_specs_train(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gankit.engine.trainer import Trainer, TrainOptions

    _needs_shared_data()
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "specs" / f"{name}.toml", [*QUICK, *SMALL[name]])
    result = Trainer(spec, TrainOptions(out_dir=tmp_path / name, cache_dir=tmp_path / "cache", progress=False)).fit()
    assert result.step == 3
    rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(abs(r["loss_critic"]) < 1e6 for r in rows if "loss_critic" in r)
    assert list((tmp_path / name / "samples").glob("*.png"))
    evaluation = json.loads((tmp_path / name / "eval.json").read_text())
    assert len(evaluation) > 1 and all(v == v for v in evaluation.values())  # the spec's metric ran, no NaN
