"""Built-in metrics (a gankit plugin registered through the ``gankit`` entry-point group).

Params models live here, torch-free, with the checks ``gankit validate`` runs against the data set (FID on 2-D
points, an extractor that cannot read the data, Stacked MNIST modes on other data); each metric lives in a
submodule that imports torch (definitions: THEORY.md §4). Feature metrics name a feature extractor
(``extractor``, default ``"auto"``: see :func:`gankit.features.auto_extractor`) and share its features within
one evaluation; reference statistics of the real data are cached on disk (:mod:`gankit.metrics.features`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from gankit.capabilities import data_info, metric_problems
from gankit.features import MNIST_CLASSIFIER, auto_extractor
from gankit.hookspecs import hookimpl
from gankit.params import Params
from gankit.protocols import DataInfo, MetricDeclarations, MetricNeed

if TYPE_CHECKING:
    from gankit.plugins import Registry
    from gankit.spec import Spec

Problems = Iterator[tuple[str, str]]


class MetricParams(Params, MetricDeclarations):
    """Base of the built-in metrics' params: declared needs (checked by :mod:`gankit.capabilities` for
    ``validate`` and the build) plus each metric's own checks in :meth:`own_problems`."""

    #: the metric's registered name, for messages
    metric: ClassVar[str] = ""

    def own_problems(self, info: DataInfo | None) -> Problems:
        """Problems particular to this metric (beyond its declared needs); ``info`` ``None``: unknown data."""
        return iter(())

    def problems(self, info: DataInfo | None, registry: Registry | None = None) -> Problems:
        """Everything wrong with these params for data ``info``: declared needs, then the metric's own checks.
        ``registry`` resolves the extractor; validation passes the spec's, a factory may leave the default
        (the process registry, which is the one that built it)."""
        if registry is None:
            from gankit.plugins import get_registry

            registry = get_registry()
        found = list(metric_problems(self, self.metric, info, registry))
        yield from found
        if not any(field == "" for field, _ in found):  # the data itself does not fit: nothing else matters
            yield from self.own_problems(info)

    def check(self, spec: Spec) -> Problems:
        # the declared needs are checked once, by gankit.capabilities; here only what is particular
        yield from self.own_problems(data_info(spec))


class ModeCoverageParams(MetricParams):
    """Modes captured, high-quality share and reverse KL to uniform, for data with known mode centres."""

    needs: ClassVar[frozenset[MetricNeed]] = frozenset({"modes"})
    hint: ClassVar[str] = "e.g. data 'ring' or 'grid'; for Stacked MNIST use stacked-mnist-modes"
    metric: ClassVar[str] = "mode-coverage"

    n_samples: int = Field(2500, gt=0, description="Generated samples to classify (the protocol uses 2,500).")
    quality_std: float = Field(3.0, gt=0, description="A sample is high quality within this many std of a mode.")


class FeatureMetricParams(MetricParams):
    """What every feature metric shares: the extractor and how many generated samples."""

    extractor: str = Field(
        "auto", description="Feature extractor (see 'gankit list-plugins'); auto: mnist-classifier for MNIST and "
        "Stacked MNIST, fashion-mnist-classifier for Fashion-MNIST, raw samples for points, inception-v3 otherwise.",
    )
    extractor_params: dict[str, Any] = Field(
        default_factory=dict, description="Params of the extractor, e.g. { weights = \"/path/to/file.pth\" }."
    )
    n_samples: int = Field(10_000, ge=2, description="Generated samples (published numbers often use 50,000).")

    needs: ClassVar[frozenset[MetricNeed]] = frozenset({"images"})
    hint: ClassVar[str] = "for points use precision-recall, density-coverage or mode-coverage"
    extractor_override: ClassVar[bool] = True

    def extractor_name(self, info: DataInfo | None) -> str | None:
        if self.extractor != "auto":
            return self.extractor
        return auto_extractor(info) if info is not None else None

    def extractor_config(self) -> dict[str, Any]:
        return self.extractor_params


Split = Literal["train", "test"]
SPLIT_DESCRIPTION = "Split of the real data the generated samples are compared with."


class FIDParams(FeatureMetricParams):
    """Fréchet distance between Gaussians fitted to real and generated features."""

    n_real: int = Field(
        50_000, ge=2, description="Real samples for the reference statistics (the whole split when smaller)."
    )
    split: Split = Field("train", description=SPLIT_DESCRIPTION)
    metric: ClassVar[str] = "fid"


