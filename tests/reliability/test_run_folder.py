"""A run folder is the user's data: one writer, nothing rewound or replaced without asking, history appended.

Each test reproduces a failure of issue 14 (items 1-6, 8 and the low-severity error-quality items) and was
seen failing on the code before the run-folder module existed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_spec

from gankit.engine.checkpoint import list_checkpoints, load_checkpoint
from gankit.errors import GankitError

ROOT = Path(__file__).resolve().parents[2]


def _spec(**run: Any) -> Any:
    from gankit.spec import validate_spec

    return validate_spec(tiny_spec(run={"steps": 4, "log_every": 2, "checkpoint_every": 2, "sample_every": 4,
                                        "keep_checkpoints": 10, **run}, metrics=[]))


def _train(spec: Any, out: Path, **options: Any) -> Any:
    from gankit.engine.trainer import Trainer, TrainOptions

    return Trainer(spec, TrainOptions(out_dir=out, progress=False, **options)).fit()


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            and not p.name.startswith(".gankit")}


# ------------------------------------------------------------------------ 1. resume from an earlier checkpoint
def test_resuming_an_earlier_checkpoint_into_a_later_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train(_spec(), out)
    before = _snapshot(out)
    with pytest.raises(GankitError) as info:
        _train(_spec(critic_steps=2), out, resume=out / "checkpoints" / "step-000000002.pt")
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "--out" in message and "--rewind" in message, message
    assert "step-000000004.pt" in message
    assert _snapshot(out) == before  # nothing touched


def test_rewind_moves_later_results_aside_and_writes_fresh_final_results(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train(_spec(), out)
    old_final = (out / "checkpoints" / "step-000000004.pt").read_bytes()
    old_rows = (out / "metrics.jsonl").read_text()
    result = _train(_spec(critic_steps=2), out, resume=out / "checkpoints" / "step-000000002.pt", rewind=True)
    assert result.step == 4
    aside = [p for p in (out / "superseded").iterdir()]
    assert len(aside) == 1 and aside[0].name.endswith("-from-step-000000002")
    assert (aside[0] / "checkpoints" / "step-000000004.pt").read_bytes() == old_final  # never discarded
    assert (aside[0] / "eval.json").exists() and (aside[0] / "samples" / "step-000000004.png").exists()
    assert [json.loads(line)["step"] for line in (aside[0] / "metrics.jsonl").read_text().splitlines()] == [4]
    assert (out / "checkpoints" / "step-000000004.pt").read_bytes() != old_final  # the final write happened
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and (out / "metrics.jsonl").read_text() != old_rows
    assert json.loads((out / "eval.json").read_text())["step"] == 4


# -------------------------------------------------------------------------- 2. a run record but no checkpoint
def test_resume_with_a_run_record_but_no_checkpoint_touches_nothing(tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "run"
    _train(_spec(), out)
    shutil.rmtree(out / "checkpoints")
    before = _snapshot(out)
    with pytest.raises(GankitError, match=r"holds a run but no checkpoint") as info:
        _train(_spec(), out, resume=True)
    assert len(str(info.value).splitlines()) == 1
    assert _snapshot(out) == before


def test_resume_into_an_empty_or_missing_folder_starts_fresh(tmp_path: Path) -> None:
    assert _train(_spec(), tmp_path / "missing", resume=True).step == 4
    (tmp_path / "empty").mkdir()
    assert _train(_spec(), tmp_path / "empty", resume=True).step == 4


# -------------------------------------------------------------------------------- 3. one writer per run folder
def test_a_second_writer_is_refused_naming_the_holder(cli, write_spec, tmp_path: Path) -> None:
    from gankit.engine.lock import RunLock

    out = tmp_path / "run"
    out.mkdir()
    spec = write_spec(tiny_spec(run={"steps": 2, "log_every": 2, "sample_every": 2}, metrics=[]))
    with RunLock(out):
        result = cli("train", spec, "--out", out, "--no-progress")
        assert result.code == 1
        line = f"error: {out} is in use by another gankit process (pid {os.getpid()} on {socket.gethostname()})"
        assert result.err.strip().splitlines() == [line + "; wait for it to finish or use another --out"]
        assert not (out / "manifest.json").exists()
    assert cli("train", spec, "--out", out, "--no-progress").code == 0
    with RunLock(out):
        sampled = cli("sample", out, "-n", "4")
        assert sampled.code == 1 and f"pid {os.getpid()}" in sampled.err and not (out / "generated").exists()
        evaluated = cli("eval", out, "--metric", "mode-coverage", "-n", "50", "--device", "cpu")
        assert evaluated.code == 1 and f"pid {os.getpid()}" in evaluated.err


_RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from gankit.engine.lock import RunLock
    from gankit.errors import GankitError
    folder, go = Path(sys.argv[1]), Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    try:
        with RunLock(folder):
            print("won", flush=True)
            time.sleep(1.0)
    except GankitError as exc:
        print("lost:", exc, flush=True)
""")


