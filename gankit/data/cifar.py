"""CIFAR-10/100 from the python-pickle batches, through an unpickler that can build nothing but the
numpy arrays, lists, dicts, strings and numbers those files hold: a crafted file cannot run code.

``pickle.load`` on a user's file would execute whatever callable the file names. The restricted unpickler
resolves only numpy's array/dtype/scalar reconstructors (and ``_codecs.encode`` for latin-1, which protocol-2
pickles use for ``bytes``); any other global — ``os.system``, ``builtins.eval``, a class of some installed
package — is refused with an error naming the file and the global. Object dtypes are refused too, so an
array cannot smuggle in arbitrary objects.

Sizes are bounded before anything is built: the file must be a regular file of at most
:data:`MAX_BATCH_BYTES` and is unpickled from memory (a length field cannot make the reader allocate more than
the file holds); numpy's ``_reconstruct`` and ``dtype``, which allocate what they are told, are refused
anything larger than the file; and the labels must be a flat list of integers, one per image, checked element
by element before numpy sees them (memo references let a 30 KB pickle hold nested lists of 10⁹ integers).
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from gankit.data import CIFAR10_TRAIN, CIFARParams
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo
from gankit.userfiles import UnsafeFileError, read_capped

#: the largest batch file read (CIFAR-100's ``train`` is 155 MB)
MAX_BATCH_BYTES = 512 * 2**20


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """What protocol-2 pickles call to rebuild ``bytes``; any other codec is refused."""
    if codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with codec {encoding!r}")
    return codecs.encode(text, "latin1")


def _plain_dtype(max_bytes: int, original: Any) -> Callable[..., np.dtype]:
    def dtype(*args: Any) -> np.dtype:
        made = np.dtype(*args)
        if made.hasobject:
            raise pickle.UnpicklingError("refusing a numpy array of Python objects")
        if made.itemsize > max_bytes:
            raise pickle.UnpicklingError(f"refusing a numpy dtype of {made.itemsize:,} bytes, larger than the file")
        return made

    return dtype


def _bounded_reconstruct(max_bytes: int, original: Any) -> Callable[..., Any]:
    """numpy's ``_reconstruct(subtype, shape, dtype)`` allocates ``shape``: refused beyond the file's size
    (pickled arrays start empty and get their data, from the file, afterwards)."""

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
        dims = shape if isinstance(shape, tuple) else (shape,)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise pickle.UnpicklingError(f"refusing a numpy array of shape {shape!r}")
        nbytes = math.prod(dims) * np.dtype(dtype).itemsize
        if nbytes > max_bytes:
            raise pickle.UnpicklingError(f"refusing a numpy array of {nbytes:,} bytes, larger than the file")
        return original(subtype, shape, dtype)

    return reconstruct


_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
#: what a batch may name: ``None`` is numpy's own object; a factory ``(max_bytes, numpy's object)`` builds a
#: bounded replacement
_ALLOWED: dict[tuple[str, str], Callable[[int, Any], Callable[..., Any]] | None] = {
    **{(m, "_reconstruct"): _bounded_reconstruct for m in _NUMPY_MODULES},
    **{(m, "scalar"): None for m in _NUMPY_MODULES},
    ("numpy.core.numeric", "_frombuffer"): None,  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): None,
    ("numpy", "ndarray"): None,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): lambda max_bytes, original: _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only; ``find_class`` is the single door to code and it admits numpy alone,
    with allocations bounded by ``max_bytes`` (the file's size)."""

    def __init__(self, file: Any, *, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.max_bytes = max_bytes

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        factory = _ALLOWED[(module, name)]
        original = super().find_class(module, name)
        return factory(self.max_bytes, original) if factory is not None else original


def load_batch(path: Path) -> dict[str, Any]:
    """One CIFAR batch as a dict with ``str`` keys (the files are Python 2 pickles with byte-string keys)."""
    try:
        raw = read_capped(path, MAX_BATCH_BYTES)
    except UnsafeFileError as exc:
        if str(exc) == "no such file":
            raise GankitError(f"{path}: missing CIFAR batch file") from None
        raise GankitError(f"{path}: not a valid CIFAR pickle batch: {exc}") from None
    try:
        obj = RestrictedUnpickler(io.BytesIO(raw), max_bytes=max(len(raw), 1), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            LookupError, MemoryError, OSError, RecursionError) as exc:
        raise GankitError(f"{path}: not a valid CIFAR pickle batch: {exc}") from None
    if not isinstance(obj, dict):
        raise GankitError(f"{path}: not a valid CIFAR pickle batch: top level is {type(obj).__name__}, not dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def read_arrays(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8 (N, 3072), labels int64 (N,))`` of one batch, checked."""
    batch = load_batch(path)
    missing = [k for k in ("data", label_key) if k not in batch]
    if missing:
        raise GankitError(f"{path}: CIFAR batch lacks {', '.join(repr(k) for k in missing)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise GankitError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got {what}")
    return data, _labels(path, batch[label_key], label_key, len(data))


def _labels(path: Path, raw: Any, label_key: str, count: int) -> np.ndarray:
    """``count`` labels as int64, checked to be a flat list (or 1-D integer array) before numpy converts it."""
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1 or raw.dtype.kind not in "iu":
            raise GankitError(f"{path}: '{label_key}' must be a list of integers, got a {raw.dtype} array {raw.shape}")
    elif not isinstance(raw, list | tuple):
        raise GankitError(f"{path}: '{label_key}' must be a list of integers, got {type(raw).__name__}")
    if len(raw) != count:
        raise GankitError(f"{path}: {count} images but {len(raw)} labels")
    if not isinstance(raw, np.ndarray):
        bad = next((x for x in raw if isinstance(x, bool) or not isinstance(x, int | np.integer)), None)
        if bad is not None:
            raise GankitError(f"{path}: '{label_key}' must be a list of integers, found a {type(bad).__name__}")
    try:
        return np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise GankitError(f"{path}: '{label_key}' must be a list of integers") from None


class CIFARSource:
    """CIFAR-10 (``data_batch_1..5``, ``test_batch``) or CIFAR-100 (``train``, ``test``), held in memory."""

    def __init__(self, params: CIFARParams) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        self.classes = self.info.num_classes or 10
        self._cache: dict[str, TensorDataset] = {}

    def files(self, split: str) -> tuple[list[Path], str]:
        root = Path(self.params.root)
        if self.classes == 100:
            names, key = (["train"] if split == "train" else ["test"]), "fine_labels"
        else:
            names, key = (list(CIFAR10_TRAIN) if split == "train" else ["test_batch"]), "labels"
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise GankitError(f"data.params.root: {root} has no {', '.join(missing)}")
        return [root / n for n in names], key

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        if split not in self._cache:
            files, key = self.files(split)
            parts = [read_arrays(f, key) for f in files]
            for f, (_, labels) in zip(files, parts, strict=True):
                if len(labels) and (labels.min() < 0 or labels.max() >= self.classes):
                    raise GankitError(f"{f}: labels outside 0..{self.classes - 1}")
            data = np.concatenate([p[0] for p in parts])
            labels = np.concatenate([p[1] for p in parts])
            if split == "train" and self.params.limit is not None:
                data, labels = data[: self.params.limit], labels[: self.params.limit]
            # rows are 1024 red, 1024 green, 1024 blue values, each 32×32 in row-major order
            x = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32).float().div_(127.5).sub_(1.0)
            self._cache[split] = TensorDataset(x, torch.from_numpy(labels))
        return self._cache[split]


def build(params: CIFARParams, env: BuildEnv) -> CIFARSource:
    return CIFARSource(params)
