"""``gankit train`` options: ``--resume [PATH]`` in every position, the run-folder rule, the torchrun command
line that ``--nproc`` builds, and ``gankit sample``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, tiny_spec

from gankit.cli.train import LATEST, optional_resume_value, worker_args
from gankit.engine.checkpoint import list_checkpoints, load_checkpoint
from gankit.engine.launch import torchrun_command


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["s.toml", "--resume"], ["s.toml", f"--resume={LATEST}"]),
        (["s.toml", "--resume", "--out", "r"], ["s.toml", f"--resume={LATEST}", "--out", "r"]),
        (["--resume", "s.toml"], [f"--resume={LATEST}", "s.toml"]),
        (["s.toml", "--resume", "runs/a"], ["s.toml", "--resume", "runs/a"]),
        (["--resume", "runs/a/checkpoints/step-000000010.pt", "s.toml"],
         ["--resume", "runs/a/checkpoints/step-000000010.pt", "s.toml"]),
        (["s.toml", "--resume=runs/a"], ["s.toml", "--resume=runs/a"]),
        (["s.toml", "--", "--resume"], ["s.toml", "--", "--resume"]),
    ],
)
def test_resume_takes_an_optional_value(argv: list[str], expected: list[str]) -> None:
    assert optional_resume_value(argv) == expected


def test_the_cli_imports_without_deprecation_warnings() -> None:
    code = "import gankit.cli"
    proc = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_resume_bare_and_with_a_path(cli, write_spec, tmp_path) -> None:
    spec = write_spec(tiny_spec(run={"steps": 4, "log_every": 2, "checkpoint_every": 2, "sample_every": 4},
                                metrics=[]))
    out = tmp_path / "run"
    assert cli("train", spec, "--out", out, "--no-progress").code == 0
    # bare --resume at the end of the line, with more steps
    more = cli("train", spec, "--out", out, "--no-progress", "--set", "run.steps=6", "--resume")
    assert more.code == 0, more.err
    assert "resumed from" in more.err and "step-000000004.pt at step 4" in more.err
    assert _steps(out) == [2, 4, 6]
    # --resume PATH before the spec: a checkpoint of another run, continued in a new folder
    other = tmp_path / "other"
    ckpt = out / "checkpoints" / "step-000000004.pt"
    result = cli("train", "--resume", ckpt, spec, "--out", other, "--no-progress", "--set", "run.steps=6")
    assert result.code == 0, result.err
    assert _steps(other) == [6]
    a = load_checkpoint(list_checkpoints(out / "checkpoints")[-1])["generator"]
    b = load_checkpoint(list_checkpoints(other / "checkpoints")[-1])["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # both continued from step 4 the same way
    # --resume with a run folder
    third = cli("train", spec, "--out", tmp_path / "third", "--resume", out, "--no-progress")
    assert third.code == 0 and "step-000000006.pt at step 6" in third.err


def test_resume_with_a_missing_path_is_one_line(cli, write_spec, tmp_path) -> None:
    spec = write_spec(tiny_spec())
    result = cli("train", spec, "--out", tmp_path / "run", "--resume", tmp_path / "nope", "--no-progress")
    assert result.code == 1
    assert result.err.strip().splitlines() == [f"error: {tmp_path / 'nope'}: no such file or folder"]


def test_a_folder_with_only_a_log_already_holds_a_run(cli, write_spec, tmp_path) -> None:
    """A run killed before its first checkpoint still owns its folder: a new run must not append to its log."""
    spec = write_spec(tiny_spec(metrics=[]))
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 10, "loss_critic": 1.0}\n')
    result = cli("train", spec, "--out", out, "--no-progress")
    assert result.code == 1 and "already holds a run (metrics.jsonl); pass --resume" in result.err
    resumed = cli("train", spec, "--out", out, "--no-progress", "--resume")  # nothing to resume from
    assert resumed.code == 1 and "holds a run but no checkpoint (metrics.jsonl)" in resumed.err
    assert _steps(out) == [10]  # untouched


def test_unrelated_files_do_not_make_a_run(cli, write_spec, tmp_path) -> None:
    spec = write_spec(tiny_spec(run={"steps": 2, "log_every": 2, "sample_every": 2}, metrics=[]))
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli("train", spec, "--out", out, "--no-progress").code == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_nproc_builds_the_same_command_for_torchrun() -> None:
    args = worker_args(Path("s.toml"), Path("out"), ["run.steps=5"], LATEST, True, False)
    assert args == ["train", "s.toml", "--out", "out", "--set", "run.steps=5", "--allow-imports", "--no-progress",
                    "--resume"]
    cmd = torchrun_command(args, 4, 2)
    assert cmd[:9] == [sys.executable, "-P", "-m", "gankit.engine.launch", "agent", "--standalone",
                       "--nproc-per-node=4", "--max-restarts=2", "-m"]
    assert cmd[9:] == ["gankit.engine.launch", "worker", *args]
    assert worker_args(Path("s.toml"), None, [], "ckpt.pt", False, None)[-1] == "--resume=ckpt.pt"


def test_nproc_inside_a_slurm_step_is_refused(cli, write_spec, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    result = cli("train", write_spec(tiny_spec()), "--nproc", "2")
    assert result.code == 1 and "use either srun's tasks or --nproc" in result.err


def test_slurm_tasks_without_master_addr_are_refused(cli, write_spec, tmp_path, monkeypatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", "0")
    result = cli("train", write_spec(tiny_spec()), "--out", tmp_path / "run", "--no-progress")
    assert result.code == 1 and "MASTER_ADDR is not set" in result.err


def test_bad_collective_timeout_is_refused(monkeypatch) -> None:
    from gankit.engine.distributed import collective_timeout
    from gankit.errors import GankitError

    monkeypatch.setenv("GANKIT_DIST_TIMEOUT", "soon")
    with pytest.raises(GankitError, match="GANKIT_DIST_TIMEOUT='soon': expected a positive number of seconds"):
        collective_timeout()
    monkeypatch.setenv("GANKIT_DIST_TIMEOUT", "2.5")
    assert collective_timeout().total_seconds() == 2.5


# ------------------------------------------------------------------------------------------ sample
def test_sample_writes_points_and_a_scatter_from_the_ema_generator(cli, write_spec, tmp_path) -> None:
    spec = write_spec(tiny_spec(run={"steps": 4, "log_every": 2, "checkpoint_every": 2, "sample_every": 4,
                                     "ema": 0.5}, metrics=[]))
    run = tmp_path / "run"
    assert cli("train", spec, "--out", run, "--no-progress").code == 0
    result = cli("sample", run, "-n", "50", "--seed", "3")
    assert result.code == 0, result.err
    assert "wrote 50 samples" in result.out and "step-000000004.pt (step 4, EMA generator)" in result.out
    folder = run / "generated"
    assert (folder / "scatter.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.reader((folder / "points.csv").read_text().splitlines()))
    assert rows[0] == ["x0", "x1"] and len(rows) == 51
    # the points are the EMA generator's outputs for the seeded latents
    from gankit.engine.sampling import generate_from_checkpoint

    again = generate_from_checkpoint(run, 50, seed=3)
    assert torch.allclose(torch.tensor([[float(v) for v in r] for r in rows[1:]], dtype=torch.float64),
                          again.samples.double())
    plain = generate_from_checkpoint(run, 50, seed=3, use_ema=False)
    assert not plain.ema and not torch.equal(plain.samples, again.samples)


def test_sample_from_a_checkpoint_file_into_a_folder(cli, write_spec, tmp_path) -> None:
    spec = write_spec(tiny_spec(run={"steps": 2, "log_every": 2, "checkpoint_every": 2, "sample_every": 2},
                                metrics=[]))
    run = tmp_path / "run"
    assert cli("train", spec, "--out", run, "--no-progress").code == 0
    out = tmp_path / "pts"
    result = cli("sample", run / "checkpoints" / "step-000000002.pt", "-n", "7", "--out", out)
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["points.csv", "scatter.png"]


def test_sample_refuses_what_is_not_a_checkpoint(cli, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("sample", tmp_path / "empty")
    assert result.code == 1 and "no checkpoint found" in result.err and "Traceback" not in result.err


def test_rewind_is_passed_through_and_needs_resume(cli, write_spec, tmp_path) -> None:
    spec = write_spec(tiny_spec(run={"steps": 4, "log_every": 2, "checkpoint_every": 2, "sample_every": 4,
                                     "keep_checkpoints": 5}, metrics=[]))
    out = tmp_path / "run"
    assert cli("train", spec, "--out", out, "--no-progress").code == 0
    early = out / "checkpoints" / "step-000000002.pt"
    refused = cli("train", spec, "--out", out, "--no-progress", "--resume", early)
    assert refused.code == 1 and "--rewind" in refused.err
    alone = cli("train", spec, "--out", out, "--no-progress", "--rewind")
    assert alone.code == 1 and "--rewind: only with --resume" in alone.err
    rewound = cli("train", spec, "--out", out, "--no-progress", "--resume", early, "--rewind")
    assert rewound.code == 0, rewound.err
    assert "moved" in rewound.err and len(list((out / "superseded").iterdir())) == 1
    assert worker_args(Path("s.toml"), None, [], "ckpt.pt", False, None, rewind=True)[-1] == "--rewind"
