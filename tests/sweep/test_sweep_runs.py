"""``gankit sweep`` end to end on a tiny spec: parallel runs, results, skip, resume, failures, submitit, report."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from conftest import TINY_SPEC, to_toml

from gankit.sweep.plan import load_sweep
from gankit.sweep.runner import run_sweep
from gankit.sweep.state import Status, run_state

# 20 steps, checkpoints at 10 and 20, an evaluation at each: a run is mostly its interpreter's start
SPEC = {**TINY_SPEC, "run": {**TINY_SPEC["run"], "eval_every": 10, "log_every": 10}}
SWEEP = """seeds = [0, 1]
[[variant]]
name = "gan-qp"
set = { "divergence.name" = "gan-qp" }
[[variant]]
name = "lsgan"
set = { "divergence.name" = "lsgan", "divergence.params" = {} }
"""
BROKEN = """[[variant]]
name = "broken"
[variant.set]
"data.name" = "image-folder"
"data.params" = {{ root = "{images}", resolution = 8, channels = 1 }}
"metrics" = []
"""
METRICS = ["mode-coverage/modes", "mode-coverage/high_quality", "mode-coverage/reverse_kl"]


def write_sweep(tmp_path: Path, body: str = SWEEP) -> Path:
    (tmp_path / "base.toml").write_text(to_toml(SPEC), encoding="utf-8")
    path = tmp_path / "sweep.toml"
    path.write_text(f'spec = "base.toml"\nout_dir = "{tmp_path / "out"}"\n' + body, encoding="utf-8")
    return path


def test_two_variants_two_seeds_in_parallel_then_skipped_then_resumed(tmp_path: Path, cli: Any) -> None:
    path = write_sweep(tmp_path)
    out = tmp_path / "out"
    result = cli("sweep", path, "--jobs", "2")
    assert result.code == 0, result.err + result.out
    assert "done: 4 trained, 0 already finished, 0 failed" in result.out
    for variant in ("gan-qp", "lsgan"):
        for seed in (0, 1):
            run = out / variant / f"seed-{seed}"
            assert (run / "eval.json").is_file() and (run / "checkpoints" / "step-000000020.pt").is_file()
            assert json.loads((run / "manifest.json").read_text())["spec"]["run"]["seed"] == seed
            assert (out / variant / f"seed-{seed}.log").is_file()
    assert json.loads((out / "gan-qp" / "seed-1" / "manifest.json").read_text())["spec"]["divergence"]["name"] \
        == "gan-qp"

    data = json.loads((out / "results.json").read_text())
    assert [v["name"] for v in data["variants"]] == ["gan-qp", "lsgan"]
    assert sorted(data["metrics"]) == sorted(METRICS)
    modes = data["variants"][1]["metrics"]["mode-coverage/modes"]
    finals = [json.loads((out / "lsgan" / f"seed-{s}" / "eval.json").read_text())["mode-coverage/modes"]
              for s in (0, 1)]
    assert modes["per_seed"] == {"0": finals[0], "1": finals[1]}
    assert modes["mean"] == sum(finals) / 2 and modes["n"] == 2
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["variant"], r["seed"]) for r in rows] == [("gan-qp", "0"), ("gan-qp", "1"), ("gan-qp", "mean"),
                                                         ("gan-qp", "se"), ("lsgan", "0"), ("lsgan", "1"),
                                                         ("lsgan", "mean"), ("lsgan", "se")]
    md = (out / "results.md").read_text()
    assert "| variant | seeds | " in md and "\n| lsgan | 2 | " in md
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"

    # a second call trains nothing
    before = {p: p.stat().st_mtime_ns for p in out.rglob("eval.json")}
    result = cli("sweep", path, "--jobs", "2")
    assert result.code == 0 and "done: 0 trained, 4 already finished, 0 failed" in result.out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("eval.json")} == before

    # an interrupted run (killed between its checkpoints at 10 and 20) is resumed from its checkpoint, while a
    # new variant is added alongside; that one validates but cannot train (an unreadable image): its failure is
    # reported with its folder and first error line, the resumed run goes on, and the exit status is 1
    run = out / "gan-qp" / "seed-1"
    (run / "eval.json").unlink()
    (run / "checkpoints" / "step-000000020.pt").unlink()
    assert run_state(load_sweep(path).runs[1]).status is Status.resume
    dry = cli("sweep", path, "--dry-run")
    assert "gan-qp/seed-1" in dry.out and "resume from step 10" in dry.out
    images = tmp_path / "images"
    images.mkdir()
    (images / "x.png").write_text("not a png")
    path.write_text(path.read_text().replace("seeds = [0, 1]", "seeds = [0, 1]\n" + BROKEN.format(images=images)))
    broken = out / "broken" / "seed-0"
    broken.mkdir(parents=True)
    (broken / "metrics.jsonl").write_text("")  # an earlier attempt that never reached a checkpoint
    result = cli("sweep", path, "--jobs", "2")
    assert result.code == 1
    assert "3 finished (skipped), 1 to resume, 2 to start" in result.out
    failed = [line for line in result.out.splitlines() if line.startswith("failed broken/seed-0")]
    assert failed == [f"failed broken/seed-0: {broken}: error: {images / 'x.png'}: cannot read image: cannot "
                      f"identify image file '{images / 'x.png'}' (log: {broken}.log)"]
    assert "done: 1 trained, 3 already finished, 2 failed" in result.out
    assert (out / "broken" / "seed-0.attempt-1" / "metrics.jsonl").is_file()  # set aside, not lost
    assert (run / "eval.json").is_file() and (run / "checkpoints" / "step-000000020.pt").is_file()
    starts = [line for line in (out / "gan-qp" / "seed-1.log").read_text().splitlines() if line.startswith("---")]
    assert len(starts) == 2 and starts[-1].endswith(" --resume")

    # --report rebuilds the results from the folders alone
    for name in ("results.md", "results.csv", "results.json", "results.png"):
        (out / name).unlink()
    result = cli("sweep", path, "--report")
    assert result.code == 0 and "| gan-qp | 2 |" in result.out and "| broken | 0 |" in result.out
    assert all((out / n).is_file() for n in ("results.md", "results.csv", "results.json", "results.png"))


def test_submitit_local_executor_runs_the_same_path(tmp_path: Path) -> None:
    from rich.console import Console

    path = write_sweep(tmp_path, 'seeds = [3]\n[[variant]]\nname = "qp"\n[slurm]\ntime = "0:10:00"\n')
    sweep = load_sweep(path, ["run.eval_every=0"])
    with (tmp_path / "log").open("w") as log:
        summary = run_sweep(sweep, jobs=1, launcher="slurm", console=Console(file=log), cluster="local", poll=0.2)
    assert [o.ok for o in summary.outcomes] == [True], summary.outcomes
    assert (tmp_path / "out" / "qp" / "seed-3" / "eval.json").is_file()
    assert list((tmp_path / "out" / ".submitit").glob("*_result.pkl"))  # it went through submitit
    assert json.loads((tmp_path / "out" / "results.json").read_text())["variants"][0]["seeds"] == [3]


def test_slurm_launcher_without_slurm_is_one_line(tmp_path: Path, cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    result = cli("sweep", write_sweep(tmp_path), "--launcher", "slurm")
    assert result.code == 1
    assert result.err.strip() == ("error: --launcher slurm: no Slurm here (sbatch not found on PATH); "
                                  "use --launcher local")


def test_a_stopped_sweep_stops_its_runs_with_a_checkpoint_and_resumes_them(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from gankit.sweep.runner import latest_step

    # SIGTERM, as a scheduler sends it (a Ctrl-C takes the same path); the runs are far from their end
    path = write_sweep(tmp_path, 'seeds = [0, 1]\nset = { "run.steps" = 100000, "run.checkpoint_every" = 100000 }\n')
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "sweep", str(path), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    runs = [tmp_path / "out" / "base" / f"seed-{s}" for s in (0, 1)]
    deadline = time.monotonic() + 120
    while not all(latest_step(r) > 0 for r in runs):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted: the running runs saved a checkpoint")
    steps = [int(p.stem.split("-")[1]) for r in runs for p in (r / "checkpoints").glob("step-*.pt")]
    assert len(steps) == 2 and all(0 < s < 100000 for s in steps)
    states = [run_state(plan) for plan in load_sweep(path).runs]
    assert [s.status for s in states] == [Status.resume, Status.resume]
