"""Reader for the IDX format of MNIST and Fashion-MNIST (LeCun's original files, ``.gz`` or raw).

The header is checked byte by byte — magic number, element type, dimensions — before anything is allocated:
the size it declares must be non-zero, at most :data:`MAX_IDX_BYTES`, equal to the rest of a raw file, and
within what a gzip file of this size can inflate to. The data is then inflated in chunks into a buffer of
exactly that size, and one more byte is asked for, so a small ``.gz`` that inflates to gigabytes fails after
reading the declared size, not after inflating everything. A truncated download or a wrong file fails with
its path and what is wrong instead of training on garbage.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import torch

from gankit.data import idx_names
from gankit.errors import GankitError
from gankit.userfiles import UnsafeFileError, open_regular

UBYTE = 0x08
#: the most an IDX file may declare: well above every MNIST-format set (EMNIST ``byclass``: 0.55 GB)
MAX_IDX_BYTES = 2**30
#: deflate cannot inflate one byte into more than 1032 (RFC 1951's longest match per shortest code)
MAX_DEFLATE_RATIO = 1032
_CHUNK = 2**20


def find_idx(root: Path, stem: str) -> Path:
    """``root/stem.gz`` or ``root/stem`` (also the ``stem`` spelt with a dot, as some mirrors do)."""
    for name in idx_names(stem):
        if (root / name).is_file():
            return root / name
    raise GankitError(f"data.params.root: {root} has no {stem}(.gz)")


def _read_exactly(stream: BinaryIO, n: int) -> bytearray:
    """Up to ``n`` bytes, read in chunks into one preallocated buffer (shorter if the stream ends first)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        count = stream.readinto(view[got : min(n, got + _CHUNK)])  # type: ignore[attr-defined]
        if not count:
            break
        got += count
    view.release()
    del buf[got:]
    return buf


def _check_header(path: Path, head: bytes, ndim: int) -> tuple[int, ...]:
    if len(head) < 4 + 4 * ndim:
        raise GankitError(f"{path}: too short for an IDX header ({len(head)} bytes)")
    zero, dtype, dims_count = struct.unpack(">HBB", head[:4])
    expected_magic = (UBYTE << 8) | ndim
    if zero != 0 or (dtype << 8) | dims_count != expected_magic:
        raise GankitError(
            f"{path}: not an IDX file of {ndim}-d unsigned bytes (magic {int.from_bytes(head[:4], 'big')}, "
            f"expected {expected_magic})"
        )
    return struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """The uint8 array in an IDX file of ``ndim`` dimensions (3 for images, 1 for labels)."""
    header = 4 + 4 * ndim
    what = "images" if ndim == 3 else "labels" if ndim == 1 else "items"
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            stream: BinaryIO = gzip.GzipFile(fileobj=fh, mode="rb") if path.suffix == ".gz" else fh  # type: ignore[assignment]
            dims = _check_header(path, stream.read(header), ndim)
            declared = math.prod(dims)
            says = f"header says {dims} ({header + declared} bytes)"
            if declared == 0:
                raise GankitError(f"{path}: no {what} ({says})")
            if declared > MAX_IDX_BYTES:
                raise GankitError(f"{path}: {says}, more than the {MAX_IDX_BYTES:,} bytes gankit reads from one file")
            if path.suffix == ".gz" and header + declared > size * MAX_DEFLATE_RATIO:
                raise GankitError(f"{path}: truncated: {says}, more than a {size}-byte gzip file can hold")
            if path.suffix != ".gz" and size != header + declared:
                problem = "truncated" if size < header + declared else "has trailing bytes"
                raise GankitError(f"{path}: {problem}: {says}, file has {size} bytes")
            data = _read_exactly(stream, declared)
            if len(data) < declared:
                raise GankitError(f"{path}: truncated: {says}, file has {header + len(data)} bytes")
            if stream.read(1):
                raise GankitError(f"{path}: has trailing bytes: it holds more bytes than its header says ({says})")
    except UnsafeFileError as exc:
        raise GankitError(f"{path}: cannot read: {exc}") from None
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GankitError(f"{path}: cannot read: {exc} (truncated or not gzip?)") from None
    return torch.frombuffer(data, dtype=torch.uint8).view(*dims)


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