def test_two_writers_racing_for_one_folder_get_exactly_one_lock(tmp_path: Path) -> None:
    """The race of issue 14 item 3 (two fresh runs both started): both start at once; the OS lock admits one."""
    out, go = tmp_path / "run", tmp_path / "go"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(out), str(go)], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    go.touch()
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o.split(":")[0].split()[0] for o in outputs) == ["lost", "lost", "won"], outputs
    assert all("is in use by another gankit process (pid" in o for o in outputs if o.startswith("lost"))


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from gankit.engine.lock import RunLock; lock = RunLock(Path(sys.argv[1])); "
                               "lock.acquire(); print('held', flush=True); time.sleep(60)", str(out)],
                              stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    from gankit.engine.lock import RunLock

    with pytest.raises(GankitError, match=f"pid {holder.pid}"):
        RunLock(out).acquire()
    holder.kill()
    holder.wait()
    with RunLock(out):
        pass


# ------------------------------------------------------------------------------ 4. order of the final writes
@pytest.mark.parametrize("name, content, where", [
    ("eval.json", b"{not json", "eval.json: line 1"),
    ("metrics.jsonl", b'{"step": 2, "loss_critic": 1.0}\n\xff\xfe bad bytes\n{"step": 4}\n', "metrics.jsonl: line 2"),
    ("metrics.jsonl", b'{"step": "ten", "loss_critic": 1.0}\n{"step": 4}\n', "metrics.jsonl: line 1"),
])
def test_corrupt_results_are_reported_before_any_step(tmp_path: Path, name: str, content: bytes,
                                                      where: str) -> None:
    out = tmp_path / "run"
    _train(_spec(), out)
    (out / name).write_bytes(content)
    before = _snapshot(out)
    with pytest.raises(GankitError) as info:
        _train(_spec(steps=6), out, resume=True)
    assert str(info.value).startswith(f"{out / name}: line {where.split('line ')[1]}"), str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert _snapshot(out) == before  # not a single step ran


# --------------------------------------------------------------------------------------------- 5. provenance
def test_resume_keeps_the_original_manifest_and_appends_history(tmp_path: Path) -> None:
    from gankit.spec import validate_spec

    out = tmp_path / "run"
    first = _spec()
    _train(first, out)
    manifest = (out / "manifest.json").read_text()
    data = first.to_dict()
    data["run"] = {**data["run"], "steps": 6, "optimizer": {"generator": {"lr": 1e-3}, "critic": {"lr": 5e-4}}}
    from gankit.engine.trainer import Trainer, TrainOptions

    trainer = Trainer(validate_spec(data), TrainOptions(out_dir=out, resume=True, progress=False))
    trainer.fit()
    assert (out / "manifest.json").read_text() == manifest
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows] == ["start", "resume"]
    resume = rows[1]
    assert resume["step"] == 4 and resume["world_size"] == 1 and "time" in resume
    assert "run.optimizer.generator.lr: 0.0002 -> 0.001 (applied to the loaded optimizer state)" in resume["changes"]
    assert "run.steps: 4 -> 6" in resume["changes"]
    # the change really is in effect
    assert trainer.steps.opt_generator.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert trainer.steps.opt_critic.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert load_checkpoint(list_checkpoints(out / "checkpoints")[-1])["opt_generator"]["param_groups"][0]["lr"] == 1e-3


def test_a_changed_optimizer_on_resume_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    from gankit.spec import validate_spec

    out = tmp_path / "run"
    _train(_spec(), out)
    before = _snapshot(out)
    data = _spec().to_dict()
    data["run"] = {**data["run"], "steps": 6, "optimizer": {"generator": {"name": "sgd"}}}
    with pytest.raises(GankitError, match=r"^run\.optimizer\.generator\.name: the checkpoint's optimizer is adam"):
        _train(validate_spec(data), out, resume=True)
    assert _snapshot(out) == before


