"""Hostile files: a checkpoint that would run code when unpickled is refused, and nothing runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import tiny_spec

from gankit.errors import GankitError


class _Payload:
    """Unpickling this calls os.system: a checkpoint must never be loaded with full pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_checkpoint(path: Path, marker: Path) -> Path:
    import torch

    torch.save({"format": "gankit-checkpoint", "step": 1, "generator": _Payload(marker)}, path)
    return path


def test_pickle_payload_in_checkpoint_is_refused(tmp_path):
    from gankit.engine.checkpoint import load_checkpoint

    marker = tmp_path / "pwned"
    path = _hostile_checkpoint(tmp_path / "step-000000001.pt", marker)
    with pytest.raises(GankitError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()
    # the payload is real: an unrestricted load runs it
    import torch

    torch.load(path, weights_only=False)
    assert marker.exists()


def test_resume_from_hostile_checkpoint_fails_cleanly(cli, write_spec, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = _hostile_checkpoint(tmp_path / "evil.pt", marker)
    spec = write_spec(tiny_spec())
    result = cli("train", spec, "--out", tmp_path / "run", "--resume", ckpt, "--no-progress")
    assert result.code == 1
    assert "refused to load" in result.err and "Traceback" not in result.err
    assert not marker.exists()


def test_truncated_checkpoint_is_reported(tmp_path):
    import torch

    from gankit.engine.checkpoint import load_checkpoint

    path = tmp_path / "step-000000002.pt"
    torch.save({"format": "gankit-checkpoint", "weights": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(GankitError, match="not a gankit checkpoint"):
        load_checkpoint(path)


def test_spec_names_resolve_only_through_the_registry():
    from gankit.errors import SpecError
    from gankit.spec import validate_spec

    with pytest.raises(SpecError) as info:
        validate_spec(tiny_spec(divergence={"name": "os:system", "params": {}}))
    assert dict(info.value.problems)["divergence.name"].startswith("unknown divergence 'os:system'")
