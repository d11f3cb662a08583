"""A folder of images: resized (shorter side) and centre-cropped to a square, scaled to ``[-1, 1]``.

Every file with an image suffix is used; one that PIL cannot decode is an error naming its path — a data set
silently missing files is worse than a clear failure. Small sets (``in_memory``, by default when the decoded
float32 set fits in ``max_memory_mb``) are decoded once into a ``TensorDataset`` that the engine keeps on the
training device; larger ones are a lazy ``Dataset`` decoded in DataLoader workers (``run.num_workers``), which
the engine feeds with pinned memory and persistent workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset, TensorDataset

from gankit.data import IMAGE_SUFFIXES, ImageFolderParams
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo


class UnreadableImageError(GankitError):
    """An image file that cannot be decoded. Raised inside a DataLoader worker, PyTorch re-raises it in the
    main process as ``UnreadableImageError("Caught ... Original Traceback ...")``; the constructor keeps only
    the original one-line message (path and reason), so the user still sees one line."""

    def __init__(self, message: str) -> None:
        if "Traceback" in message:
            last = message.rstrip().splitlines()[-1]
            message = last.split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(message)


def list_images(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """``(path, label)`` of every image file, sorted; labels index ``classes`` (``-1`` without classes)."""
    if classes:
        items = [(p, i) for i, c in enumerate(classes) for p in sorted((root / c).rglob("*"))]
    else:
        items = [(p, -1) for p in sorted(root.rglob("*"))]
    return [(p, label) for p, label in items if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def load_image(path: Path, resolution: int, channels: int) -> torch.Tensor:
    """Decode, resize the shorter side to ``resolution`` (bilinear, antialiased) and centre-crop; ``[-1, 1]``."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
            x = pil_to_tensor(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnreadableImageError(f"{path}: cannot read image: {exc}") from None
    x = resize(x, [resolution], antialias=True)
    x = center_crop(x, [resolution, resolution])
    return x.float().div_(127.5).sub_(1.0)


class ImageFolderDataset(Dataset):
    """Decodes on every read (in loader workers): for sets that do not fit in memory."""

    def __init__(self, items: list[tuple[Path, int]], resolution: int, channels: int) -> None:
        self.items, self.resolution, self.channels = items, resolution, channels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        return load_image(path, self.resolution, self.channels), label


class ImageFolderSource:
    def __init__(self, params: ImageFolderParams) -> None:
        self.params = params
        self.info: DataInfo = params.info()
        root = Path(params.root)
        if not root.is_dir():
            raise GankitError(f"data.params.root: folder '{params.root}' does not exist")
        self.items = list_images(root, params.classes())
        if not self.items:
            raise GankitError(f"data.params.root: '{params.root}' holds no image ({', '.join(IMAGE_SUFFIXES)})")
        self.in_memory = params.hold_in_memory(len(self.items))
        self._dataset: Dataset | None = None

    def dataset(self, split: Literal["train", "test"] = "train") -> Dataset:
        # a folder has one split: metrics compare against the same images
        if self._dataset is None:
            p = self.params
            lazy = ImageFolderDataset(self.items, p.resolution, p.channels)
            if self.in_memory:
                images = torch.stack([lazy[i][0] for i in range(len(lazy))])
                labels = torch.tensor([label for _, label in self.items], dtype=torch.long)
                self._dataset = TensorDataset(images, labels)
            else:
                self._dataset = lazy
        return self._dataset


def build(params: ImageFolderParams, env: BuildEnv) -> ImageFolderSource:
    return ImageFolderSource(params)
