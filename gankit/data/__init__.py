"""Built-in data sets (a gankit plugin: registered through the ``gankit`` entry-point group).

Params models live here, torch-free; the loaders live in the submodules and are imported only on build.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import DataInfo

if TYPE_CHECKING:
    from gankit.spec import Spec


class RingParams(Params):
    """A ring of Gaussians; defaults are the VEEGAN/PacGAN protocol (8 modes, radius 1, std 0.01)."""

    modes: int = Field(8, ge=2, le=1000, description="Number of Gaussians on the circle.")
    radius: float = Field(1.0, gt=0, description="Radius of the circle.")
    std: float = Field(0.01, gt=0, description="Standard deviation of each Gaussian.")
    n_samples: int = Field(100_000, gt=0, description="Training samples drawn once (with the run's seed).")

    def centres(self) -> tuple[tuple[float, float], ...]:
        return tuple(
            (self.radius * math.cos(2 * math.pi * k / self.modes), self.radius * math.sin(2 * math.pi * k / self.modes))
            for k in range(self.modes)
        )

    def info(self) -> DataInfo:
        return DataInfo(shape=(2,), num_classes=self.modes, value_range=(-math.inf, math.inf),
                        modes=self.centres(), mode_std=self.std, key=f"ring-{self.modes}-{self.radius}-{self.std}")


class GridParams(Params):
    """A square grid of Gaussians; defaults are the VEEGAN/PacGAN protocol (5×5 at {−4,…,4}², std 0.05)."""

    size: int = Field(5, ge=2, le=30, description="Gaussians per side.")
    spacing: float = Field(2.0, gt=0, description="Distance between neighbouring centres.")
    std: float = Field(0.05, gt=0, description="Standard deviation of each Gaussian.")
    n_samples: int = Field(100_000, gt=0, description="Training samples drawn once (with the run's seed).")

    def centres(self) -> tuple[tuple[float, float], ...]:
        offset = (self.size - 1) / 2
        coords = [(i - offset) * self.spacing for i in range(self.size)]
        return tuple((x, y) for x in coords for y in coords)

    def info(self) -> DataInfo:
        return DataInfo(shape=(2,), num_classes=self.size**2, value_range=(-math.inf, math.inf),
                        modes=self.centres(), mode_std=self.std, key=f"grid-{self.size}-{self.spacing}-{self.std}")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def idx_names(stem: str) -> tuple[str, ...]:
    """File names an IDX file may have, preferred first: ``stem.gz``, ``stem``, and the same with the dot some
    mirrors use (``train-images.idx3-ubyte``)."""
    dotted = stem.replace("-idx", ".idx")
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


def _folder_problem(root: str, required: tuple[str, ...]) -> str | None:
    """Why ``root`` cannot hold this data set (checked by ``gankit validate``), or ``None``."""
    path = Path(root)
    if not path.is_dir():
        return f"folder '{root}' does not exist" if not path.exists() else f"'{root}' is not a folder"
    for stem in required:
        if not any((path / name).is_file() for name in idx_names(stem)):
            return f"'{root}' has no {stem}(.gz)"
    return None


class MNISTParams(Params):
    """MNIST from the original IDX files (``train-images-idx3-ubyte[.gz]`` ...) in ``root``; held in memory as
    float32 in ``[-1, 1]`` (60,000 × 28 × 28: 188 MB), labels 0–9."""

    root: str = Field(..., description="Folder holding the four IDX files (.gz or raw).")
    resolution: Literal[28, 32] = Field(28, description="28 (native) or 32 (padded with background).")
    limit: int | None = Field(None, gt=0, description="Use only the first N training images (quick runs).")

    _name: ClassVar[str] = "mnist"

    def info(self) -> DataInfo:
        r = self.resolution
        limit = f"-first{self.limit}" if self.limit else ""
        return DataInfo(shape=(1, r, r), num_classes=10, key=f"{self._name}-{r}{limit}")

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        problem = _folder_problem(self.root, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"))
        if problem:
            yield "root", problem


class FashionMNISTParams(MNISTParams):
    """Fashion-MNIST (Zalando) from the original IDX files in ``root``; held in memory."""

    _name: ClassVar[str] = "fashion-mnist"


class StackedMNISTParams(MNISTParams):
    """Stacked MNIST: three random MNIST digits as the three channels of one image — 1,000 modes, labelled
    ``100·d₁ + 10·d₂ + d₃`` (VEEGAN/PacGAN)."""

    root: str = Field(..., description="Folder holding MNIST's IDX files (.gz or raw).")
    limit: int | None = Field(None, gt=0, description="Draw the digits from only the first N MNIST training images.")
    n_samples: int = Field(60_000, gt=0, description="Stacked images drawn once (with the run's seed).")

    def info(self) -> DataInfo:
        # the stacks also depend on run.seed: the built source adds it to the key
        r = self.resolution
        limit = f"-first{self.limit}" if self.limit else ""
        return DataInfo(shape=(3, r, r), num_classes=1000, key=f"stacked-mnist-{r}-{self.n_samples}{limit}")


CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


class CIFARParams(Params):
    """CIFAR-10/100 from the standard python-pickle batches in ``root`` (read with a restricted unpickler)."""

    root: str = Field(..., description="Folder holding data_batch_1 .. data_batch_5 and test_batch.")
    limit: int | None = Field(None, gt=0, description="Use only the first N training images.")

    _classes: ClassVar[int] = 10
    _train: ClassVar[tuple[str, ...]] = CIFAR10_TRAIN

    def info(self) -> DataInfo:
        limit = f"-first{self.limit}" if self.limit else ""
        return DataInfo(shape=(3, 32, 32), num_classes=self._classes, key=f"cifar{self._classes}{limit}")

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        path = Path(self.root)
        if not path.is_dir():
            yield "root", f"folder '{self.root}' does not exist"
        elif missing := [name for name in self._train if not (path / name).is_file()]:
            yield "root", f"'{self.root}' has no {', '.join(missing)}"


class CIFAR100Params(CIFARParams):
    """CIFAR-100 (fine labels) from the python-pickle files ``train`` and ``test`` in ``root``."""

    root: str = Field(..., description="Folder holding the files train and test.")

    _classes: ClassVar[int] = 100
    _train: ClassVar[tuple[str, ...]] = ("train",)


class ImageFolderParams(Params):
    """Any folder of images, resized (shorter side) and centre-cropped to ``resolution``. Class subfolders,
    if every image lies in one, become labels."""

    root: str = Field(..., description="Folder of images, or of one subfolder per class.")
    resolution: int = Field(64, ge=8, le=1024, description="Side of the square images produced.")
    channels: Literal[1, 3] = Field(3, description="3 (RGB) or 1 (grey).")
    in_memory: bool | Literal["auto"] = Field(
        "auto", description="true: decode every image once at start and hold the set on the training device "
        "(fast; a bad file is found at once); false: decode in DataLoader workers on every read (sets larger "
        "than memory); auto: in memory when the decoded set fits in max_memory_mb."
    )
    max_memory_mb: int = Field(
        2048, gt=0, description="Largest decoded set (float32, MiB) that in_memory = \"auto\" holds in memory."
    )

    def decoded_mb(self, n_images: int) -> float:
        """MiB of ``n_images`` decoded float32 samples."""
        return n_images * self.channels * self.resolution**2 * 4 / 2**20

    def hold_in_memory(self, n_images: int) -> bool:
        if self.in_memory == "auto":
            return self.decoded_mb(n_images) <= self.max_memory_mb
        return bool(self.in_memory)

    def classes(self) -> list[str]:
        path = Path(self.root)
        if not path.is_dir():
            return []
        subdirs = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        return subdirs if subdirs and not loose else []

    def info(self) -> DataInfo:
        classes = self.classes()
        r = self.resolution
        return DataInfo(shape=(self.channels, r, r), num_classes=len(classes) or None,
                        key=f"folder-{Path(self.root).resolve()}-{self.channels}-{r}")

    def check(self, spec: Spec) -> Iterator[tuple[str, str]]:
        path = Path(self.root)
        if not path.is_dir():
            yield "root", f"folder '{self.root}' does not exist"
        elif not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*") if p.is_file()):
            yield "root", f"'{self.root}' holds no image ({', '.join(IMAGE_SUFFIXES)})"


@hookimpl
def register_data(register) -> None:  # type: ignore[no-untyped-def]
    register("ring", RingParams, "gankit.data.mixtures:build", "2-D ring of Gaussians (VEEGAN/PacGAN ring-8)")
    register("grid", GridParams, "gankit.data.mixtures:build", "2-D grid of Gaussians (VEEGAN/PacGAN grid-25)")
    register("mnist", MNISTParams, "gankit.data.mnist:build", "MNIST digits from IDX files")
    register("fashion-mnist", FashionMNISTParams, "gankit.data.mnist:build", "Fashion-MNIST from IDX files")
    register("stacked-mnist", StackedMNISTParams, "gankit.data.mnist:build_stacked",
             "Stacked MNIST: 3 digits as RGB, 1,000 modes")
    register("cifar10", CIFARParams, "gankit.data.cifar:build", "CIFAR-10 from python-pickle batches")
    register("cifar100", CIFAR100Params, "gankit.data.cifar:build", "CIFAR-100 from python-pickle files")
    register("image-folder", ImageFolderParams, "gankit.data.folder:build", "A folder of images (any format PIL reads)")
