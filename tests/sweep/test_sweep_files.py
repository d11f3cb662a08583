"""Sweep files: expansion into runs and the one-line error of every kind of mistake (no training here)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, TINY_SPEC, to_toml

from gankit.errors import SpecError
from gankit.sweep.plan import is_sweep_file, load_sweep, minutes_of, toml_value
from gankit.sweep.state import write_record


def write_sweep(tmp_path: Path, body: str, spec: dict[str, Any] | None = None) -> Path:
    (tmp_path / "base.toml").write_text(to_toml(spec or TINY_SPEC), encoding="utf-8")
    path = tmp_path / "sweep.toml"
    path.write_text(f'spec = "base.toml"\nout_dir = "{tmp_path / "out"}"\n' + body, encoding="utf-8")
    return path


TWO_VARIANTS = """seeds = [0, 1]
[[variant]]
name = "gan-qp"
set = { "divergence.name" = "gan-qp" }
[[variant]]
name = "sgan-ns"
set = { "divergence.name" = "sgan-ns", "divergence.params" = {} }
"""


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    return info.value.lines()


def test_variants_times_seeds_become_runs_in_their_folders(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, TWO_VARIANTS))
    assert [r.key for r in sweep.runs] == ["gan-qp/seed-0", "gan-qp/seed-1", "sgan-ns/seed-0", "sgan-ns/seed-1"]
    run = sweep.runs[3]
    assert run.out == tmp_path / "out" / "sgan-ns" / "seed-1"
    assert run.overrides == ('divergence.name="sgan-ns"', "divergence.params={}", "run.seed=1")
    assert run.steps == TINY_SPEC["run"]["steps"]
    assert len({r.digest for r in sweep.runs}) == 4


def test_default_out_dir_is_runs_slash_stem(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(to_toml(TINY_SPEC), encoding="utf-8")
    path = tmp_path / "my-compare.toml"
    path.write_text('spec = "base.toml"\nseeds = [3]\n', encoding="utf-8")
    sweep = load_sweep(path)
    assert sweep.out_dir == Path("runs") / "my-compare"
    assert [r.key for r in sweep.runs] == ["base/seed-3"]


def test_grid_is_a_product_of_named_variants(tmp_path: Path) -> None:
    body = """seeds = [0]
