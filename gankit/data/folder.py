"""A folder of images: resized (shorter side) and centre-cropped to a square, scaled to ``[-1, 1]``.

Every file with an image suffix is used; one that PIL cannot decode is an error naming its path — a data set
silently missing files is worse than a clear failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset, TensorDataset

from gankit.data import IMAGE_SUFFIXES, ImageFolderParams
from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo


def list_images(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    if classes:
        items = [(p, i) for i, c in enumerate(classes) for p in sorted((root / c).rglob("*"))]
    else:
        items = [(p, -1) for p in sorted(root.rglob("*"))]
    return [(p, label) for p, label in items if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def load_image(path: Path, resolution: int, channels: int) -> torch.Tensor:
    """Decode, resize the shorter side to ``resolution`` (bilinear, antialiased) and centre-crop."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
            x = pil_to_tensor(img)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise GankitError(f"{path}: cannot read image: {exc}") from None
    x = resize(x, [resolution], antialias=True)
    x = center_crop(x, [resolution, resolution])
    return x.float().div_(127.5).sub_(1.0)


class ImageFolderDataset(Dataset):
    """Decodes lazily (in loader workers); used when ``in_memory = false``."""

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
        self._dataset: Dataset | None = None

    def dataset(self, split: Literal["train", "test"] = "train") -> Dataset:
        # a folder has one split: metrics compare against the same images
        if self._dataset is None:
            p = self.params
            lazy = ImageFolderDataset(self.items, p.resolution, p.channels)
            if p.in_memory:
                images = torch.stack([lazy[i][0] for i in range(len(lazy))])
                labels = torch.tensor([label for _, label in self.items], dtype=torch.long)
                self._dataset = TensorDataset(images, labels)
            else:
                self._dataset = lazy
        return self._dataset


def build(params: ImageFolderParams, env: BuildEnv) -> ImageFolderSource:
    return ImageFolderSource(params)
