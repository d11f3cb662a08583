"""The example spec, which uses every component of this package, trains a few steps without NaN."""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, distribution

from conftest import DIST, SPEC
from gankit.plugins import Registry
from gankit.spec import load_spec


def test_example_spec_trains_without_nan(registry: Registry, tmp_path) -> None:
    from gankit.engine.trainer import Trainer, TrainOptions

    overrides = ["run.steps=20", "run.log_every=10", "run.sample_every=20", "run.checkpoint_every=20",
                 "run.device=cpu"]
    try:
        distribution(DIST)
    except PackageNotFoundError:  # run.requires names this package, which a plain checkout has not installed
        overrides.append("run.requires=[]")
    spec = load_spec(SPEC, overrides, registry=registry)
    result = Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    assert result.step == 20
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r[k] for r in rows if "loss_critic" in r for k in ("loss_critic", "loss_generator")]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    evaluation = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert evaluation and all(math.isfinite(v) for v in _numbers(evaluation))


def _numbers(tree: object) -> list[float]:
    if isinstance(tree, dict):
        return [v for x in tree.values() for v in _numbers(x)]
    return [float(tree)] if isinstance(tree, int | float) and not isinstance(tree, bool) else []
