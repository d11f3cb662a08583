"""A real full disk, simulated by a real file-size limit: ``RLIMIT_FSIZE`` in a subprocess with ``SIGXFSZ``
ignored, so the kernel fails the write (EFBIG, "File too large") exactly where a full disk fails (ENOSPC).
``torch.save`` turns that into a ``RuntimeError`` ("enforce fail ... unexpected pos"); every writer must still
report one line naming the path and the system's reason, remove its partial file, and leave earlier files
untouched."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import tiny_spec, to_toml

WORKER = Path(__file__).with_name("disk_full_worker.py")
LIMIT = 64 * 1024


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return apply


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("disk-full")
    result = subprocess.run([sys.executable, str(WORKER), str(root / "out")], capture_output=True, text=True,
                            timeout=240, preexec_fn=_limit_file_size(LIMIT),
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)
    data["root"] = str(root / "out")  # type: ignore[assignment]
    return data


def _one_line(error: str | None, path: str) -> str:
    assert error is not None, "the write past the limit did not fail"
    assert not error.startswith("UNEXPECTED"), error
    assert "\n" not in error and path in error and "File too large" in error, error
    return error


def test_checkpoint_past_the_limit(outcomes):
    out = outcomes["checkpoint"]
    target = f"{outcomes['root']}/checkpoint/checkpoints/step-000000002.pt"
    error = _one_line(out["error"], target)
    assert error.startswith(f"cannot write checkpoint {target}: File too large; earlier checkpoints are untouched")
    assert out["files"] == ["checkpoints/step-000000001.pt"]  # no partial file anywhere
    assert out["kept_step"] == 1


@pytest.mark.parametrize(("case", "name"), [("json", "eval.json"), ("jsonl", "metrics.jsonl"),
                                            ("png", "samples/step-1.png")])
def test_artifact_past_the_limit_keeps_the_earlier_file(outcomes, case, name):
    out = outcomes[case]
    _one_line(out["error"], f"{outcomes['root']}/{case}/{name}")
    assert out["files"] == [name], out["files"]
    assert out["unchanged"]


@pytest.mark.parametrize(("case", "name"), [("csv", "points.csv"), ("plot", "plots/training.png")])
def test_new_artifact_past_the_limit_leaves_nothing(outcomes, case, name):
    out = outcomes[case]
    _one_line(out["error"], f"{outcomes['root']}/{case}/{name}")
    assert out["files"] == [], out["files"]


def test_train_on_a_full_disk_reports_one_line(tmp_path):
    """End to end: the first checkpoint does not fit; `train` exits 1 with the documented line."""
    spec = tmp_path / "spec.toml"
    spec.write_text(to_toml(tiny_spec(
        run={"steps": 8, "checkpoint_every": 4, "log_every": 4, "sample_every": 1000},
        generator={"name": "mlp", "params": {"hidden": 256, "depth": 2}},
        critic={"name": "mlp", "params": {"hidden": 256, "depth": 2}}, metrics=[])))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "gankit", "train", str(spec), "--out", str(out), "--no-progress"],
                            capture_output=True, text=True, timeout=240, preexec_fn=_limit_file_size(200 * 1024),
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 1, result.stderr[-2000:]
    target = out / "checkpoints" / "step-000000004.pt"
    assert f"cannot write checkpoint {target}: File too large; earlier checkpoints are untouched" in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert not list((out / "checkpoints").iterdir())
    assert not [p for p in out.iterdir() if p.name.startswith(".partial")]
