"""The project's small MNIST / Fashion-MNIST classifiers, used as domain feature extractors.

Inception-v3 features mean little on 28×28 grey digits, and its weights are a 91 MB download; a small CNN
trained on the data set itself gives a *domain* FID/KID/IS (comparable only within this project, THEORY.md
§4) and labels each channel of Stacked MNIST. The weights are committed under ``gankit/assets`` with their
sha256 recorded below; ``scripts/train_classifier.py`` reproduces them from the IDX files.

Input: images in ``[-1, 1]`` of shape ``(B, C, H, W)``.

* ``28×28`` is used as is; ``32×32`` (MNIST at ``resolution = 32``, padded by 2 pixels of background) is
  centre-cropped to 28×28, which undoes the padding exactly; any other size is resized bilinearly to 28×28.
* ``C = 1``: features are the 128-d penultimate layer, logits the 10 classes.
* ``C > 1`` (Stacked MNIST): each channel is classified on its own; features are the channels' features
  concatenated (``128·C``), and for ``C ≤ 3`` the logits are the joint log-probabilities of the ``10^C``
  label tuples, ``log p(d₁) + log p(d₂) + …`` indexed ``100·d₁ + 10·d₂ + d₃`` like Stacked MNIST's labels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError

ASSETS = Path(__file__).resolve().parents[1] / "assets"

#: name -> (weights file, sha256 of that file, test accuracy measured by scripts/train_classifier.py)
CLASSIFIERS: dict[str, tuple[str, str, float]] = {
    "mnist-classifier": (
        "mnist-classifier.pt", "a6ea67fa6cd8f4cc4b41f99f8d2c54f1da6dc63671565c87da98694a3e028ca7", 0.9913
    ),
    "fashion-mnist-classifier": (
        "fashion-mnist-classifier.pt", "f453812ddb9b114c1f994e54780fd672d6a22cd11a721b833cd0d02e78ad71a9", 0.8825
    ),
}

#: bump when the input handling above changes: it is part of the reference-statistics cache key
PREPROCESSING_VERSION = "crop32-bilinear28-v1"
FEATURE_DIM = 128
MAX_JOINT_CHANNELS = 3


class SmallCNN(nn.Module):
    """Three conv blocks (32, 64, 128 channels) with batch norm, global average pooling, a linear head.

    About 94k parameters (370 KB as float32). ``features`` is the pooled 128-d vector (the penultimate layer).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(1, 32), nn.MaxPool2d(2),  # 14×14
            *block(32, 64), nn.MaxPool2d(2),  # 7×7
            *block(64, 128),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def to_28(x: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, 28, 28)``: 32×32 is centre-cropped (undoing MNIST's padding), other sizes
    are resized bilinearly."""
    h, w = x.shape[-2:]
    if (h, w) == (28, 28):
        return x
    if (h, w) == (32, 32):
        return x[..., 2:30, 2:30]
    return F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_classifier(path: Path, expected_sha256: str | None) -> SmallCNN:
    """Load weights (``weights_only=True``) after checking the file's sha256 (skipped when ``None``)."""
    if not path.is_file():
        raise GankitError(f"{path}: classifier weights not found (reinstall gankit, or rerun "
                          "scripts/train_classifier.py)")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise GankitError(f"{path}: sha256 {actual[:16]}… does not match the recorded {expected_sha256[:16]}…; "
                              "the file is corrupt or was replaced (reinstall gankit)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = SmallCNN()
        model.load_state_dict(state)
    except Exception as exc:  # a file that is not this network's state dict
        raise GankitError(f"{path}: not a gankit classifier state dict ({type(exc).__name__}: {exc})") from None
    return model.eval().requires_grad_(False)


def channel_outputs(model: SmallCNN, x: Tensor) -> tuple[Tensor, Tensor]:
    """Features ``(B, C, 128)`` and logits ``(B, C, 10)`` of each channel of ``x`` (``(B, C, H, W)``)."""
    b, c = x.shape[:2]
    flat = to_28(x.float()).reshape(b * c, 1, 28, 28)
    feats = model.features(flat)
    logits = model.head(feats)
    return feats.reshape(b, c, -1), logits.reshape(b, c, -1)


def joint_log_probs(channel_logits: Tensor) -> Tensor:
    """``(B, C, K)`` per-channel logits -> ``(B, K^C)`` joint log-probabilities, first channel most significant."""
    log_p = channel_logits.log_softmax(dim=-1)
    joint = log_p[:, 0]
    for i in range(1, log_p.shape[1]):
        joint = (joint[:, :, None] + log_p[:, i, None, :]).flatten(1)
    return joint