# ---------------------------------------------------------------------------------------------- 6. markers
@pytest.mark.parametrize("marker", ["eval.json", "samples", "history.jsonl", "plots"])
def test_anything_a_run_writes_marks_a_run(tmp_path: Path, marker: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    if marker in ("samples", "plots"):
        (out / marker).mkdir()
        (out / marker / "step-000000004.png").write_bytes(b"\x89PNG")
    else:
        (out / marker).write_text('{"step": 4}\n')
    before = _snapshot(out)
    with pytest.raises(GankitError, match=f"already holds a run \\({marker}\\)"):
        _train(_spec(), out)
    assert _snapshot(out) == before


# ------------------------------------------------------------------------------- 8. code named in a checkpoint
def _checkpoint_naming(tmp_path: Path, target: str) -> Path:
    out = tmp_path / "run"
    _train(_spec(), out)
    path = list_checkpoints(out / "checkpoints")[-1]
    state = load_checkpoint(path)
    manifest = json.loads(state["manifest"])
    manifest["spec"]["metrics"] = [{"name": "fid", "params": {"extractor": "import",
                                                              "extractor_params": {"target": target}}}]
    state["manifest"] = json.dumps(manifest)
    torch.save(state, path)
    return path


def test_an_import_target_stored_in_a_checkpoint_is_refused_by_name(cli, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _checkpoint_naming(tmp_path, "os:system")
    for args in (("eval", path, "--allow-imports", "--device", "cpu"), ("sample", path, "-n", "4")):
        result = cli(*args)
        assert result.code == 1, result.err
        assert "import target 'os:system'" in result.err and "metrics.0.params.extractor_params.target" in result.err
        assert "stored in a checkpoint" in result.err and len(result.err.strip().splitlines()) == 1
    assert not marker.exists()


# --------------------------------------------------------------------------------------------- error quality
def test_a_checkpoint_asking_for_a_huge_network_is_refused_before_building(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train(_spec(), out)
    path = list_checkpoints(out / "checkpoints")[-1]
    state = load_checkpoint(path)
    manifest = json.loads(state["manifest"])
    manifest["spec"]["generator"]["params"]["hidden"] = 20_000
    state["manifest"] = json.dumps(manifest)
    torch.save(state, path)
    result = cli("sample", path, "-n", "4")
    assert result.code == 1
    assert "asks for a generator of" in result.err and "parameters" in result.err, result.err


def test_state_dict_mismatches_name_the_first_keys_and_shapes(cli, write_spec, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train(_spec(), out)
    bigger = tiny_spec(run={"steps": 6}, metrics=[])
    bigger["generator"] = {"name": "mlp", "params": {"hidden": 48, "depth": 2}}
    result = cli("train", write_spec(bigger), "--out", out, "--resume", "--no-progress")
    assert result.code == 1
    assert "size mismatch" in result.err or "shape" in result.err, result.err
    assert "checkpoint (32" in result.err and "(48" in result.err, result.err


def test_sample_seed_and_unwritable_folder_are_one_line(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train(_spec(), out)
    big = cli("sample", out, "-n", "4", "--seed", str(10**23))
    assert big.code == 1 and big.err.strip().splitlines() == ["error: --seed: must be between 0 and 2**63 - 1"]
    # a folder that cannot be created (its parent is a file) fails like a read-only one: one line, the path
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("sample", out, "-n", "4", "--out", blocker / "gen")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith(f"error: --out: cannot write to {blocker / 'gen'}"), result.err
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if os.access(readonly, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): the read-only case is not testable")
        result = cli("sample", out, "-n", "4", "--out", readonly / "gen")
        assert result.code == 1 and len(result.err.strip().splitlines()) == 1
        assert result.err.startswith(f"error: --out: cannot write to {readonly / 'gen'}"), result.err
    finally:
        readonly.chmod(0o700)


def test_a_device_index_out_of_range_is_a_validate_error(cli, write_spec) -> None:
    spec = write_spec(tiny_spec(run={"device": "cuda:99999999999999999999"}))
    result = cli("validate", spec)
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1 and "run.device" in result.err, result.err


def _signalling_metric(times: int) -> Any:
    import signal
    import time

    def metric(ctx: Any) -> dict[str, float]:
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.2)  # past the repeat window: a second signal is a real second request
        return {"value": 1.0}

    return metric


def test_sigint_during_the_final_evaluation_stops_with_130_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.errors import Interrupted

    out = tmp_path / "run"
    trainer = Trainer(_spec(), TrainOptions(out_dir=out, progress=False))
    trainer.parts.metrics = {"slow": _signalling_metric(1)}
    with pytest.raises(Interrupted) as info:
        trainer.fit()
    assert info.value.exit_code == 130
    message = str(info.value)
    assert "final evaluation" in message and "step-000000004.pt" in message, message
    assert (out / "checkpoints" / "step-000000004.pt").exists() and not (out / "eval.json").exists()


def test_a_second_sigint_never_names_a_step_that_did_not_run(tmp_path: Path) -> None:
    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.errors import Interrupted

    trainer = Trainer(_spec(), TrainOptions(out_dir=tmp_path / "run", progress=False))
    trainer.parts.metrics = {"slow": _signalling_metric(2)}
    with pytest.raises(Interrupted) as info:
        trainer.fit()
    assert "step 5" not in str(info.value), str(info.value)


def test_a_second_sigint_while_saving_names_the_save_not_the_next_step(tmp_path: Path, monkeypatch) -> None:
    """The first SIGINT asks for a checkpoint; a second one during that save must not report step N + 1."""
    import importlib
    import signal
    import time

    from gankit.engine.trainer import Trainer, TrainOptions
    from gankit.errors import Interrupted

    def slow_save(*args: Any, **kwargs: Any) -> None:
        time.sleep(1.2)  # past the repeat window
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)

    for name in ("gankit.engine.trainer", "gankit.engine.state"):  # wherever the engine imports it from
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        monkeypatch.setattr(module, "save_checkpoint", slow_save, raising=False)

    def first_signal(t: Any) -> None:
        if t.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(_spec(steps=50, checkpoint_every=100), TrainOptions(out_dir=tmp_path / "run", progress=False))
    with pytest.raises(Interrupted) as info:
        trainer.fit(on_step=first_signal)
    message = str(info.value)
    assert "while saving the checkpoint of step 2" in message and "step 3" not in message, message
