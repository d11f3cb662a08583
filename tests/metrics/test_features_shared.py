"""Features shared within an evaluation, reference statistics cached on disk, and DDP ranks sharing the work."""

from __future__ import annotations

import math
import socket

import pytest
import torch
import torch.multiprocessing as mp
from metric_helpers import make_ctx
from metric_workers import features_worker

from gankit.errors import GankitError
from gankit.metrics import FIDParams, KIDParams, PrecisionRecallParams
from gankit.metrics import features as F
from gankit.metrics.feature_metrics import build_fid, build_kid, build_precision_recall
from gankit.protocols import BuildEnv, DataInfo

INFO = DataInfo(shape=(1, 28, 28), num_classes=10, key="mnist-28")
ENV = BuildEnv(data=INFO)


def blobs(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """Images in [-1, 1]: a bright square at a random place on a dark background."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, 28, 28), -1.0)
    pos = torch.randint(4, 18, (n, 2), generator=gen)
    for i, (r, c) in enumerate(pos.tolist()):
        x[i, 0, r : r + 6 + int(shift), c : c + 6] = 1.0
    return x


def test_metrics_share_generated_samples_and_features(tmp_path):
    calls: list[int] = []
    ctx = make_ctx(blobs(300, 0), blobs(600, 1), INFO, tmp_path)
    sample_fake = ctx.sample_fake
    ctx.sample_fake = lambda n: (calls.append(n), sample_fake(n))[1]
    fid = build_fid(FIDParams(n_samples=200, n_real=300), ENV)
    kid = build_kid(KIDParams(n_samples=200, subsets=5, subset_size=50), ENV)
    pr = build_precision_recall(PrecisionRecallParams(n_samples=100), ENV)
    assert fid.extractor is kid.extractor  # one extractor instance per configuration
    fid(ctx)
    kid(ctx)
    pr(ctx)
    assert calls == [200, 100]  # FID and KID drew their 200 samples once


def test_fid_with_the_classifier_separates_similar_and_different_images(tmp_path):
    fid = build_fid(FIDParams(n_samples=300, n_real=300), ENV)
    same = fid(make_ctx(blobs(300, 0), blobs(300, 1), INFO, tmp_path))["fid"]
    other = fid(make_ctx(blobs(300, 0), blobs(300, 1, shift=6), INFO, tmp_path))["fid"]
    itself = fid(make_ctx(blobs(300, 0), blobs(300, 0), INFO, tmp_path))["fid"]
    assert abs(itself) < 1e-6 and 0 < same < other


def test_reference_statistics_are_cached_on_disk(tmp_path, monkeypatch):
    fid = build_fid(FIDParams(n_samples=100, n_real=200), ENV)
    real = blobs(400, 0)
    first = fid(make_ctx(real, blobs(100, 1), INFO, tmp_path))["fid"]
    files = sorted((tmp_path / F.CACHE_FOLDER).iterdir())
    assert len(files) == 1 and files[0].name.startswith("mnist-28--train--n200--mnist-classifier-")
    state = torch.load(files[0], weights_only=True)
    assert state["mu"].dtype == torch.float64 and state["sigma"].shape == (128, 128) and state["n"] == 200

    def no_extraction(*args, **kwargs):
        raise AssertionError("the real features were extracted again")

    monkeypatch.setattr(F, "_extract_real", no_extraction)
    assert fid(make_ctx(real, blobs(100, 1), INFO, tmp_path))["fid"] == pytest.approx(first, rel=1e-12)
    # another subset of the real data (another fingerprint) is never served from that file
    with pytest.raises(AssertionError, match="extracted again"):
        fid(make_ctx(real.flip(0), blobs(100, 1), INFO, tmp_path))
    monkeypatch.undo()
    # a damaged cache file is recomputed, not trusted
    files[0].write_bytes(b"garbage")
    assert fid(make_ctx(real, blobs(100, 1), INFO, tmp_path))["fid"] == pytest.approx(first, rel=1e-9)


def test_real_features_cache_and_unkeyed_data(tmp_path):
    extractor = F.get_extractor("mnist-classifier", {}, ENV)
    ctx = make_ctx(blobs(50, 0), blobs(50, 1), INFO, tmp_path)
    feats = F.real_features(ctx, extractor, 50)
    (path,) = (tmp_path / F.CACHE_FOLDER).glob("*--features.pt")
    torch.testing.assert_close(torch.load(path, weights_only=True)["features"], feats)
    unkeyed = DataInfo(shape=(1, 28, 28))  # no key: nothing to name the cache entry by
    F.real_features(make_ctx(blobs(50, 0), blobs(50, 1), unkeyed, tmp_path / "none"), extractor, 50)
    assert not (tmp_path / "none").exists()


def test_unknown_extractor_names_the_field():
    with pytest.raises(GankitError, match=r"^fid.params.extractor: unknown feature-extractor 'mnist'"):
        build_fid(FIDParams(extractor="mnist"), ENV)
    with pytest.raises(GankitError, match=r"^fid.params.extractor_params.batch_size"):
        build_fid(FIDParams(extractor_params={"batch_size": 0}), ENV)
    with pytest.raises(GankitError, match="metric 'fid': fid needs image data"):
        build_fid(FIDParams(), BuildEnv(data=DataInfo(shape=(2,))))


def test_value_range_is_mapped_to_the_extractors_range():
    info = DataInfo(shape=(1, 2, 2), value_range=(0.0, 1.0))
    torch.testing.assert_close(F.to_model_range(torch.tensor([0.0, 0.5, 1.0]), info), torch.tensor([-1.0, 0.0, 1.0]))
    assert F.to_model_range(torch.tensor([5.0]), DataInfo(shape=(2,), value_range=(-10.0, 10.0))).item() == 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ranks_share_extraction_and_gather_every_feature(tmp_path):
    mp.spawn(features_worker, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"result-{r}.pt", weights_only=False) for r in range(2)]
    for r, res in enumerate(results):
        assert "error" not in res, f"rank {r}: {res['error']}"
    # 25 generated samples: 13 from rank 0, 12 from rank 1, in rank order, on both ranks
    expected_fake = torch.cat([torch.arange(13).view(13, 1) + torch.zeros(13, 4),
                               torch.arange(12).view(12, 1) + torch.ones(12, 4)])
    real = torch.arange(70 * 4, dtype=torch.float32).view(70, 4)
    for res in results:
        torch.testing.assert_close(res["fake"], expected_fake)
        torch.testing.assert_close(res["real"], real)
        torch.testing.assert_close(res["real_again"], real)
    assert len(results[0]["cache"]) == 1 and results[1]["cache"] == []  # rank 0 writes the cache


def test_stacked_mnist_modes_counts_label_tuples(mnist_dir, tmp_path):
    """50 distinct digit triples, stacked as channels (padded to 32×32 like resolution = 32): 50 modes found."""
    from gankit.data.idx import load_split
    from gankit.metrics import ISParams, StackedMNISTModesParams
    from gankit.metrics.feature_metrics import build_is
    from gankit.metrics.stacked_mnist import build as build_modes

    images, labels = load_split(mnist_dir, "test")
    x = torch.nn.functional.pad(images[:3000].float().div(127.5).sub(1), (2, 2, 2, 2), value=-1.0)
    by_digit = [torch.nonzero(labels[:3000] == d).flatten() for d in range(10)]
    gen = torch.Generator().manual_seed(0)
    triples = torch.randperm(1000, generator=gen)[:50]
    stacks = []
    for i in range(500):  # each triple 10 times
        t = int(triples[i % 50])
        digits = (t // 100, t // 10 % 10, t % 10)
        picks = [by_digit[d][torch.randint(len(by_digit[d]), (1,), generator=gen)] for d in digits]
        stacks.append(torch.cat([x[p] for p in picks]))
    fake = torch.stack(stacks)
    info = DataInfo(shape=(3, 32, 32), num_classes=1000, key="stacked-mnist-32-60000-seed0")
    metric = build_modes(StackedMNISTModesParams(n_samples=500), BuildEnv(data=info))
    result = metric(make_ctx(fake, fake, info, tmp_path))
    # 1,500 digits read at ~99 %: a dozen misread ones add stray modes
    digits = metric.extractor.channel_logits(fake).argmax(-1)
    read = {tuple(row) for row in digits.tolist()}
    assert result["modes"] == len(read) and 50 <= len(read) <= 70
    assert result["high_quality"] > 90
    assert result["reverse_kl"] == pytest.approx(math.log(1000 / 50), abs=0.25)
    # the joint 1000-way logits also give an Inception Score: about 50 label tuples spread evenly
    score = build_is(ISParams(n_samples=500, splits=1), BuildEnv(data=info))(make_ctx(fake, fake, info, tmp_path))
    assert 40 < score["is"] <= 50


def test_kid_of_small_sets_reports_the_subset_size_and_a_real_spread(tmp_path):
    """Fewer samples than subset_size: every subset used to be the whole set (one value 100 times, std ~1e-15)."""
    kid = build_kid(KIDParams(n_samples=300), ENV)
    result = kid(make_ctx(blobs(300, 0), blobs(300, 1, shift=2), INFO, tmp_path))
    assert result["subset_size"] == 150
    assert result["kid_std"] > 0.01 * abs(result["kid"])
    full = build_kid(KIDParams(n_samples=300, subset_size=100, subsets=1), ENV)(
        make_ctx(blobs(300, 0), blobs(300, 1, shift=2), INFO, tmp_path))
    assert set(full) == {"kid"}  # the size asked for was used; one subset: no std
    with pytest.raises(GankitError, match=r"^kid: KID needs at least 4 samples per set"):
        build_kid(KIDParams(n_samples=300), ENV)(make_ctx(blobs(3, 0), blobs(300, 1), INFO, tmp_path))
