"""Built-in feature extractors for FID/KID/IS/precision-recall (a gankit plugin: ``register_feature_extractors``).

A feature extractor maps a batch of samples (images in ``[-1, 1]``) to features ``(B, D)`` and, when it is a
classifier, to class logits ``(B, K)``. Metrics name one in their ``extractor`` param; ``"auto"`` picks by
data set (:func:`auto_extractor`). The factories (``factory(params, env)``) return a
:class:`gankit.features.base.Extractor`; they live in submodules that import torch. Everything here is
torch-free, so ``gankit validate`` can check a metric's extractor against the data set.

Nothing downloads at run time: ``inception-v3`` reads a weights file the user provides (path in the params or
``$GANKIT_INCEPTION_WEIGHTS``) and checks its sha256; the MNIST classifiers ship inside the package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import DataInfo, ExtractorDeclarations

INCEPTION_ENV = "GANKIT_INCEPTION_WEIGHTS"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
#: the hub convention: the hex in the file name is the start of the file's sha256
INCEPTION_SHA256_PREFIX = "6726825d"


class ExtractorParams(Params, ExtractorDeclarations):
    """What every extractor shares; subclasses declare which data they accept (``data_problem``) and whether
    they give class logits (``has_logits``): see :class:`gankit.protocols.ExtractorDeclarations`."""

    batch_size: int = Field(256, gt=0, description="Samples per forward pass.")


class InceptionParams(ExtractorParams):
    """The FID-standard Inception-v3 (TensorFlow port): 2048-d pool3 features, 1008-class logits."""

    batch_size: int = Field(64, gt=0, description="Images per forward pass (299×299 each).")
    weights: str | None = Field(
        None, description=f"Path of {INCEPTION_FILE} (default: ${INCEPTION_ENV}). Never downloaded at run time."
    )
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{8,64}$",
        description=f"Expected sha256 (or a prefix of at least 8 hex digits) of the weights file; default: the "
        f"reference file's prefix {INCEPTION_SHA256_PREFIX}.",
    )
    verify_hash: bool = Field(
        True, description="Check the weights file's sha256. false skips the check with a warning: FIDs from "
        "other weights are not comparable with published ones.",
    )

    def data_problem(self, info: DataInfo) -> str | None:
        if not info.is_image or info.shape[0] not in (1, 3):
            return f"inception-v3 reads grey or RGB images, not samples of shape {info.shape}"
        return None

    def weights_problem(self) -> str | None:
        """Why the weights file cannot be read (none named, or not a file), or ``None``. Torch-free, so
        ``gankit validate`` reports it before ``train``/``eval`` would fail on it."""
        where = (f"fetch it once from {INCEPTION_URL} and set {INCEPTION_ENV}=/path/to/{INCEPTION_FILE} "
                 "(or the extractor's 'weights' param); gankit never downloads at run time")
        raw = self.weights or os.environ.get(INCEPTION_ENV, "")
        if not raw:
            return f"inception-v3 needs the FID Inception weights {INCEPTION_FILE}: {where}"
        path = Path(raw).expanduser()
        if not path.is_file():
            source = "weights param" if self.weights else f"${INCEPTION_ENV}"
            return f"inception-v3: {path} (from the {source}) is not a file: {where}"
        return None

    def problems(self) -> Iterator[tuple[str, str]]:
        """``(field, message)`` for what is wrong with these params on this machine (the weights file)."""
        problem = self.weights_problem()
        if problem:
            yield "weights", problem


class ClassifierParams(ExtractorParams):
    """gankit's small CNN trained on the data set itself: 128-d features, 10-class logits (per channel)."""

    batch_size: int = Field(1000, gt=0, description="Images per forward pass.")

    def data_problem(self, info: DataInfo) -> str | None:
        if not info.is_image:
            return f"the MNIST-style classifiers read images, not samples of shape {info.shape}"
        return None


class RawParams(ExtractorParams):
    """The samples themselves, flattened: for 2-D points (precision/recall, density/coverage)."""

    batch_size: int = Field(65536, gt=0, description="Samples per batch.")
    has_logits: ClassVar[bool] = False


class ImportParams(ExtractorParams):
    """A user's own extractor, ``module:callable``; needs ``--allow-imports`` (a spec must not run code)."""

    target: str = Field(
        ..., pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="'package.module:callable'. Called with kwargs, it returns an nn.Module (or callable) "
        "mapping images in [-1, 1] to features (B, D), or to (features, logits). An optional string attribute "
        "'digest' (weights + preprocessing) lets gankit cache reference statistics on disk.",
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the callable.")
    has_logits: ClassVar[bool] = True  # only known once built; the Inception Score checks then


#: extractor names "auto" may resolve to
MNIST_CLASSIFIER = "mnist-classifier"
FASHION_CLASSIFIER = "fashion-mnist-classifier"
INCEPTION = "inception-v3"
RAW = "raw"


def auto_extractor(info: DataInfo) -> str:
    """The extractor ``"auto"`` means for a data set: the raw samples for points, the project's classifiers
    for MNIST-family data (keyed by ``DataInfo.key``), the FID Inception-v3 for every other image set."""
    if not info.is_image:
        return RAW
    if info.key.startswith("fashion-mnist"):
        return FASHION_CLASSIFIER
    if info.key.startswith(("mnist", "stacked-mnist")):
        return MNIST_CLASSIFIER
    return INCEPTION


@hookimpl
def register_feature_extractors(register) -> None:  # type: ignore[no-untyped-def]
    register(INCEPTION, InceptionParams, "gankit.features.inception:build",
             "FID Inception-v3 (TF port): pool3 2048-d, 1008 logits; weights file from the user")
    register(MNIST_CLASSIFIER, ClassifierParams, "gankit.features.mnist:build_mnist",
             "gankit's MNIST CNN: 128-d features, 10 logits; Stacked MNIST channel by channel")
    register(FASHION_CLASSIFIER, ClassifierParams, "gankit.features.mnist:build_fashion",
             "gankit's Fashion-MNIST CNN: 128-d features, 10 logits")
    register(RAW, RawParams, "gankit.features.raw:build", "The samples themselves, flattened (2-D points)")
    register("import", ImportParams, "gankit.features.imported:build",
             "Your own network by import path (needs --allow-imports)")
