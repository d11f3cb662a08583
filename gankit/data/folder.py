"""A folder of images: resized (shorter side) and centre-cropped to a square, scaled to ``[-1, 1]``.

Every file with an image suffix is used; one that PIL cannot decode is an error naming its path — a data set
silently missing files is worse than a clear failure. Small sets (``in_memory``, by default when the decoded
float32 set fits in ``max_memory_mb``) are decoded once into a ``TensorDataset`` that the engine keeps on the
training device; larger ones are a lazy ``Dataset`` decoded in DataLoader workers (``run.num_workers``), which
the engine feeds with pinned memory and persistent workers.

An image's size is read from its header before it is decoded: one over Pillow's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, 89 megapixels by default; Pillow itself only warns up to twice that) is an
error naming the file, so one hostile file cannot make the loader allocate gigabytes. The same checks serve
``gankit eval --real/--fake`` folders: :func:`probe_image` reads sizes from headers, :func:`folder_target_size`
picks one sane size (the most common, at most :data:`EVAL_MAX_SIDE` a side; never the largest file), and
:func:`read_image_uint8` decodes each file straight to it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


#: Pillow's default ``MAX_IMAGE_PIXELS`` (used when a program has set it to ``None``)
DEFAULT_MAX_PIXELS = 89_478_485
#: the longest side an eval folder's images are resized to (above Inception's 299-pixel input)
EVAL_MAX_SIDE = 512
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, EOFError)


def max_image_pixels() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS)


@contextmanager
def open_image(path: Path) -> Iterator[Any]:
    """``PIL.Image.open(path)`` with the decompression-bomb limit enforced as an error from the header alone
    (before any pixel is decoded); every failure is an :class:`UnreadableImageError` naming the file."""
    from PIL import Image

    limit = max_image_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        raise UnreadableImageError(
            f"{path}: image is over the decompression-bomb limit of {limit:,} pixels (PIL.Image.MAX_IMAGE_PIXELS)"
        ) from None
    except _READ_ERRORS as exc:
        raise UnreadableImageError(f"{path}: cannot read image: {exc}") from None
    with img:
        width, height = img.size
        if width * height > limit:
            raise UnreadableImageError(
                f"{path}: image is {width}×{height} ({width * height:,} pixels), over the decompression-bomb "
                f"limit of {limit:,} pixels (PIL.Image.MAX_IMAGE_PIXELS)"
            )
        yield img


def _decode(path: Path, img: Any, mode: str, draft_size: tuple[int, int]) -> Any:
    """``img`` decoded and converted to ``mode``; JPEGs are decoded at the smallest scale still at least
    ``draft_size`` (width, height)."""
    try:
        img.draft(mode, draft_size)
        return img.convert(mode)
    except _READ_ERRORS as exc:
        raise UnreadableImageError(f"{path}: cannot read image: {exc}") from None


def load_image(path: Path, resolution: int, channels: int) -> torch.Tensor:
    """Decode, resize the shorter side to ``resolution`` (bilinear, antialiased) and centre-crop; ``[-1, 1]``."""
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    with open_image(path) as img:
        width, height = img.size
        scale = resolution / max(1, min(width, height))
        x = pil_to_tensor(_decode(path, img, "RGB" if channels == 3 else "L",
                                  (max(1, round(width * scale)), max(1, round(height * scale)))))
    x = resize(x, [resolution], antialias=True)
    x = center_crop(x, [resolution, resolution])
    return x.float().div_(127.5).sub_(1.0)


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says: ``size`` as ``(height, width)`` and whether it is single-channel."""

    size: tuple[int, int]
    grey: bool


def probe_image(path: Path) -> ImageHeader:
    """Size and colour of an image from its header alone (the bomb limit enforced); nothing is decoded."""
    with open_image(path) as img:
        return ImageHeader(size=(img.height, img.width), grey=img.mode in ("1", "L", "LA", "I", "I;16", "F"))


def folder_target_size(sizes: Sequence[tuple[int, int]], max_side: int = EVAL_MAX_SIDE) -> tuple[int, int]:
    """One ``(height, width)`` for every image of an eval folder: the most common size (the smallest area
    among equally common ones), scaled down to at most ``max_side`` a side. One odd file cannot change it."""
    if not sizes:
        raise ValueError("no image sizes")
    counts = Counter(sizes)
    height, width = min(counts, key=lambda hw: (-counts[hw], hw[0] * hw[1], hw))
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def read_image_uint8(path: Path, size: tuple[int, int], channels: int) -> torch.Tensor:
    """One image as uint8 ``(channels, height, width)`` of exactly ``size`` (bilinear resize when it differs)."""
    import numpy as np
    from PIL import Image

    height, width = size
    with open_image(path) as img:
        img = _decode(path, img, "L" if channels == 1 else "RGB", (width, height))
        if (img.height, img.width) != (height, width):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8).reshape(height, width, channels)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


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


def read_image_folders(real_files: Sequence[Path], fake_files: Sequence[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``gankit eval --real/--fake`` as uint8 ``(N, C, H, W)`` of one channel count and size.

    Headers are read first (every unreadable or oversized file is reported at once, one line each); the
    size is :func:`folder_target_size` of the real images and the channels are 1 only when every image is
    grey; then each file is decoded straight into its slot, so memory is the two tensors plus one image."""
    headers: dict[Path, ImageHeader] = {}
    bad: list[str] = []
    for path in [*real_files, *fake_files]:
        try:
            headers[path] = probe_image(path)
        except UnreadableImageError as exc:
            bad.append(str(exc))
    if bad:
        shown = bad[:20] + ([f"... and {len(bad) - 20} more unreadable files"] if len(bad) > 20 else [])
        raise GankitError("\n".join(shown))
    channels = 1 if all(h.grey for h in headers.values()) else 3
    size = folder_target_size([headers[p].size for p in real_files])

    def decode(files: Sequence[Path]) -> torch.Tensor:
        out = torch.empty((len(files), channels, *size), dtype=torch.uint8)
        for i, path in enumerate(files):
            out[i] = read_image_uint8(path, size, channels)
        return out

    return decode(real_files), decode(fake_files)
