"""``mnist-classifier`` and ``fashion-mnist-classifier``: the packaged small CNNs as feature extractors."""

from __future__ import annotations

from torch import Tensor

from gankit.features import FASHION_CLASSIFIER, MNIST_CLASSIFIER, ClassifierParams
from gankit.features.base import Extractor
from gankit.features.classifier import (
    ASSETS,
    CLASSIFIERS,
    MAX_JOINT_CHANNELS,
    PREPROCESSING_VERSION,
    SmallCNN,
    channel_outputs,
    joint_log_probs,
    load_classifier,
)
from gankit.protocols import BuildEnv


class ClassifierExtractor(Extractor):
    """Features: the 128-d penultimate layer (channels concatenated); logits: 10 classes, or the joint
    ``10^C`` label tuples of a ``C``-channel stack (``C ≤ 3``). See :mod:`gankit.features.classifier`."""

    def __init__(self, name: str, model: SmallCNN, sha256: str, batch_size: int) -> None:
        super().__init__(batch_size)
        self.name = name
        self.module = model
        self.digest = f"{name}-{sha256[:16]}-{PREPROCESSING_VERSION}"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        feats, logits = channel_outputs(self.model, x)
        if x.shape[1] == 1:
            return feats[:, 0], logits[:, 0]
        joint = joint_log_probs(logits) if x.shape[1] <= MAX_JOINT_CHANNELS else None
        return feats.flatten(1), joint

    def channel_logits(self, x: Tensor) -> Tensor:
        """Per-channel logits ``(B, C, 10)`` (labels for each digit of Stacked MNIST)."""
        return channel_outputs(self.model, x)[1]

    @property
    def model(self) -> SmallCNN:
        assert isinstance(self.module, SmallCNN)
        return self.module


def load_packaged(name: str, batch_size: int = 1000) -> ClassifierExtractor:
    """The packaged classifier ``name``, its file checked against the sha256 recorded in ``CLASSIFIERS``."""
    filename, sha256, _accuracy = CLASSIFIERS[name]
    model = load_classifier(ASSETS / filename, sha256)
    return ClassifierExtractor(name, model, sha256, batch_size)


def build_mnist(params: ClassifierParams, env: BuildEnv) -> ClassifierExtractor:
    return load_packaged(MNIST_CLASSIFIER, params.batch_size)


def build_fashion(params: ClassifierParams, env: BuildEnv) -> ClassifierExtractor:
    return load_packaged(FASHION_CLASSIFIER, params.batch_size)
