"""Stacked MNIST, CIFAR (restricted unpickler), image folders, and the torch-free params: shapes, labels,
determinism, and one-line errors for every bad input."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import cifar_batch, write_cifar10, write_cifar100, write_mnist, write_pickle, write_png
from torch.utils.data import DataLoader, TensorDataset

from gankit.data import CIFAR100Params, CIFARParams, ImageFolderParams, StackedMNISTParams
from gankit.data.cifar import CIFARSource, load_batch
from gankit.data.folder import ImageFolderSource
from gankit.data.mnist import StackedMNISTSource
from gankit.errors import GankitError

LABELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 5]


def _error(fn, *args) -> str:
    with pytest.raises(GankitError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------------------------------ stacked MNIST
def test_stacked_mnist_labels_match_channels(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS)
    source = StackedMNISTSource(StackedMNISTParams(root=str(root), n_samples=200), seed=3)
    x, y = source.dataset("train").tensors
    assert x.shape == (200, 3, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert source.info.shape == (3, 28, 28) and source.info.num_classes == 1000
    # every pixel of a digit-d image is 20·d + 10, so each channel says which digit it holds
    digits = ((x[:, :, 0, 0] + 1) * 127.5).round().long().sub(10).div(20, rounding_mode="floor")
    assert torch.equal(y, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    assert len(y.unique()) > 50  # triples really are random
    assert "seed3" in source.info.key


def test_stacked_mnist_is_deterministic_in_the_seed(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS)
    params = StackedMNISTParams(root=str(root), n_samples=64, resolution=32)
    a = StackedMNISTSource(params, seed=0).dataset("train").tensors
    b = StackedMNISTSource(params, seed=0).dataset("train").tensors
    c = StackedMNISTSource(params, seed=1).dataset("train").tensors
    assert a[0].shape == (64, 3, 32, 32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_stacked_mnist_real(mnist_dir: Path) -> None:
    x, y = StackedMNISTSource(StackedMNISTParams(root=str(mnist_dir), n_samples=5000), seed=0).dataset().tensors
    assert x.shape == (5000, 3, 28, 28) and int(y.min()) >= 0 and int(y.max()) <= 999
    assert len(y.unique()) > 900  # 5,000 uniform draws over 1,000 modes cover nearly all of them


# -------------------------------------------------------------------------------------------- CIFAR
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches(tmp_path: Path, protocol: int) -> None:
    root = write_cifar10(tmp_path / "c10", per_batch=3, protocol=protocol)
    source = CIFARSource(CIFARParams(root=str(root)))
    x, y = source.dataset("train").tensors
    assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == [i % 10 for i in range(15)]
    # rows are red plane, green plane, blue plane: red = index, green = label, blue = 7
    to_byte = ((x + 1) * 127.5).round()
    assert to_byte[:, 0, 5, 5].tolist() == list(range(15))
    assert torch.equal(to_byte[:, 1, 31, 0], y.float()) and (to_byte[:, 2] == 7).all()
    assert source.dataset("test").tensors[0].shape == (3, 3, 32, 32)


def test_cifar10_python2_numpy1_pickle(tmp_path: Path) -> None:
    """The published files are Python 2 pickles naming ``numpy.core.multiarray`` (numpy 1's module)."""
    root = write_cifar10(tmp_path / "c10", per_batch=2)
    for path in root.iterdir():
        raw = path.read_bytes()
        assert b"numpy._core.multiarray\n" in raw
        path.write_bytes(raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    assert CIFARSource(CIFARParams(root=str(root))).dataset("train").tensors[0].shape == (10, 3, 32, 32)


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    root = write_cifar100(tmp_path / "c100")
    source = CIFARSource(CIFAR100Params(root=str(root)))
    assert source.info.num_classes == 100
    assert source.dataset("train").tensors[1].tolist() == list(range(6))
    assert source.dataset("test").tensors[1].tolist() == list(range(50, 56))


def test_cifar_limit(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "c10")
    assert len(CIFARSource(CIFARParams(root=str(root), limit=4)).dataset("train")) == 4


class _Evil:
    """Unpickling this would create a file (a stand-in for running arbitrary code)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.makedirs, (str(self.target),))


def test_cifar_refuses_code_execution(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "c10")
    target = tmp_path / "pwned"
    batch = cifar_batch(3, 10)
    batch[b"payload"] = _Evil(target)
    write_pickle(root / "data_batch_2", batch)
    assert pickle.loads((root / "data_batch_2").read_bytes()) is not None and target.exists()  # it is armed
    target.rmdir()
    msg = _error(CIFARSource(CIFARParams(root=str(root))).dataset, "train")
    assert str(root / "data_batch_2") in msg and "refusing to load" in msg and "makedirs" in msg
    assert not target.exists()


@pytest.mark.parametrize(
    "payload",
    [
        np.array([object()], dtype=object),  # object arrays would carry arbitrary objects
        np.array([1.0]).view(np.recarray),  # a numpy subclass: a global outside the allow-list
    ],
)
def test_cifar_refuses_other_numpy_objects(tmp_path: Path, payload: object) -> None:
    path = write_pickle(tmp_path / "data_batch_1", {b"data": payload, b"labels": [0]})
    msg = _error(load_batch, path)
    assert str(path) in msg and "refusing" in msg


def test_cifar_refuses_codecs_other_than_latin1(tmp_path: Path) -> None:
    # protocol 2 rebuilds bytes with _codecs.encode(text, "latin1"); anything else is not a CIFAR file
    text = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R."
    path = tmp_path / "test_batch"
    path.write_bytes(text)
    msg = _error(load_batch, path)
    assert "rot13" in msg and str(path) in msg


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([1, 2, 3], "top level is list"),
        ({b"labels": [0]}, "lacks 'data'"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "lacks 'labels'"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "(N, 3072)"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "float32"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels outside 0..9"),
    ],
)
def test_cifar_bad_batches(tmp_path: Path, obj: object, expected: str) -> None:
    root = write_cifar10(tmp_path / "c10")
    write_pickle(root / "data_batch_3", obj)
    msg = _error(CIFARSource(CIFARParams(root=str(root))).dataset, "train")
    assert str(root / "data_batch_3") in msg and expected in msg


def test_cifar_truncated_and_garbage_files(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "c10")
    path = root / "data_batch_4"
    path.write_bytes(path.read_bytes()[:-50])
    assert str(path) in _error(CIFARSource(CIFARParams(root=str(root))).dataset, "train")
    path.write_bytes(b"this is not a pickle at all")
    assert str(path) in _error(CIFARSource(CIFARParams(root=str(root))).dataset, "train")


def test_cifar_missing_batches(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "c10")
    (root / "data_batch_5").unlink()
    msg = _error(CIFARSource(CIFARParams(root=str(root))).dataset, "train")
    assert "data_batch_5" in msg and "data_batch_4" not in msg


# ------------------------------------------------------------------------------------- image folder
def _folder(tmp_path: Path, classes: bool) -> Path:
    root = tmp_path / "images"
    colours = {"cats": (255, 0, 0), "dogs": (0, 0, 255)}
    for name, colour in colours.items():
        for i, size in enumerate([(40, 20), (20, 40), (16, 16)]):
            write_png(root / (name if classes else "") / f"{name}{i}.png", size, colour)
    return root


def test_image_folder_with_classes(tmp_path: Path) -> None:
    params = ImageFolderParams(root=str(_folder(tmp_path, classes=True)), resolution=8)
    assert params.info().shape == (3, 8, 8) and params.info().num_classes == 2
    ds = ImageFolderSource(params).dataset()
    assert isinstance(ds, TensorDataset)
    x, y = ds.tensors
    assert x.shape == (6, 3, 8, 8) and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.allclose(x[0, 0], torch.ones(8, 8)) and torch.allclose(x[0, 2], -torch.ones(8, 8))  # red cat
    assert torch.allclose(x[3, 2], torch.ones(8, 8))  # blue dog


def test_image_folder_without_classes_grey(tmp_path: Path) -> None:
    params = ImageFolderParams(root=str(_folder(tmp_path, classes=False)), resolution=12, channels=1)
    assert params.info().num_classes is None and params.info().shape == (1, 12, 12)
    x, y = ImageFolderSource(params).dataset().tensors
    assert x.shape == (6, 1, 12, 12) and (y == -1).all()


def test_image_folder_lazy_when_too_large_for_memory(tmp_path: Path) -> None:
    root = _folder(tmp_path, classes=True)
    small = ImageFolderParams(root=str(root), resolution=8)
    assert ImageFolderSource(small).in_memory
    big = ImageFolderParams(root=str(root), resolution=8, max_memory_mb=1)  # 1 MiB holds 1,365 images of 3×8×8 floats
    assert big.hold_in_memory(1366) is False and big.hold_in_memory(1365) is True
    lazy = ImageFolderSource(ImageFolderParams(root=str(root), resolution=8, in_memory=False)).dataset()
    assert not isinstance(lazy, TensorDataset) and len(lazy) == 6
    x, label = lazy[4]
    assert x.shape == (3, 8, 8) and label == 1


def test_image_folder_reports_unreadable_image(tmp_path: Path) -> None:
    root = _folder(tmp_path, classes=True)
    bad = root / "dogs" / "broken.png"
    bad.write_bytes(b"not a png")
    msg = _error(ImageFolderSource(ImageFolderParams(root=str(root), resolution=8)).dataset)
    assert str(bad) in msg and "cannot read image" in msg


def test_image_folder_unreadable_image_in_a_worker(tmp_path: Path) -> None:
    """Decoded in a DataLoader worker, the error still reaches the user as one line naming the file."""
    root = _folder(tmp_path, classes=False)
    bad = root / "zzz.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    lazy = ImageFolderSource(ImageFolderParams(root=str(root), resolution=8, in_memory=False)).dataset()
    loader = DataLoader(lazy, batch_size=7, num_workers=1)
    msg = _error(lambda: next(iter(loader)))
    assert msg.startswith(str(bad)) and "cannot read image" in msg


def test_image_folder_missing_or_empty(tmp_path: Path) -> None:
    assert "does not exist" in _error(ImageFolderSource, ImageFolderParams(root=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    assert "holds no image" in _error(ImageFolderSource, ImageFolderParams(root=str(tmp_path / "empty")))
