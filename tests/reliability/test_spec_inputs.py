"""Hostile spec inputs: out-of-range and non-finite numbers, loosely typed values, trailing text in --set, a
UTF-8 BOM, deep nesting, and spec "files" that are devices, FIFOs or huge. Each fails (or passes) `validate`
with one line naming the field or file, and never hangs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import tiny_spec, to_toml
from pydantic import Field, ValidationError

from gankit.errors import SpecError
from gankit.params import Params
from gankit.spec import load_spec, validate_spec


def _problems(data: dict, overrides: tuple[str, ...] = ()) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        validate_spec(data, overrides)
    return dict(info.value.problems)


def test_seed_beyond_what_the_rngs_accept_is_refused():
    assert "run.seed" in _problems(tiny_spec(run={"seed": 2**63 - 1}))
    assert validate_spec(tiny_spec(run={"seed": 2**32 - 1})).run.seed == 2**32 - 1


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_component_params_are_refused(value):
    data = tiny_spec(data={"name": "ring", "params": {"std": value}})
    assert "data.params.std" in _problems(data)


def test_non_finite_run_floats_are_refused():
    data = tiny_spec()
    data["run"]["optimizer"] = {"critic": {"lr": float("inf")}}
    assert "run.optimizer.critic.lr" in _problems(data)


def test_every_params_model_refuses_non_finite_floats():
    """A third-party params model gets the check from the base class, without declaring anything."""

    class ThirdParty(Params):
        scale: float = Field(1.0, description="no bounds declared")
        maybe: float | None = None

    with pytest.raises(ValidationError, match="finite"):
        ThirdParty.model_validate({"scale": float("inf")})
    with pytest.raises(ValidationError, match="finite"):
        ThirdParty.model_validate({"maybe": float("nan")})
    assert ThirdParty.model_validate({"scale": 2}).scale == 2.0


def test_set_rejects_text_after_the_value():
    problems = _problems(tiny_spec(), ("run.steps=1\n[foo]",))
    assert any(k.startswith("--set run.steps") for k in problems), problems
    problems = _problems(tiny_spec(), ("run.steps=1\nseed = 3",))
    assert any(k.startswith("--set run.steps") for k in problems), problems


@pytest.mark.parametrize(("override", "field"), [
    ("run.steps=true", "run.steps"),
    ("run.steps=2.0", "run.steps"),
    ("run.steps='5'", "run.steps"),
    ("run.compile=1", "run.compile"),
    ("run.num_workers=true", "run.num_workers"),
    ("data.params.n_samples=true", "data.params.n_samples"),
    ("data.params.std=true", "data.params.std"),
])
def test_set_values_are_strictly_typed(override, field):
    problems = _problems(tiny_spec(), (override,))
    assert field in problems, problems


def test_strict_types_in_the_spec_file_too():
    assert "run.steps" in _problems(tiny_spec(run={"steps": True}))
    assert "run.channels_last" in _problems(tiny_spec(run={"channels_last": "yes"}))


def test_ints_are_still_accepted_for_floats():
    spec = validate_spec(tiny_spec(data={"name": "ring", "params": {"std": 1}}), ("run.ema=0.9",))
    assert spec.data.params.std == 1.0 and spec.run.ema == 0.9


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + to_toml(tiny_spec()).encode())
    assert load_spec(path).run.steps == tiny_spec()["run"]["steps"]


@pytest.mark.parametrize("nested", ["[" * 100_000 + "]" * 100_000, "{a = " * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_toml_is_one_line(tmp_path, nested):
    path = tmp_path / "deep.toml"
    path.write_text(to_toml(tiny_spec()) + f"\n[extra]\nx = {nested}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert len(info.value.lines()) == 1 and "nested too deeply" in str(info.value)


def _validate_subprocess(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gankit", "validate", target], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_validate_dev_zero_does_not_hang():
    result = _validate_subprocess("/dev/zero")
    assert result.returncode == 1, result.stderr
    assert "/dev/zero: not a regular file" in result.stderr and "Traceback" not in result.stderr


def test_validate_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    result = _validate_subprocess(str(fifo))
    assert result.returncode == 1, result.stderr
    assert f"{fifo}: not a regular file" in result.stderr


def test_oversized_spec_file_is_refused_without_parsing(tmp_path):
    path = tmp_path / "huge.toml"
    with path.open("w") as fh:
        fh.write(to_toml(tiny_spec()) + "\n")
        fh.write("# " + "x" * (4 * 2**20) + "\n")
    with pytest.raises(SpecError, match=r"too large"):
        load_spec(path)


def test_sweep_of_a_fifo_does_not_hang(tmp_path):
    """A sweep file is read like a spec file: a FIFO (or /dev/zero) is refused, never read until memory runs out."""
    fifo = tmp_path / "sweep.toml"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "gankit", "sweep", str(fifo), "--dry-run"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert f"{fifo}: not a regular file" in result.stderr and "Traceback" not in result.stderr
