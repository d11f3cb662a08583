"""The third-party example package ``plugins/gankit-qp-power``: installed, it is discovered through the ``gankit``
entry-point group like any plugin — listed, selectable by name, and a spec naming it trains. Its own tests
(golden values, closed form, k = 2 is GAN-QP) live in the package and run with ``pytest plugins/gankit-qp-power``."""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from gankit.engine.trainer import Trainer, TrainOptions
from gankit.plugins import get_registry
from gankit.spec import load_spec

DIST = "gankit-qp-power"
SPEC = ROOT / "plugins" / DIST / "specs" / "qp-power-ring.toml"


@pytest.fixture(autouse=True)
def _installed() -> None:
    try:
        distribution(DIST)
    except PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed (pip install -e plugins/{DIST})")


def test_entry_point_is_in_the_gankit_group() -> None:
    found = [ep for ep in entry_points(group="gankit") if ep.dist is not None and ep.dist.metadata["Name"] == DIST]
    assert [(ep.name, ep.value) for ep in found] == [("qp_power", "gankit_qp_power")]


def test_list_plugins_shows_it(cli: Any) -> None:
    result = cli("list-plugins", "--kind", "divergence", "--json")
    rows = {row["name"]: row for row in json.loads(result.out)}
    assert result.code == 0
    assert rows["qp-power"]["distribution"] == DIST and rows["qp-power"]["status"] == "ok"
    assert get_registry().lookup("divergence", f"{DIST}:qp-power").name == "qp-power"


def test_a_spec_naming_it_validates_and_trains(cli: Any, tmp_path: Path) -> None:
    assert cli("validate", SPEC).code == 0
    spec = load_spec(SPEC, ["run.steps=20", "run.log_every=10", "run.sample_every=20", "run.checkpoint_every=20",
                            "run.device=cpu", "data.params.n_samples=1000", "metrics.0.params.n_samples=200"])
    assert spec.divergence.component.dist == DIST and spec.divergence.params.power == 4
    result = Trainer(spec, TrainOptions(out_dir=tmp_path / "run", progress=False)).fit()
    assert result.step == 20
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    keys = ("loss_critic", "loss_generator", "qp_potential")
    assert all(math.isfinite(r[k]) for r in rows if "loss_critic" in r for k in keys)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["plugins"][f"{DIST}:qp_power"] == distribution(DIST).version
