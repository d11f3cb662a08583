"""Feature extractors: the packaged classifiers, the FID Inception-v3 (architecture, preprocessing, loading
path with a generated weights file) and user extractors by import path."""

from __future__ import annotations

import hashlib
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from metric_helpers import pattern_images, random_inception_state

from gankit.errors import GankitError
from gankit.features import INCEPTION_ENV, INCEPTION_URL, ImportParams, InceptionParams
from gankit.features.classifier import ASSETS, CLASSIFIERS, joint_log_probs, sha256_file, to_28
from gankit.features.imported import build as build_imported
from gankit.features.inception import FIDInceptionV3, InceptionExtractor, preprocess
from gankit.features.inception import build as build_inception
from gankit.features.mnist import load_packaged
from gankit.protocols import BuildEnv, DataInfo

ENV = BuildEnv(data=DataInfo(shape=(3, 32, 32)))


# ----------------------------------------------------------------------------------- classifiers
@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_packaged_classifier_files_match_their_recorded_hash_and_are_small(name):
    filename, sha256, accuracy = CLASSIFIERS[name]
    path = ASSETS / filename
    assert path.stat().st_size < 600_000
    assert sha256_file(path) == sha256
    assert (0.99 if name == "mnist-classifier" else 0.85) <= accuracy <= 1.0
    state = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_classifier_refuses_a_file_with_another_hash(tmp_path, monkeypatch):
    from gankit.features import classifier, mnist

    fake = tmp_path / "mnist-classifier.pt"
    fake.write_bytes((ASSETS / CLASSIFIERS["mnist-classifier"][0]).read_bytes() + b"tampered")
    monkeypatch.setattr(mnist, "ASSETS", tmp_path)
    with pytest.raises(GankitError, match="does not match the recorded"):
        load_packaged("mnist-classifier")
    monkeypatch.setattr(classifier, "ASSETS", tmp_path)
    fake.unlink()
    with pytest.raises(GankitError, match="not found"):
        load_packaged("mnist-classifier")


def test_mnist_classifier_recognises_test_digits(mnist_dir):
    from gankit.data.idx import load_split

    images, labels = load_split(mnist_dir, "test")
    x = images[:1000].float().div(127.5).sub(1).unsqueeze(1)
    extractor = load_packaged("mnist-classifier")
    out = extractor.extract(x, torch.device("cpu"))
    assert out.features.shape == (1000, 128) and out.logits is not None and out.logits.shape == (1000, 10)
    accuracy = float((out.logits.argmax(1) == labels[:1000]).float().mean())
    assert accuracy >= 0.98
    # 32×32 (MNIST padded by two background pixels) is centre-cropped back: identical outputs
    padded = F.pad(x[:50], (2, 2, 2, 2), value=-1.0)
    again = extractor.extract(padded, torch.device("cpu"))
    torch.testing.assert_close(again.features, out.features[:50])


@pytest.mark.slow
@pytest.mark.parametrize(("name", "data_fixture", "minimum"), [
    ("mnist-classifier", "mnist_dir", 0.99),
    ("fashion-mnist-classifier", "fashion_mnist_dir", 0.85),
])
def test_classifier_test_accuracy(name, data_fixture, minimum, request):
    from gankit.data.idx import load_split

    images, labels = load_split(request.getfixturevalue(data_fixture), "test")
    out = load_packaged(name).extract(images.float().div(127.5).sub(1).unsqueeze(1), torch.device("cpu"))
    accuracy = float((out.logits.argmax(1) == labels).float().mean())
    assert accuracy == pytest.approx(CLASSIFIERS[name][2], abs=1e-4)
    assert accuracy >= minimum


def test_classifier_reads_stacks_channel_by_channel():
    extractor = load_packaged("mnist-classifier")
    x = pattern_images(4, size=28)  # 3 channels
    out = extractor.extract(x, torch.device("cpu"))
    assert out.features.shape == (4, 3 * 128) and out.logits.shape == (4, 1000)
    per_channel = extractor.channel_logits(x)
    digits = per_channel.argmax(-1)
    assert out.logits.argmax(1).tolist() == (digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]).tolist()
    torch.testing.assert_close(out.logits.exp().sum(1), torch.ones(4))  # joint log-probabilities
    single = extractor.extract(x[:, 1:2], torch.device("cpu"))
    torch.testing.assert_close(out.features[:, 128:256], single.features)


def test_joint_log_probs_index_first_channel_most_significant():
    logits = torch.full((1, 3, 10), -50.0)
    logits[0, 0, 4], logits[0, 1, 0], logits[0, 2, 7] = 0.0, 0.0, 0.0
    assert int(joint_log_probs(logits).argmax()) == 407


def test_to_28_resizes_other_sizes():
    assert to_28(torch.zeros(2, 1, 64, 64)).shape == (2, 1, 28, 28)
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(to_28(x), x[..., 2:30, 2:30])


# ------------------------------------------------------------------------------------- inception
def test_inception_architecture_matches_the_reference_parameter_names():
    """The reference file's keys are torchvision's Inception3 names (no aux head, 1008 classes)."""
    import torchvision

    reference = torchvision.models.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    ours = FIDInceptionV3()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    assert ours.fc.weight.shape == (1008, 2048)


