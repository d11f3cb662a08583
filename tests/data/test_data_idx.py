"""IDX parsing (MNIST, Fashion-MNIST): the header, the exact length and the image/label agreement are checked,
and every bad file fails with a one-line GankitError naming the file and what is wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import digit_images, idx_bytes, write_mnist

from gankit.data import FashionMNISTParams, MNISTParams
from gankit.data.idx import load_split, read_idx
from gankit.data.mnist import MNISTSource
from gankit.errors import GankitError

LABELS = [3, 1, 4, 1, 5, 9, 2, 6]


def _error(fn, *args) -> str:
    with pytest.raises(GankitError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("gz", [True, False])
def test_reads_images_and_labels_gz_or_raw(tmp_path: Path, gz: bool) -> None:
    root = write_mnist(tmp_path / "m", LABELS, gz=gz)
    images, labels = load_split(root, "train")
    assert images.dtype == torch.uint8 and images.shape == (8, 28, 28)
    assert labels.tolist() == LABELS
    assert images[:, 0, 0].tolist() == [20 * d + 10 for d in LABELS]
    test_images, test_labels = load_split(root, "test")
    assert test_images.shape == (4, 28, 28) and test_labels.tolist() == LABELS[:4]


def test_raw_header_values(tmp_path: Path) -> None:
    """Magic 2051 for images and 2049 for labels, dimensions big-endian."""
    images = idx_bytes(digit_images([1, 2]))
    labels = idx_bytes(np.array([1, 2]))
    assert int.from_bytes(images[:4], "big") == 2051 and int.from_bytes(labels[:4], "big") == 2049
    assert images[4:16] == bytes.fromhex("00000002 0000001c 0000001c")
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(images)
    assert read_idx(path, 3).shape == (2, 28, 28)


def test_truncated_file(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "truncated" in msg and "(8, 28, 28)" in msg


def test_truncated_gzip(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=True)
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "cannot read" in msg


def test_not_gzip_despite_the_name(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=True)
    path = root / "train-labels-idx1-ubyte.gz"
    path.write_bytes(idx_bytes(np.array(LABELS)))  # raw bytes under a .gz name
    assert str(path) in _error(load_split, root, "train")


def test_trailing_bytes(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\0\0")
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "trailing bytes" in msg


def test_wrong_magic_labels_file_in_place_of_images(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.array(LABELS)))
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "magic 2049" in msg and "expected 2051" in msg


def test_wrong_magic_not_unsigned_bytes(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.array(LABELS), magic=0x0D01))  # float32 type code
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "expected 2049" in msg


def test_header_too_short(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(b"\0\0\x08\x03\0\0")
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "too short" in msg


def test_count_mismatch(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    (root / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array(LABELS[:5])))
    msg = _error(load_split, root, "train")
    assert "8 images" in msg and "5 labels" in msg and "train-labels-idx1-ubyte" in msg


def test_wrong_image_size(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((8, 32, 32))))
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "28×28" in msg


def test_label_out_of_range(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS, gz=False)
    path = root / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.array([*LABELS[:-1], 12])))
    msg = _error(load_split, root, "train")
    assert str(path) in msg and "12" in msg


def test_missing_file(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    msg = _error(load_split, root, "test")
    assert "data.params.root" in msg and "t10k-labels-idx1-ubyte" in msg


def test_source_scales_to_unit_range_and_pads_to_32(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS)
    for resolution in (28, 32):
        params = MNISTParams(root=str(root), resolution=resolution)
        ds = MNISTSource(params).dataset("train")
        x, y = ds.tensors
        assert x.shape == (8, *params.info().shape) == (8, 1, resolution, resolution)
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert torch.allclose(x[0, 0, resolution // 2, resolution // 2], torch.tensor(70 / 127.5 - 1))
        if resolution == 32:
            assert (x[:, :, :2] == -1).all() and (x[:, :, :, -2:] == -1).all()  # background padding


def test_limit(tmp_path: Path) -> None:
    root = write_mnist(tmp_path, LABELS)
    x, y = MNISTSource(MNISTParams(root=str(root), limit=3)).dataset("train").tensors
    assert len(x) == 3 and y.tolist() == LABELS[:3]


def _check_real(root: Path, params_cls: type[MNISTParams]) -> None:
    source = MNISTSource(params_cls(root=str(root)))
    x, y = source.dataset("train").tensors
    assert x.shape == (60_000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert y.dtype == torch.int64 and sorted(y.unique().tolist()) == list(range(10))
    assert source.dataset("test").tensors[0].shape == (10_000, 1, 28, 28)
    with gzip.open(root / "train-labels-idx1-ubyte.gz") as fh:
        first = fh.read(8 + 5)[8:]
    assert y[:5].tolist() == list(first)


def test_real_mnist(mnist_dir: Path) -> None:
    _check_real(mnist_dir, MNISTParams)
    y = MNISTSource(MNISTParams(root=str(mnist_dir))).dataset("train").tensors[1]
    assert y[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's famous first digits


def test_real_fashion_mnist(fashion_mnist_dir: Path) -> None:
    _check_real(fashion_mnist_dir, FashionMNISTParams)


def test_dotted_file_names_of_some_mirrors(tmp_path: Path) -> None:
    """``train-images.idx3-ubyte`` (a dot before idx) is found by the loader and by validation alike."""
    from gankit.data import _folder_problem

    root = write_mnist(tmp_path, LABELS, gz=False)
    for path in root.iterdir():
        path.rename(root / path.name.replace("-idx", ".idx"))
    assert _folder_problem(str(root), ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")) is None
    assert load_split(root, "train")[1].tolist() == LABELS
