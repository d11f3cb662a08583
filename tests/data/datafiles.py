"""Writers for tiny data files in the real formats (IDX, CIFAR pickles, images), for the data tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of unsigned bytes: ``00 00 08 ndim``, big-endian dimensions, then the data."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def digit_images(labels: list[int], side: int = 28) -> np.ndarray:
    """Images whose every pixel is ``20 · label + 10``, so a test can tell which digit landed where."""
    return np.stack([np.full((side, side), 20 * d + 10, dtype=np.uint8) for d in labels])


def write_mnist(
    root: Path,
    train_labels: list[int],
    test_labels: list[int] | None = None,
    gz: bool = True,
) -> Path:
    """An MNIST-layout folder (``train-*`` and ``t10k-*`` IDX files, gzipped or raw) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    splits = {"train": train_labels, "t10k": test_labels if test_labels is not None else train_labels[:4]}
    for prefix, labels in splits.items():
        for stem, payload in (
            (f"{prefix}-images-idx3-ubyte", idx_bytes(digit_images(labels))),
            (f"{prefix}-labels-idx1-ubyte", idx_bytes(np.array(labels))),
        ):
            (root / (stem + suffix)).write_bytes(gzip.compress(payload) if gz else payload)
    return root


def cifar_batch(n: int, classes: int, start: int = 0, label_key: str = "labels") -> dict[bytes, object]:
    """A CIFAR batch as the Python 2 originals hold it: byte-string keys, a uint8 (n, 3072) array whose red
    plane is the image index, green the label and blue 7; labels a list of ints."""
    labels = [(start + i) % classes for i in range(n)]
    data = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        data[i, 0], data[i, 1], data[i, 2] = (start + i) % 256, label, 7
    return {
        b"batch_label": b"testing batch",
        label_key.encode(): labels,
        b"data": data.reshape(n, 3072),
        b"filenames": [f"img_{start + i}.png".encode() for i in range(n)],
    }


def write_pickle(path: Path, obj: object, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def write_cifar10(root: Path, per_batch: int = 3, protocol: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(5):
        write_pickle(root / f"data_batch_{i + 1}", cifar_batch(per_batch, 10, start=i * per_batch), protocol)
    write_pickle(root / "test_batch", cifar_batch(per_batch, 10, start=100), protocol)
    return root


def write_cifar100(root: Path, n: int = 6) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, start in (("train", 0), ("test", 50)):
        batch = cifar_batch(n, 100, start=start, label_key="fine_labels")
        batch[b"coarse_labels"] = [label // 5 for label in batch[b"fine_labels"]]  # type: ignore[attr-defined]
        write_pickle(root / name, batch)
    return root


def write_png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path