set = { "run.steps" = 5 }
[grid]
"run.optimizer.generator.lr" = [1e-4, 3e-4]
"critic.params.hidden" = [16, 32]
[[variant]]
name = "qp"
set = { "divergence.name" = "gan-qp" }
"""
    sweep = load_sweep(write_sweep(tmp_path, body))
    assert [v.name for v in sweep.variants] == ["qp_lr=0.0001_hidden=16", "qp_lr=0.0001_hidden=32",
                                                "qp_lr=0.0003_hidden=16", "qp_lr=0.0003_hidden=32"]
    assert sweep.variants[1].overrides == ("run.steps=5", "run.optimizer.generator.lr=0.0001",
                                           "critic.params.hidden=32", 'divergence.name="gan-qp"')
    assert all(r.steps == 5 for r in sweep.runs)


def test_cli_set_applies_to_every_run_last(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, TWO_VARIANTS), ["run.steps=7"])
    assert all(r.steps == 7 and r.overrides[-2] == "run.steps=7" for r in sweep.runs)


@pytest.mark.parametrize("value", [1, -2.5, 1e-4, 3e-12, True, "l2", 'a "quoted"\\ path', [0.0, 0.9],
                                   {"lam": 10.0, "distance": "l1", "nested": {"x": [1, 2]}}, {}])
def test_toml_value_round_trips_through_train_set(value: Any) -> None:
    import tomllib

    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # an unknown key in a variant names the variant and suggests the right key
        ('seeds = [0]\n[[variant]]\nname = "a"\nsett = { "run.steps" = 5 }\n',
         "variant 'a': sett: unknown key; did you mean 'set'?"),
        ('seeds = [0]\nseedz = [0]\n', "seedz: unknown key; did you mean 'seeds'?"),
        ('seeds = [0]\n[[variant]]\nname = "a"\n[[variant]]\nname = "a"\n',
         "variant 'a': duplicate name ([[variant]] 1 and 2)"),
        ("seeds = []\n", "seeds: empty: give at least one seed, e.g. seeds = [0, 1, 2]"),
        ("seeds = [1, 1]\n", "seeds: seeds must not repeat"),
        ('seeds = [0]\n[[variant]]\nname = "sgan-ns"\nset = { "divergence.name" = "sgan-nz" }\n',
         "variant 'sgan-ns': divergence.name: unknown divergence 'sgan-nz'; did you mean 'sgan-ns'?"),
        ('seeds = [0]\n[[variant]]\nname = "a"\nset = { "run.stepz" = 5 }\n',
         "variant 'a': run.stepz: unknown key; did you mean 'steps'?"),
        ('seeds = [0]\n[[variant]]\nname = "a"\nset = { "run.optimizer.critic.lr" = -1 }\n',
         "variant 'a': run.optimizer.critic.lr: input should be greater than 0 (got -1)"),
        ('seeds = [0]\n[[variant]]\nname = "a"\nset = { "run.seed" = 5 }\n',
         "variant 'a': set.run.seed: is set by the sweep (seeds / out_dir); remove it"),
        ('seeds = [0]\n[[variant]]\nname = "a/b"\n', "variant 'a/b': name: string should match pattern"),
        ('seeds = [0]\n[grid]\n"run.steps" = []\n', "grid: 'run.steps' has no values"),
        ('seeds = [0]\n[slurm]\ntime = "2 hours"\n', "slurm.time: expected minutes or 'HH:MM:SS'"),
        ('seeds = [0]\n[slurm]\ngpu = 2\n', "slurm.gpu: unknown key"),
    ],
)
def test_each_bad_sweep_file_gets_one_line_naming_where(tmp_path: Path, body: str, expected: str) -> None:
    lines = errors_of(write_sweep(tmp_path, body))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path / 'sweep.toml'}: {expected}"), lines[0]


def test_missing_base_spec_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('spec = "specs/nope.toml"\nseeds = [0]\n', encoding="utf-8")
    assert errors_of(path) == [f"{path}: spec: no such file 'specs/nope.toml' (looked for "
                               f"{(tmp_path / 'specs' / 'nope.toml').resolve()})"]


def test_every_problem_of_every_variant_at_once(tmp_path: Path) -> None:
    body = ('seeds = [0, 1]\n[[variant]]\nname = "a"\nset = { "run.stepz" = 5 }\n'
            '[[variant]]\nname = "b"\nset = { "divergence.name" = "nope" }\n')
    lines = errors_of(write_sweep(tmp_path, body))
    assert len(lines) == 2 and "variant 'a': run.stepz" in lines[0] and "variant 'b': divergence.name" in lines[1]


def test_slurm_time_forms() -> None:
    assert minutes_of(90) == 90 and minutes_of("1:30:00") == 90 and minutes_of("1-00:00:30") == 1441


def test_sweep_files_are_recognised(tmp_path: Path) -> None:
    assert is_sweep_file(write_sweep(tmp_path, TWO_VARIANTS))
    assert not is_sweep_file(tmp_path / "base.toml")
    assert is_sweep_file(ROOT / "specs" / "sweeps" / "compare-divergences.toml")


def test_validate_checks_a_sweep_file_like_sweep(tmp_path: Path, cli: Any) -> None:
    good = write_sweep(tmp_path, TWO_VARIANTS)
    result = cli("validate", good, tmp_path / "base.toml")
    assert result.code == 0 and "2 valid, 0 invalid" in result.out
    good.write_text(good.read_text().replace('"sgan-ns", "divergence.params"', '"sgan-nz", "divergence.params"'))
    result = cli("validate", good)
    assert result.code == 1
    assert (f"{good}: variant 'sgan-ns': divergence.name: unknown divergence 'sgan-nz'; did you mean 'sgan-ns'?"
            in result.err)


def test_sweep_refuses_a_bad_file_before_running_anything(tmp_path: Path, cli: Any) -> None:
    path = write_sweep(tmp_path, 'seeds = [0]\n[[variant]]\nname = "a"\nset = { "run.stepz" = 5 }\n')
    result = cli("sweep", path)
    assert result.code == 1
    assert result.err.strip() == f"error: {path}: variant 'a': run.stepz: unknown key; did you mean 'steps'?"
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_runs_without_torch(tmp_path: Path) -> None:
    import subprocess

    path = write_sweep(tmp_path, TWO_VARIANTS)
    code = ("import sys; from gankit.cli import run; rc = run(['sweep', sys.argv[1], '--dry-run']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gan-qp/seed-0") and " train " in lines[0] and "--set run.seed=0" in lines[0]
    assert lines[-1] == f"4 runs (2 variants × 2 seeds) in {tmp_path / 'out'}"
    assert not (tmp_path / "out").exists()


def test_changed_spec_of_a_trained_run_is_refused(tmp_path: Path, cli: Any) -> None:
    path = write_sweep(tmp_path, TWO_VARIANTS)
    sweep = load_sweep(path)
    write_record(sweep, {"runs": {}})
    trained = sweep.runs[2].out / "checkpoints"  # sgan-ns/seed-0 holds a checkpoint
    trained.mkdir(parents=True)
    (trained / "step-000000010.pt").write_bytes(b"")
    path.write_text(path.read_text().replace('"divergence.params" = {}', '"divergence.params" = {}, '
                                             '"run.batch_size" = 16'))
    result = cli("sweep", path, "--dry-run")
    assert result.code == 1
    assert result.err.startswith(f"error: {path}: variant 'sgan-ns': its spec differs from the one seed-0 trained")
    # a new variant beside the old ones is fine
    path.write_text(path.read_text().replace('name = "sgan-ns"', 'name = "sgan-ns-b16"'))
    assert cli("sweep", path, "--dry-run").code == 0


def test_the_example_sweeps_are_valid(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = cli("validate", ROOT / "specs" / "sweeps", ROOT / "benchmarks" / "mixtures-ring.toml",
                 ROOT / "benchmarks" / "mixtures-grid.toml")
    assert result.code == 0, result.err


def test_a_sweep_file_with_a_misspelt_seeds_key_is_still_a_sweep_file(tmp_path: Path, cli: Any) -> None:
    path = write_sweep(tmp_path, "seedz = [0]\n")
    result = cli("validate", path)
    assert result.code == 1
    assert f"{path}: seedz: unknown key; did you mean 'seeds'?" in result.err


def test_grid_values_that_give_one_folder_name_are_refused(tmp_path: Path) -> None:
    lines = errors_of(write_sweep(tmp_path, 'seeds = [0]\n[grid]\n"run.device" = ["cpu", "cpu"]\n'))
    assert lines == [f"{tmp_path / 'sweep.toml'}: variant 'device=cpu': two grid points give this name; "
                     "make their values distinct"]
