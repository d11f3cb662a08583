"""End to end: the tiny spec trains through the CLI and leaves every artifact."""

from __future__ import annotations

import json

from conftest import TINY_SPEC


def test_train_writes_artifacts(cli, write_spec, tmp_path):
    spec = write_spec(TINY_SPEC)
    out = tmp_path / "run"
    result = cli("train", spec, "--out", out, "--no-progress")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000000010.pt", "step-000000020.pt"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss_critic" in r] == [10, 20]
    final = json.loads((out / "eval.json").read_text())
    assert 0 <= final["mode-coverage/modes"] <= 8
    assert (out / "samples" / "step-000000020.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "plots" / "training.png").stat().st_size > 1000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["divergence"]["name"] == "gan-qp" and len(manifest["spec_hash"]) == 16


def test_train_refuses_to_overwrite_a_run(cli, write_spec, tmp_path):
    spec = write_spec(TINY_SPEC)
    out = tmp_path / "run"
    assert cli("train", spec, "--out", out, "--no-progress").code == 0
    again = cli("train", spec, "--out", out, "--no-progress")
    assert again.code == 1
    assert "already holds a run" in again.err and "Traceback" not in again.err
