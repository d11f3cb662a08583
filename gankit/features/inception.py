"""``inception-v3``: the FID-standard Inception-v3, a PyTorch port of the 2015-12-05 TensorFlow graph.

The architecture is torchvision's ``Inception3`` with the changes the TensorFlow graph needs (the
``FIDInceptionA/C/E_1/E_2`` blocks of pytorch-fid and torch-fidelity): average pools that do not count the
zero padding, and a max pool in the last block's pool branch. Its weights are the reference file
``pt_inception-2015-12-05-6726825d.pth``; the parameter names are torchvision's, so that file loads as is.

* features: the 2048-d ``pool3`` output (global average pool after ``Mixed_7c``) — what FID/KID/PR use;
* logits: ``pool3 @ fc.weightᵀ`` over 1008 classes *without* the bias, as the original TensorFlow Inception
  Score code computes them (torch-fidelity calls these ``logits_unbiased``).

Preprocessing (pytorch-fid's): inputs in ``[-1, 1]`` (clamped), grey images repeated to three channels,
resized to 299×299 with bilinear interpolation (``align_corners=False``). pytorch-fid takes ``[0, 1]`` input,
resizes, then maps to ``2x − 1``; resizing commutes with that affine map, so ``[-1, 1]`` input is resized as
is. The weights are never downloaded: the user passes the file (``weights`` param or
``$GANKIT_INCEPTION_WEIGHTS``) and its sha256 is checked before it is loaded with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models import inception as tv

from gankit.errors import GankitError
from gankit.features import (
    INCEPTION_ENV,
    INCEPTION_FILE,
    INCEPTION_SHA256_PREFIX,
    INCEPTION_URL,
    InceptionParams,
)
from gankit.features.base import Extractor
from gankit.features.classifier import sha256_file
from gankit.protocols import BuildEnv

RESOLUTION = 299
PREPROCESSING_VERSION = "clamp-grey2rgb-bilinear299-v1"


def _pool_avg(x: Tensor) -> Tensor:
    # TensorFlow's average pool leaves the zero padding out of the average
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b1, b5, b3, self.branch_pool(_pool_avg(x))], 1)


class FIDInceptionC(tv.InceptionC):
    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7d = layer(b7d)
        return torch.cat([b1, b7, b7d, self.branch_pool(_pool_avg(x))], 1)


class FIDInceptionE(tv.InceptionE):
    """``Mixed_7b`` (average pool branch, ``max_pool=False``) and ``Mixed_7c`` (max pool, ``max_pool=True``)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _pool_avg(x)
        return torch.cat([b1, b3, b3d, self.branch_pool(pooled)], 1)


class FIDInceptionV3(tv.Inception3):
    """Inception-v3 with the FID blocks; ``forward`` returns ``(pool3 features (B, 2048), logits (B, 1008))``."""

    def __init__(self) -> None:
        super().__init__(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        pool3 = self.avgpool(x).flatten(1)
        return pool3, pool3 @ self.fc.weight.T


def preprocess(x: Tensor) -> Tensor:
    """Images in ``[-1, 1]``, ``(B, 1 or 3, H, W)`` -> ``(B, 3, 299, 299)`` in ``[-1, 1]``."""
    x = x.float().clamp(-1.0, 1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (RESOLUTION, RESOLUTION):
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
    return x


@contextlib.contextmanager
def _exact_convolutions() -> Iterator[None]:
    """No TF32 in cuDNN convolutions while extracting: features as close to the reference as float32 allows."""
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = previous


class InceptionExtractor(Extractor):
    name = "inception-v3"

    def __init__(self, model: FIDInceptionV3, sha256: str, batch_size: int) -> None:
        super().__init__(batch_size)
        self.module = model
        self.digest = f"inception-v3-{sha256[:16]}-{PREPROCESSING_VERSION}"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        assert self.module is not None
        with _exact_convolutions():
            return self.module(preprocess(x))


def weights_path(params: InceptionParams) -> Path:
    """The weights file the params or ``$GANKIT_INCEPTION_WEIGHTS`` name; a one-line error saying where to get
    it when neither does or the file is missing (the same check ``gankit validate`` runs)."""
    problem = params.weights_problem()
    if problem:
        raise GankitError(f"feature extractor {problem}")
    return Path(params.weights or os.environ[INCEPTION_ENV]).expanduser()


def check_hash(path: Path, params: InceptionParams) -> str:
    """The file's sha256, after checking it against ``params.sha256`` (default: the reference prefix)."""
    actual = sha256_file(path)
    if not params.verify_hash:
        warnings.warn(f"inception-v3: the sha256 of {path} is not verified (verify_hash = false); FIDs from other "
                      "weights are not comparable with published values", stacklevel=2)
        return actual
    expected = (params.sha256 or INCEPTION_SHA256_PREFIX).lower()
    if not actual.startswith(expected):
        raise GankitError(f"feature extractor 'inception-v3': {path} has sha256 {actual[:16]}…, expected "
                          f"{expected[:16]}…: not the FID reference weights {INCEPTION_FILE} (get them from "
                          f"{INCEPTION_URL}, or set the extractor's 'sha256' param for other weights)")
    return actual


def load_model(path: Path) -> FIDInceptionV3:
    model = FIDInceptionV3()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # not a state dict, or one of another network
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GankitError(f"feature extractor 'inception-v3': cannot load {path}: {type(exc).__name__}: "
                          f"{first}") from None
    return model.eval().requires_grad_(False)


def build(params: InceptionParams, env: BuildEnv) -> InceptionExtractor:
    path = weights_path(params)
    sha256 = check_hash(path, params)
    return InceptionExtractor(load_model(path), sha256, params.batch_size)

