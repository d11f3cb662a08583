"""A spec's metrics never change its training: building them (a feature extractor's network is initialised and then
loaded, which draws from the global RNG the first time in a process) must not shift the seeded training stream."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from datafiles import write_mnist

WORKER = r"""
import json, sys
import torch
from gankit.build import build_components
from gankit.spec import validate_spec

spec = validate_spec(json.loads(sys.argv[1]))
torch.manual_seed(7)
parts = build_components(spec)
after = torch.randn(4).tolist()  # the next draws of the training stream
weights = sum(float(p.double().sum()) for p in parts.generator.parameters())
print(json.dumps({"after": after, "weights": weights}))
"""


def _spec(root: Path, metrics: list[dict[str, object]]) -> dict[str, object]:
    return {
        "run": {"steps": 1, "device": "cpu"},
        "data": {"name": "mnist", "params": {"root": str(root)}},
        "generator": {"name": "dcgan", "params": {"latent_dim": 8, "width": 8}},
        "critic": {"name": "dcgan", "params": {"width": 8}},
        "divergence": {"name": "sgan-ns", "params": {}},
        "metrics": metrics,
    }


def _run(spec: dict[str, object]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", WORKER, json.dumps(spec)], capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_metrics_do_not_shift_the_training_random_stream(tmp_path: Path) -> None:
    root = write_mnist(tmp_path / "mnist", [i % 10 for i in range(20)])
    fid = [{"name": "fid", "params": {"n_samples": 16, "n_real": 16, "extractor": "mnist-classifier"}}]
    # each in a fresh process: the extractor cache of a process hides the draw after its first build
    with_metric, without = _run(_spec(root, fid)), _run(_spec(root, []))
    assert with_metric == without
