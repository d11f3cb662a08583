"""The data params models: torch-free shapes (``info``) and the folder checks ``gankit validate`` runs; the
engine's handling of what each source returns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, tiny_spec
from datafiles import write_cifar10, write_mnist, write_png

from gankit.data import (
    CIFAR100Params,
    CIFARParams,
    FashionMNISTParams,
    GridParams,
    ImageFolderParams,
    MNISTParams,
    RingParams,
    StackedMNISTParams,
)
from gankit.errors import SpecError
from gankit.plugins import get_registry
from gankit.spec import validate_spec

NAMES = ["ring", "grid", "mnist", "fashion-mnist", "cifar10", "cifar100", "image-folder", "stacked-mnist"]


def test_every_data_set_is_registered() -> None:
    registered = {c.name: c for c in get_registry().of_kind("data")}
    for name in NAMES:
        assert name in registered and registered[name].summary, name


def test_info_shapes_and_labels() -> None:
    assert MNISTParams(root="x").info().shape == (1, 28, 28)
    assert MNISTParams(root="x", resolution=32).info().shape == (1, 32, 32)
    assert FashionMNISTParams(root="x").info().key.startswith("fashion-mnist")
    assert StackedMNISTParams(root="x").info().shape == (3, 28, 28)
    assert StackedMNISTParams(root="x").info().num_classes == 1000
    assert CIFARParams(root="x").info().shape == (3, 32, 32) and CIFARParams(root="x").info().num_classes == 10
    assert CIFAR100Params(root="x").info().num_classes == 100
    assert ImageFolderParams(root="x", resolution=48, channels=1).info().shape == (1, 48, 48)
    # the mixtures keep the VEEGAN/PacGAN defaults
    assert len(RingParams().info().modes) == 8 and RingParams().info().mode_std == 0.01
    grid = GridParams().info()
    assert len(grid.modes) == 25 and grid.mode_std == 0.05
    assert {m[0] for m in grid.modes} == {-4.0, -2.0, 0.0, 2.0, 4.0}


def _problems(data: dict) -> list[tuple[str, str]]:
    spec = tiny_spec(
        data=data,
        generator={"name": "mlp", "params": {}},
        critic={"name": "mlp", "params": {}},
        metrics=[],
    )
    try:
        validate_spec(spec)
    except SpecError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "stacked-mnist", "cifar10", "cifar100", "image-folder"])
def test_validate_reports_missing_data_folder(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "nowhere"
    problems = _problems({"name": name, "params": {"root": str(missing)}})
    assert ("data.params.root", f"folder '{missing}' does not exist") in problems


def test_validate_reports_folders_without_the_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    empty = str(tmp_path / "empty")
    assert ("data.params.root", f"'{empty}' has no train-images-idx3-ubyte(.gz)") in _problems(
        {"name": "mnist", "params": {"root": empty}}
    )
    [(path, msg)] = _problems({"name": "cifar10", "params": {"root": empty}})
    assert path == "data.params.root" and "data_batch_1" in msg and "data_batch_5" in msg
    [(path, msg)] = _problems({"name": "image-folder", "params": {"root": empty}})
    assert path == "data.params.root" and "holds no image" in msg


def test_validate_accepts_complete_folders(tmp_path: Path) -> None:
    assert _problems({"name": "mnist", "params": {"root": str(write_mnist(tmp_path / "m", [1, 2]))}}) == []
    assert _problems({"name": "cifar10", "params": {"root": str(write_cifar10(tmp_path / "c"))}}) == []
    write_png(tmp_path / "img" / "a.png", (8, 8), (1, 2, 3))
    assert _problems({"name": "image-folder", "params": {"root": str(tmp_path / "img")}}) == []


def test_validate_rejects_bad_params(tmp_path: Path) -> None:
    root = str(write_mnist(tmp_path / "m", [1, 2]))
    [(path, _)] = _problems({"name": "mnist", "params": {"root": root, "resolution": 64}})
    assert path == "data.params.resolution"
    [(path, _)] = _problems({"name": "mnist", "params": {"root": root, "split": "train"}})
    assert path == "data.params.split"


def test_params_are_torch_free() -> None:
    code = "import sys, gankit.data; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_engine_streams_a_lazy_image_folder_with_labels(tmp_path: Path) -> None:
    from gankit.data.folder import ImageFolderSource
    from gankit.engine.batches import BatchStream

    for cls, colour in (("a", (255, 0, 0)), ("b", (0, 255, 0))):
        for i in range(4):
            write_png(tmp_path / "img" / cls / f"{i}.png", (10, 10), colour)
    source = ImageFolderSource(ImageFolderParams(root=str(tmp_path / "img"), resolution=8, in_memory=False))
    stream = BatchStream(source.dataset(), 4, torch.device("cpu"), seed=0, labelled=True)
    x, y = stream.next()
    assert x.shape == (4, 3, 8, 8) and y is not None and y.dtype == torch.int64
    assert torch.equal(x[:, 1, 0, 0] > 0, y == 1)  # green images are class "b"
