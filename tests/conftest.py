"""Shared test fixtures: the CLI in-process, spec builders, and the real data sets (skipped when absent)."""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GANKIT_TEST_DATA", ROOT.parent / "shared" / "data"))

# a spec that trains in about a second on the CPU
TINY_SPEC: dict[str, Any] = {
    "run": {"steps": 20, "batch_size": 32, "log_every": 10, "sample_every": 20, "checkpoint_every": 10,
            "seed": 0, "device": "cpu"},
    "data": {"name": "ring", "params": {"n_samples": 2000}},
    "generator": {"name": "mlp", "params": {"hidden": 32, "depth": 2}},
    "critic": {"name": "mlp", "params": {"hidden": 32, "depth": 2}},
    "divergence": {"name": "gan-qp", "params": {}},
    "metrics": [{"name": "mode-coverage", "params": {"n_samples": 500}}],
}


def tiny_spec(**tables: Any) -> dict[str, Any]:
    """A copy of ``TINY_SPEC`` with whole tables replaced (``run`` is merged key by key)."""
    spec = copy.deepcopy(TINY_SPEC)
    for key, value in tables.items():
        if key == "run":
            spec["run"].update(value)
        else:
            spec[key] = value
    return spec


def to_toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer for test specs (tables, arrays of tables, inline params)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        return repr(v)

    lines: list[str] = []

    def table(name: str, body: dict[str, Any], header: str) -> None:
        lines.append(header)
        nested = {k: v for k, v in body.items() if isinstance(v, dict) and k != "params"}
        for k, v in body.items():
            if k not in nested:
                lines.append(f'"{k}" = {value(v)}')
        lines.append("")
        for k, v in nested.items():
            table(f"{name}.{k}", v, f"[{name}.{k}]")

    for key, body in data.items():
        if key == "metrics" and isinstance(body, list) and body:
            for item in body:
                table("metrics", item, "[[metrics]]")
        elif isinstance(body, dict):
            table(key, body, f"[{key}]")
        else:
            lines.insert(0, f'"{key}" = {value(body)}')
    text = "\n".join(lines)
    assert tomllib.loads(text) == data, "to_toml round trip"
    return text


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """``write_spec(data_or_text, name="spec.toml")`` -> path of a spec file in ``tmp_path``."""

    def write(data: dict[str, Any] | str, name: str = "spec.toml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else to_toml(data), encoding="utf-8")
        return path

    return write


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``gankit ARGS`` in-process (exactly as the console script does) and capture its output."""
    from gankit.cli import run

    def invoke(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture(autouse=True)
def _fresh_registry() -> Any:
    """Each test sees the installed plugins afresh (tests may install or block plugins)."""
    from gankit.plugins import reset_registry

    reset_registry()
    yield
    reset_registry()


def _data_dir(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"{name} not found at {path} (set GANKIT_TEST_DATA to the folder holding mnist/, fashion-mnist/)")
    return path


@pytest.fixture
def mnist_dir() -> Path:
    return _data_dir("mnist")


@pytest.fixture
def fashion_mnist_dir() -> Path:
    return _data_dir("fashion-mnist")
