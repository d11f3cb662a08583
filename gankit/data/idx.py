"""Reader for the IDX format of MNIST and Fashion-MNIST (LeCun's original files, ``.gz`` or raw).

The header is checked byte by byte — magic number, element type, dimensions — and the file length must equal
header + data exactly, so a truncated download or a wrong file fails with its path and what is wrong instead
of training on garbage.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import torch

from gankit.data import idx_names
from gankit.errors import GankitError

UBYTE = 0x08


def find_idx(root: Path, stem: str) -> Path:
    """``root/stem.gz`` or ``root/stem`` (also the ``stem`` spelt with a dot, as some mirrors do)."""
    for name in idx_names(stem):
        if (root / name).is_file():
            return root / name
    raise GankitError(f"data.params.root: {root} has no {stem}(.gz)")


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """The uint8 array in an IDX file of ``ndim`` dimensions (3 for images, 1 for labels)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GankitError(f"{path}: cannot read: {exc} (truncated or not gzip?)") from None
    if len(raw) < 4 + 4 * ndim:
        raise GankitError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype, dims_count = struct.unpack(">HBB", raw[:4])
    expected_magic = (UBYTE << 8) | ndim
    magic = (dtype << 8) | dims_count
    if zero != 0 or magic != expected_magic:
        raise GankitError(
            f"{path}: not an IDX file of {ndim}-d unsigned bytes (magic {int.from_bytes(raw[:4], 'big')}, "
            f"expected {expected_magic})"
        )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    header = 4 + 4 * ndim
    expected = header + math.prod(dims)
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise GankitError(f"{path}: {what}: header says {dims} ({expected} bytes), file has {len(raw)} bytes")
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).view(*dims)


def load_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 28, 28)`` and labels ``(N,)`` of ``train`` or ``t10k`` (test), checked against each other."""
    prefix = "train" if split == "train" else "t10k"
    images_path = find_idx(root, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx(root, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise GankitError(f"{images_path}: images are {tuple(images.shape[1:])}, expected 28×28")
    if len(images) != len(labels):
        raise GankitError(
            f"{root}: {len(images)} images in {images_path.name} but {len(labels)} labels in {labels_path.name}"
        )
    if len(labels) and int(labels.max()) > 9:
        raise GankitError(f"{labels_path}: label {int(labels.max())} out of range 0..9")
    return images, labels