def test_inception_preprocessing():
    grey = torch.linspace(-1.5, 1.5, 28 * 28).view(1, 1, 28, 28)
    out = preprocess(grey)
    assert out.shape == (1, 3, 299, 299)
    assert float(out.min()) >= -1 - 1e-6 and float(out.max()) <= 1 + 1e-6  # clamped to the network's range
    torch.testing.assert_close(out[:, 0], out[:, 2])  # grey repeated to RGB
    expected = F.interpolate(grey.clamp(-1, 1), size=(299, 299), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, :1], expected)
    rgb = pattern_images(1, size=299)
    torch.testing.assert_close(preprocess(rgb), rgb)  # already 299: untouched


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(random_inception_state(1), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_inception_features_match_pytorch_fid(inception_file):
    """Golden values computed with pytorch-fid 0.3.0 (its FIDInception blocks and InceptionV3 resize/normalise
    path, fed ``(x + 1) / 2``) for the same synthetic weights and images. torchvision's stock Inception-v3 (zero
    padding counted in its average pools) gives a pool3 sum of 127.2087 instead."""
    path, sha = inception_file
    extractor = build_inception(InceptionParams(weights=str(path), sha256=sha, batch_size=2), ENV)
    out = extractor.extract(pattern_images(2), torch.device("cpu"))
    assert out.features.shape == (2, 2048) and out.logits.shape == (2, 1008)
    torch.testing.assert_close(out.features.sum(1), torch.tensor([127.57829, 127.57832]), rtol=0, atol=2e-3)
    torch.testing.assert_close(out.features[0, :4], torch.tensor([0.1512006, 0.0, 0.0, 0.0435033]), rtol=0,
                               atol=2e-5)
    # logits as the TensorFlow Inception Score computes them: pool3 @ Wᵀ, no bias
    state = random_inception_state(1)
    torch.testing.assert_close(out.logits, out.features @ state["fc.weight"].T, rtol=1e-5, atol=1e-5)


def test_inception_refuses_to_run_without_weights(monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(GankitError) as err:
        build_inception(InceptionParams(), ENV)
    message = str(err.value)
    assert INCEPTION_URL in message and INCEPTION_ENV in message and "never downloads" in message
    assert "\n" not in message
    with pytest.raises(GankitError, match="is not a file"):
        build_inception(InceptionParams(weights="/no/such/file.pth"), ENV)


def test_inception_checks_the_reference_hash_by_default(inception_file, monkeypatch):
    path, sha = inception_file
    monkeypatch.setenv(INCEPTION_ENV, str(path))
    with pytest.raises(GankitError, match=r"expected 6726825d.*not the FID reference weights"):
        build_inception(InceptionParams(), ENV)
    with pytest.raises(GankitError, match="expected 00000000"):
        build_inception(InceptionParams(sha256="00000000"), ENV)
    extractor = build_inception(InceptionParams(sha256=sha[:12]), ENV)  # from the environment variable
    assert isinstance(extractor, InceptionExtractor) and extractor.digest.startswith(f"inception-v3-{sha[:16]}")


def test_inception_hash_check_can_be_skipped_with_a_warning(inception_file):
    path, _ = inception_file
    with pytest.warns(UserWarning, match="not verified"):
        build_inception(InceptionParams(weights=str(path), verify_hash=False), ENV)


@pytest.mark.filterwarnings("ignore:inception-v3. the sha256")
def test_inception_refuses_files_that_are_not_plain_state_dicts(tmp_path):
    class Payload:
        def __reduce__(self):  # would run code if unpickled without weights_only
            return (print, ("pwned",))

    bad = tmp_path / "bad.pth"
    torch.save({"x": Payload()}, bad)
    with pytest.raises(GankitError, match="cannot load"):
        build_inception(InceptionParams(weights=str(bad), verify_hash=False), ENV)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3)}, wrong)
    with pytest.raises(GankitError, match="cannot load"):
        build_inception(InceptionParams(weights=str(wrong), verify_hash=False), ENV)


# ------------------------------------------------------------------------------------ by import
@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_features.py").write_text(textwrap.dedent("""
        import torch

        class Net(torch.nn.Module):
            digest = "my-net-v1"

            def __init__(self, dim):
                super().__init__()
                self.proj = torch.nn.Linear(3 * 8 * 8, dim)

            def forward(self, x):
                f = self.proj(x.flatten(1))
                return f, f[:, :2]

        def make(dim=4):
            return Net(dim)

        def broken():
            return lambda x: "not a tensor"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_features"
    sys.modules.pop("my_features", None)


def test_import_extractor_needs_allow_imports(user_module):
    with pytest.raises(GankitError, match="pass --allow-imports"):
        build_imported(ImportParams(target="my_features:make"), ENV)


def test_import_extractor_runs_the_users_network(user_module):
    env = BuildEnv(data=ENV.data, allow_imports=True)
    extractor = build_imported(ImportParams(target="my_features:make", kwargs={"dim": 6}), env)
    out = extractor.extract(torch.zeros(5, 3, 8, 8), torch.device("cpu"))
    assert out.features.shape == (5, 6) and out.logits.shape == (5, 2)
    assert extractor.digest == "import-my_features:make-my-net-v1"
    broken = build_imported(ImportParams(target="my_features:broken"), env)
    assert broken.digest is None  # no digest: never cached on disk
    with pytest.raises(GankitError, match="must return features"):
        broken.extract(torch.zeros(2, 3, 8, 8), torch.device("cpu"))
    with pytest.raises(GankitError, match="cannot import"):
        build_imported(ImportParams(target="my_features:missing"), env)
