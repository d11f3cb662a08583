"""CIFAR-10/100 from the python-pickle batches, through an unpickler that can build nothing but the
numpy arrays, lists, dicts and strings those files hold: a crafted file cannot run code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from gankit.data import CIFARParams
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_batch(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            obj = _RestrictedUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise GankitError(f"{path}: missing CIFAR batch file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise GankitError(f"{path}: not a valid CIFAR pickle batch: {exc}") from None
    if not isinstance(obj, dict):
        raise GankitError(f"{path}: not a valid CIFAR pickle batch: top level is {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _arrays(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = load_batch(path)
    if "data" not in batch or label_key not in batch:
        raise GankitError(f"{path}: CIFAR batch lacks 'data' or '{label_key}'")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise GankitError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise GankitError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


class CIFARSource:
    def __init__(self, params: CIFARParams) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        self.classes = self.info.num_classes or 10
        self._cache: dict[str, TensorDataset] = {}

    def _files(self, split: str) -> tuple[list[Path], str]:
        root = Path(self.params.root)
        if self.classes == 100:
            return [root / ("train" if split == "train" else "test")], "fine_labels"
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        files = [root / n for n in names if (root / n).exists()] if split == "train" else [root / names[0]]
        if not files:
            raise GankitError(f"data.params.root: {root} has no data_batch_1..5")
        return files, "labels"

    def dataset(self, split: Literal["train", "test"] = "train") -> TensorDataset:
        if split not in self._cache:
            files, key = self._files(split)
            parts = [_arrays(f, key) for f in files]
            data = np.concatenate([p[0] for p in parts])
            labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
            if labels.min(initial=0) < 0 or labels.max(initial=0) >= self.classes:
                raise GankitError(f"{files[0]}: labels outside 0..{self.classes - 1}")
            if split == "train" and self.params.limit is not None:
                data, labels = data[: self.params.limit], labels[: self.params.limit]
            x = torch.from_numpy(data).view(-1, 3, 32, 32).float().div_(127.5).sub_(1.0)
            self._cache[split] = TensorDataset(x, torch.from_numpy(labels))
        return self._cache[split]


def build(params: CIFARParams, env: BuildEnv) -> CIFARSource:
    return CIFARSource(params)
