"""``gankit train --nproc N`` as a hostile folder or a failing worker meets it: the workers never import a
module planted in the working directory, and a failed run says what failed in one line per failing rank
(no torchrun logs, no ``ChildFailedError`` traceback unless ``--debug``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, tiny_spec, to_toml

from gankit.engine.launch import REPORTED_KEY, failure_lines, torchrun_command, worker_environment

#: modules every worker imports at start; a file of that name in the working directory must never run
PLANTED = ("typer", "gankit", "pydantic")


def _plant(folder: Path) -> None:
    for name in PLANTED:
        marker = folder / f"{name}.imported"
        (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")


def _planted_imports(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.imported"))


def _python_path(*first: Path) -> str:
    """This checkout first, every entry absolute (an empty or relative entry would itself put the working
    directory on ``sys.path`` and hide what the test looks for)."""
    entries = [str(p) for p in first] + [str(ROOT)]
    entries += [str(Path(e).resolve()) for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    return os.pathsep.join(entries)


def _train_nproc(cwd: Path, *extra: str, env: dict[str, str] | None = None,
                 hooks: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``gankit train spec.toml --nproc 2`` started from ``cwd`` (the parent itself with ``-P``: what is
    tested is what the parent starts)."""
    spec = tiny_spec(run={"steps": 2, "batch_size": 8, "log_every": 2, "checkpoint_every": 2, "sample_every": 2},
                     data={"name": "ring", "params": {"n_samples": 64}}, metrics=[])
    (cwd / "spec.toml").write_text(to_toml(spec))
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": _python_path(*([hooks] if hooks else []))}
    full_env.pop("GANKIT_DEBUG", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-P", "-m", "gankit", "train", "spec.toml", "--out", "run", "--nproc", "2",
                           "--no-progress", *extra], cwd=cwd, capture_output=True, text=True, env=full_env,
                          timeout=300)


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Both ranks fail the same way (a bad GANKIT_DIST_TIMEOUT, read when they join the process group), started
    from a folder holding a ``typer.py``, a ``gankit.py`` and a ``pydantic.py``."""
    cwd = tmp_path_factory.mktemp("planted")
    _plant(cwd)
    return cwd, _train_nproc(cwd, env={"GANKIT_DIST_TIMEOUT": "soon"})


def test_nproc_workers_never_import_modules_from_the_working_directory(failing_run) -> None:
    cwd, result = failing_run
    assert _planted_imports(cwd) == [], result.stderr[-2000:]


def test_nproc_failure_is_one_line_per_failing_rank(failing_run) -> None:
    _, result = failing_run
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    expected = "GANKIT_DIST_TIMEOUT='soon': expected a positive number of seconds"
    assert sorted(lines) == [f"error: {expected}", f"error: rank 1: {expected}"], result.stderr[-3000:]


def test_a_worker_that_dies_without_a_word_gets_one_line(tmp_path) -> None:
    """Rank 1 is SIGKILLed as it starts (a ``sitecustomize`` on its path): torchrun stops rank 0 (SIGTERM),
    and the user reads one line about rank 1 — not rank 0's SIGTERM, not torchrun's report."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, signal\n"
        "if os.environ.get('RANK') == os.environ.get('GANKIT_TEST_KILL_RANK', '-'):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = _train_nproc(tmp_path, env={"GANKIT_TEST_KILL_RANK": "1", "GANKIT_DIST_TIMEOUT": "60"}, hooks=hooks)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: rank 1: the worker (pid ") and "was killed by SIGKILL" in lines[0]


@pytest.mark.slow
def test_nproc_trains_from_a_folder_with_planted_modules(tmp_path) -> None:
    _plant(tmp_path)
    result = _train_nproc(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: 2 steps") == 1
    assert _planted_imports(tmp_path) == []


@pytest.mark.slow
def test_debug_keeps_torchruns_report(tmp_path) -> None:
    result = _train_nproc(tmp_path, env={"GANKIT_DIST_TIMEOUT": "soon", "GANKIT_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ChildFailedError" in result.stderr


# --------------------------------------------------------------------------------- the agent's lines
def _failure(exitcode: int, reported: bool = False, pid: int = 100) -> SimpleNamespace:
    sig = signal.Signals(-exitcode).name if exitcode < 0 else ""
    return SimpleNamespace(exitcode=exitcode, pid=pid, error_file_data={REPORTED_KEY: True} if reported else {},
                           signal_name=lambda: sig)


def test_the_agent_speaks_only_for_ranks_that_could_not() -> None:
    assert failure_lines({0: _failure(1, reported=True), 1: _failure(1, reported=True)}) == []
    # rank 0 stopped by torchrun because rank 1 crashed: only rank 1 is reported
    lines = failure_lines({0: _failure(-signal.SIGTERM), 1: _failure(-signal.SIGSEGV, pid=7)})
    assert lines == ["rank 1: the worker (pid 7) crashed with SIGSEGV (in native code: torch, a driver or a "
                     "compiled extension)"]
    assert failure_lines({2: _failure(3)}) == ["rank 2: the worker (pid 100) exited with code 3 without an error "
                                               "message"]
    # every rank stopped from outside: each is named
    assert len(failure_lines({0: _failure(-signal.SIGTERM), 1: _failure(-signal.SIGTERM)})) == 2


def test_the_launch_keeps_the_working_directory_off_sys_path() -> None:
    cmd = torchrun_command(["train", "s.toml"], 2, 0)
    assert cmd[:5] == [sys.executable, "-P", "-m", "gankit.engine.launch", "agent"]
    assert cmd[-4:] == ["gankit.engine.launch", "worker", "train", "s.toml"]


def test_an_empty_pythonpath_entry_does_not_bring_the_working_directory_back() -> None:
    env = worker_environment({"PYTHONPATH": f"{os.pathsep}/opt/lib{os.pathsep}", "HOME": "/home/u"})
    assert env == {"PYTHONPATH": "/opt/lib", "HOME": "/home/u", "PYTHONSAFEPATH": "1"}
    assert "PYTHONPATH" not in worker_environment({})
