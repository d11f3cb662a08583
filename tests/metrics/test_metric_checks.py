"""``gankit validate`` rejects metrics that cannot work on the spec's data, torch-free, with clear paths."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, tiny_spec

from gankit.errors import SpecError
from gankit.spec import validate_spec


def problems(spec: dict) -> list[tuple[str, str]]:
    try:
        validate_spec(spec)
    except SpecError as exc:
        return exc.problems
    return []


def mnist_spec(root: str, metrics: list[dict], name: str = "mnist") -> dict:
    return tiny_spec(data={"name": name, "params": {"root": root}},
                     generator={"name": "dcgan", "params": {}}, critic={"name": "dcgan", "params": {}},
                     metrics=metrics)


@pytest.mark.parametrize("metric", ["fid", "kid", "is"])
def test_image_metrics_are_rejected_on_2d_points(metric):
    found = problems(tiny_spec(metrics=[{"name": metric, "params": {}}]))
    assert found == [("metrics.0.params", f"{metric} needs image data, but the data's samples have shape (2,) "
                      "(for points use precision-recall, density-coverage or mode-coverage)")]


def test_point_metrics_accept_2d_points():
    assert problems(tiny_spec(metrics=[{"name": "precision-recall", "params": {"n_samples": 100}},
                                       {"name": "density-coverage", "params": {}},
                                       {"name": "mode-coverage", "params": {}}])) == []


def test_every_feature_metric_validates_on_mnist(mnist_dir):
    metrics = [{"name": n, "params": {}} for n in ("fid", "kid", "is", "precision-recall", "density-coverage",
                                                   "stacked-mnist-modes")]
    assert problems(mnist_spec(str(mnist_dir), metrics)) == []
    assert problems(mnist_spec(str(mnist_dir), [{"name": "stacked-mnist-modes", "params": {}}],
                               name="stacked-mnist")) == []


def test_stacked_mnist_modes_needs_digits(mnist_dir):
    found = problems(mnist_spec(str(mnist_dir), [{"name": "stacked-mnist-modes", "params": {}}],
                                name="fashion-mnist"))
    assert len(found) == 1 and found[0][0] == "metrics.0.params"
    assert "counts the digits of MNIST or Stacked MNIST" in found[0][1]
    assert problems(tiny_spec(metrics=[{"name": "stacked-mnist-modes", "params": {}}]))[0][0] == "metrics.0.params"


def test_mode_coverage_on_images_points_to_stacked_mnist_modes(mnist_dir):
    found = problems(mnist_spec(str(mnist_dir), [{"name": "mode-coverage", "params": {}}], name="stacked-mnist"))
    assert found == [("metrics.0.params", "mode-coverage needs data with known mode centres, which data "
                      "'stacked-mnist-28-60000' does not have (e.g. data 'ring' or 'grid'; for Stacked MNIST use "
                      "stacked-mnist-modes)")]


def test_unknown_extractor_and_bad_extractor_params(mnist_dir):
    found = problems(mnist_spec(str(mnist_dir), [
        {"name": "fid", "params": {"extractor": "inception"}},
        {"name": "kid", "params": {"extractor": "inception-v3", "extractor_params": {"weight": "x"}}},
        {"name": "is", "params": {"extractor": "raw"}},
        {"name": "fid", "params": {"extractor": "inception-v3", "extractor_params": {"sha256": "xyz"}}},
    ]))
    assert ("metrics.0.params.extractor", "unknown feature-extractor 'inception'; did you mean 'inception-v3'?") \
        in found
    assert ("metrics.1.params.extractor_params.weight", "Extra inputs are not permitted") in found
    assert ("metrics.2.params.extractor", "is needs class logits, which extractor 'raw' does not give") in found
    assert any(path == "metrics.3.params.extractor_params.sha256" for path, _ in found)


def test_extractor_that_cannot_read_the_data():
    found = problems(tiny_spec(metrics=[{"name": "precision-recall", "params": {"extractor": "mnist-classifier"}}]))
    assert found == [("metrics.0.params.extractor", "the MNIST-style classifiers read images, not samples of "
                      "shape (2,)")]


def test_precision_recall_needs_more_samples_than_k():
    found = problems(tiny_spec(metrics=[{"name": "precision-recall", "params": {"n_samples": 3}}]))
    assert found == [("metrics.0.params.n_samples", "must exceed k = 3")]


def test_list_plugins_and_validate_import_no_torch(tmp_path):
    code = ("import sys; from gankit.cli import run; "
            "assert run(['list-plugins']) == 0; assert run(['validate', sys.argv[1]]) == 0; "
            "import gankit.metrics, gankit.features; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    spec = tmp_path / "spec.toml"
    from conftest import to_toml

    spec.write_text(to_toml(tiny_spec(metrics=[{"name": "precision-recall", "params": {}}])), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_validate_reports_a_missing_inception_weights_file(mnist_dir, tmp_path, monkeypatch):
    """train/eval would fail on it; validate says so first, naming the metric table and what to set."""
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    metrics = [{"name": "fid", "params": {"extractor": "inception-v3"}},
               {"name": "kid", "params": {"extractor": "inception-v3", "extractor_params": {"weights": "/no/file"}}}]
    found = problems(mnist_spec(str(mnist_dir), metrics))
    assert [path for path, _ in found] == ["metrics.0.params.extractor_params.weights",
                                           "metrics.1.params.extractor_params.weights"]
    unset, missing = (msg for _, msg in found)
    assert "GANKIT_INCEPTION_WEIGHTS=" in unset and "never downloads" in unset and "\n" not in unset
    assert "/no/file (from the weights param) is not a file" in missing
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"checked when loaded")
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(weights))
    assert problems(mnist_spec(str(mnist_dir), metrics[:1])) == []
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(tmp_path / "elsewhere.pth"))
    (only,) = problems(mnist_spec(str(mnist_dir), metrics[:1]))
    assert "(from the $GANKIT_INCEPTION_WEIGHTS) is not a file" in only[1]
