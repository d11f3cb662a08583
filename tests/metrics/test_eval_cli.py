"""``gankit eval`` on checkpoints and on image folders, and the MNIST noise floor of the domain FID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_spec
from PIL import Image

from gankit.data.idx import load_split
from gankit.features.mnist import load_packaged
from gankit.metrics.stats import frechet_distance, gaussian_stats


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory) -> Path:
    """A 20-step ring run with an EMA generator (about a second)."""
    from gankit.cli import run
    from gankit.plugins import reset_registry

    folder = tmp_path_factory.mktemp("ring")
    spec = folder / "ring.toml"
    from conftest import to_toml

    spec.write_text(to_toml(tiny_spec(run={"ema": 0.9, "out_dir": str(folder / "run")})), encoding="utf-8")
    reset_registry()
    assert run(["train", str(spec), "--no-progress"]) == 0
    return folder / "run"


def test_eval_a_run_folder_with_the_specs_metrics(cli, ring_run, tmp_path):
    result = cli("eval", ring_run, "--cache-dir", tmp_path)
    assert result.code == 0, result.err
    assert "mode-coverage/modes" in result.out and "EMA generator" in result.out
    written = json.loads((ring_run / "eval-step-000000020.json").read_text())
    assert written["step"] == 20 and written["ema"] is True
    assert set(written["metrics"]) == {"mode-coverage/modes", "mode-coverage/high_quality",
                                       "mode-coverage/reverse_kl"}


def test_eval_named_metrics_as_json(cli, ring_run, tmp_path):
    ckpt = ring_run / "checkpoints" / "step-000000020.pt"
    result = cli("eval", ckpt, "--metric", "precision-recall", "-n", "300", "--no-ema", "--json", "-",
                 "--cache-dir", tmp_path)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["ema"] is False and doc["checkpoint"] == str(ckpt)
    assert set(doc["metrics"]) == {"precision-recall/precision", "precision-recall/recall"}
    assert all(0.0 <= v <= 1.0 for v in doc["metrics"].values())
    # the same seed gives the same samples: the same values
    again = json.loads(cli("eval", ckpt, "--metric", "precision-recall", "-n", "300", "--no-ema", "--json", "-",
                           "--cache-dir", tmp_path).out)
    assert again["metrics"] == doc["metrics"]


def test_eval_errors(cli, ring_run, tmp_path):
    assert "not both" in cli("eval", ring_run, "--real", tmp_path, "--fake", tmp_path).err
    assert "nothing to evaluate" in cli("eval").err
    assert "fid needs image data" in cli("eval", ring_run, "--metric", "fid", "--cache-dir", tmp_path).err
    assert "unknown metric 'fdi'; did you mean 'fid'?" in cli("eval", ring_run, "--metric", "fdi").err
    assert "no such file or folder" in cli("eval", tmp_path / "missing").err


def _write_pngs(folder: Path, images: torch.Tensor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.numpy()).save(folder / f"{i:04d}.png")


def test_eval_two_folders(cli, mnist_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images, _ = load_split(mnist_dir, "test")
    _write_pngs(tmp_path / "real", images[:200])
    _write_pngs(tmp_path / "fake", images[200:350])
    result = cli("eval", "--real", "real", "--fake", "fake", "--extractor", "mnist-classifier", "--metric", "fid",
                 "--metric", "kid", "--metric", "is", "--cache-dir", tmp_path / "cache")
    assert result.code == 0, result.err
    doc = json.loads((tmp_path / "eval-fake.json").read_text())
    assert doc["n_real"] == 200 and doc["n_fake"] == 150 and doc["shape"] == [1, 28, 28]
    assert 0 <= doc["metrics"]["fid"] < 2 and doc["metrics"]["is"] > 4  # 150 samples in 128-d: biased up
    # 150 fakes: KID's subsets hold half of them (a subset of all 150 would give one value 100 times), and say so
    assert doc["metrics"]["kid/subset_size"] == 75 and doc["metrics"]["kid_std"] > 0
    # generated "digits" that are noise are far away
    _write_pngs(tmp_path / "noise", torch.randint(0, 256, (150, 28, 28), dtype=torch.uint8))
    noise = cli("eval", "--real", "real", "--fake", "noise", "--extractor", "mnist-classifier", "--metric", "fid",
                "--json", "-", "--cache-dir", tmp_path / "cache")
    assert json.loads(noise.out)["metrics"]["fid"] > 20 * doc["metrics"]["fid"]


def test_eval_folders_reports_every_unreadable_file(cli, tmp_path):
    _write_pngs(tmp_path / "real", torch.zeros(3, 8, 8, dtype=torch.uint8))
    _write_pngs(tmp_path / "fake", torch.zeros(3, 8, 8, dtype=torch.uint8))
    (tmp_path / "fake" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "real" / "sub").mkdir()
    (tmp_path / "real" / "sub" / "bad.jpg").write_bytes(b"\xff\xd8 junk")
    result = cli("eval", "--real", tmp_path / "real", "--fake", tmp_path / "fake")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines == [f"error: {tmp_path / 'real' / 'sub' / 'bad.jpg'}: cannot read image: cannot identify image "
                     f"file '{tmp_path / 'real' / 'sub' / 'bad.jpg'}'",
                     f"error: {tmp_path / 'fake' / 'broken.png'}: cannot read image: cannot identify image file "
                     f"'{tmp_path / 'fake' / 'broken.png'}'"]
    (tmp_path / "empty").mkdir()
    assert "empty: holds no image" in cli("eval", "--real", tmp_path / "real", "--fake", tmp_path / "empty").err


def test_eval_folders_without_inception_weights_says_where_to_get_them(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    _write_pngs(tmp_path / "real", torch.zeros(3, 8, 8, dtype=torch.uint8))
    result = cli("eval", "--real", tmp_path / "real", "--fake", tmp_path / "real", "--metric", "fid")
    assert result.code == 1 and "GANKIT_INCEPTION_WEIGHTS" in result.err and "never downloads" in result.err


def _mnist_features(root: Path, split: str, n: int | None = None, noise: float = 0.0) -> torch.Tensor:
    images, _ = load_split(root, split)
    x = images[:n].float().div(127.5).sub(1).unsqueeze(1)
    if noise:
        x = (x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    return load_packaged("mnist-classifier").extract(x, torch.device("cpu")).features


def test_mnist_train_test_fid_is_near_zero(mnist_dir):
    """The domain FID between real MNIST sets is tiny next to that of slightly noisy digits (σ = 0.3)."""
    train = gaussian_stats(_mnist_features(mnist_dir, "train", 3000))
    fid = frechet_distance(*train, *gaussian_stats(_mnist_features(mnist_dir, "test", 3000)))
    noisy = frechet_distance(*train, *gaussian_stats(_mnist_features(mnist_dir, "test", 3000, noise=0.3)))
    assert 0 < fid < 0.5  # 0.21 with 3,000 samples each (0.0135 for the full sets: test_mnist_noise_floor)
    assert noisy > 50 * fid


@pytest.mark.slow
def test_mnist_noise_floor(mnist_dir):
    """FID(MNIST train 60k, test 10k) with the packaged classifier: 0.0135 when the classifier was committed."""
    fid = frechet_distance(*gaussian_stats(_mnist_features(mnist_dir, "train")),
                           *gaussian_stats(_mnist_features(mnist_dir, "test")))
    assert fid == pytest.approx(0.0135, abs=5e-4)
