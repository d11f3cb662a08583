"""FID, KID, Inception Score, precision/recall and density/coverage: metrics over extracted features.

Each metric is built once (its extractor loaded then, so a missing weights file fails before training) and
called as ``metric(ctx)`` at every evaluation. Features come from :mod:`gankit.metrics.features`, so metrics
naming the same extractor and sample count share them; the mathematics is in :mod:`gankit.metrics.stats`.
"""

from __future__ import annotations

import torch

from gankit.errors import GankitError
from gankit.features.base import Extractor
from gankit.metrics import (
    DensityCoverageParams,
    FeatureMetricParams,
    FIDParams,
    ISParams,
    KIDParams,
    PrecisionRecallParams,
)
from gankit.metrics import stats as S
from gankit.metrics.features import fake_features, get_extractor, real_features, real_stats
from gankit.protocols import BuildEnv, EvalContext


class FeatureMetric:
    """Checks the params against the data, then loads the extractor."""

    #: under DDP each rank extracts its share and the features are gathered (gankit.evaluate.run_metrics)
    combines_ranks = True

    def __init__(self, params: FeatureMetricParams, env: BuildEnv) -> None:
        problems = list(params.problems(env.data))
        if problems:
            field, msg = problems[0]
            where = f"{params.metric}.params.{field}: " if field else f"metric '{params.metric}': "
            raise GankitError(where + msg)
        name = params.extractor_name(env.data)
        if name is None:
            raise GankitError(f"{params.metric}.params.extractor: 'auto' needs the data set; name an extractor")
        self.params = params
        self.extractor: Extractor = get_extractor(name, dict(params.extractor_params), env,
                                                  where=f"{params.metric}.params.extractor")


class FID(FeatureMetric):
    params: FIDParams

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        p = self.params
        mu_r, sigma_r = real_stats(ctx, self.extractor, p.n_real, p.split)
        mu_g, sigma_g = S.gaussian_stats(fake_features(ctx, self.extractor, p.n_samples).features)
        return {"fid": S.frechet_distance(mu_r, sigma_r, mu_g, sigma_g)}


class KID(FeatureMetric):
    """``kid`` and ``kid_std`` over subsets; with fewer than twice ``subset_size`` samples in a set, subsets of
    half the smaller set (see :func:`gankit.metrics.stats.kid_subset_size`) and ``kid/subset_size`` saying so."""

    params: KIDParams

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        p = self.params
        real = real_features(ctx, self.extractor, p.n_samples, p.split)
        fake = fake_features(ctx, self.extractor, p.n_samples).features
        try:
            with torch.inference_mode():
                result = S.kernel_inception_distance(real, fake, p.subsets, p.subset_size)
        except ValueError as exc:
            raise GankitError(f"kid: {exc}") from None
        values = {"kid": result.mean}
        if result.std is not None:  # one subset has no spread: no std rather than a meaningless 0
            values["kid_std"] = result.std
        if result.subset_size != p.subset_size:  # the sets were too small: say which size the value is from
            values["subset_size"] = float(result.subset_size)
        return values


class InceptionScore(FeatureMetric):
    params: ISParams

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        logits = fake_features(ctx, self.extractor, self.params.n_samples).logits
        if logits is None:
            raise GankitError(f"is: feature extractor '{self.extractor.name}' returned no class logits")
        mean, std = S.inception_score(logits, self.params.splits)
        return {"is": mean, "is_std": std}


class PrecisionRecall(FeatureMetric):
    params: PrecisionRecallParams

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        p = self.params
        real = real_features(ctx, self.extractor, p.n_samples, p.split)
        fake = fake_features(ctx, self.extractor, p.n_samples).features
        with torch.inference_mode():
            precision, recall = S.precision_recall(real, fake, p.k)
        return {"precision": precision, "recall": recall}


class DensityCoverage(FeatureMetric):
    params: DensityCoverageParams

    def __call__(self, ctx: EvalContext) -> dict[str, float]:
        p = self.params
        real = real_features(ctx, self.extractor, p.n_samples, p.split)
        fake = fake_features(ctx, self.extractor, p.n_samples).features
        with torch.inference_mode():
            density, coverage = S.density_coverage(real, fake, p.k)
        return {"density": density, "coverage": coverage}


def build_fid(params: FIDParams, env: BuildEnv) -> FID:
    return FID(params, env)


def build_kid(params: KIDParams, env: BuildEnv) -> KID:
    return KID(params, env)


def build_is(params: ISParams, env: BuildEnv) -> InceptionScore:
    return InceptionScore(params, env)


def build_precision_recall(params: PrecisionRecallParams, env: BuildEnv) -> PrecisionRecall:
    return PrecisionRecall(params, env)


def build_density_coverage(params: DensityCoverageParams, env: BuildEnv) -> DensityCoverage:
    return DensityCoverage(params, env)