class KIDParams(FeatureMetricParams):
    """Kernel Inception Distance: unbiased polynomial-kernel MMD², averaged over subsets."""

    subsets: int = Field(100, gt=0, description="Random subsets averaged over.")
    n_samples: int = Field(10_000, ge=4, description="Generated samples (published numbers often use 50,000).")
    subset_size: int = Field(
        1000, ge=2, description="Samples per subset. At most half the smaller set is used (a subset as large as "
        "the set is the set itself: the same value every time); the size used is then reported as "
        "kid/subset_size.",
    )
    split: Split = Field("train", description=SPLIT_DESCRIPTION + " n_samples real samples are used.")
    metric: ClassVar[str] = "kid"


class ISParams(FeatureMetricParams):
    """Inception Score exp(E KL(p(y|x) ‖ p(y))) from the extractor's class logits; never looks at real data."""

    splits: int = Field(10, gt=0, description="Splits the samples are scored in (mean and std reported).")
    metric: ClassVar[str] = "is"
    needs: ClassVar[frozenset[MetricNeed]] = frozenset({"images", "logits"})


class PrecisionRecallParams(FeatureMetricParams):
    """Improved precision and recall (Kynkäänniemi et al. 2019) from k-NN manifolds of the features."""

    k: int = Field(3, gt=0, description="Neighbour whose distance is each sample's ball radius.")
    split: Split = Field("train", description=SPLIT_DESCRIPTION + " n_samples real samples are used.")
    metric: ClassVar[str] = "precision-recall"
    needs: ClassVar[frozenset[MetricNeed]] = frozenset()

    def own_problems(self, info: DataInfo | None) -> Problems:
        if self.n_samples <= self.k:
            yield "n_samples", f"must exceed k = {self.k}"


class DensityCoverageParams(PrecisionRecallParams):
    """Density and coverage (Naeem et al. 2020) from k-NN balls around the real features."""

    k: int = Field(5, gt=0, description="Neighbour whose distance is each real sample's ball radius.")
    metric: ClassVar[str] = "density-coverage"


class StackedMNISTModesParams(FeatureMetricParams):
    """Modes of (Stacked) MNIST: the packaged classifier labels each channel's digit; a stack of C channels has
    10^C modes (1,000 for Stacked MNIST)."""

    extractor: Literal["mnist-classifier"] = Field(MNIST_CLASSIFIER, description="The digit classifier.")
    n_samples: int = Field(26_000, gt=0, description="Generated samples to label (VEEGAN/PacGAN use 26,000).")
    min_confidence: float = Field(
        0.5, gt=0, lt=1, description="A sample is high quality when every channel's digit is predicted with at "
        "least this probability (0.5: 97.7 % of real test digits pass).",
    )
    metric: ClassVar[str] = "stacked-mnist-modes"
    extractor_override: ClassVar[bool] = False  # its classifier is part of the metric's definition
    hint: ClassVar[str] = ""

    def own_problems(self, info: DataInfo | None) -> Problems:
        if info is not None and not (info.is_image and info.key.startswith(("stacked-mnist", "mnist"))
                                     and 1 <= info.shape[0] <= 3):
            yield "", (f"stacked-mnist-modes counts the digits of MNIST or Stacked MNIST images, but the data is "
                       f"'{info.key or 'unnamed'}' with samples of shape {info.shape}")


@hookimpl
def register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(
        "mode-coverage", ModeCoverageParams, "gankit.metrics.mode_coverage:build",
        "Modes captured / high-quality % / reverse KL (VEEGAN/PacGAN protocol)",
    )
    register("fid", FIDParams, "gankit.metrics.feature_metrics:build_fid",
             "Fréchet distance of real and generated features (FID)")
    register("kid", KIDParams, "gankit.metrics.feature_metrics:build_kid",
             "Kernel Inception Distance: unbiased polynomial MMD² over subsets")
    register("is", ISParams, "gankit.metrics.feature_metrics:build_is",
             "Inception Score from a classifier's logits, mean and std over splits")
    register("precision-recall", PrecisionRecallParams, "gankit.metrics.feature_metrics:build_precision_recall",
             "Improved precision/recall from k-NN manifolds (k = 3)")
    register("density-coverage", DensityCoverageParams, "gankit.metrics.feature_metrics:build_density_coverage",
             "Density/coverage from k-NN balls of real features (k = 5)")
    register("stacked-mnist-modes", StackedMNISTModesParams, "gankit.metrics.stacked_mnist:build",
             "Modes captured / high-quality % / reverse KL of (Stacked) MNIST digits")
