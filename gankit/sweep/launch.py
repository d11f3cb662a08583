"""Running a sweep's runs: here, N at once (``--jobs``), or as a Slurm job array through submitit.

Each run is ``python -m gankit train SPEC --out RUN --set ... [--resume]`` in its own process, its output
appended to ``<variant>/seed-<n>.log`` beside the run folder. Locally the cores are split between the runs
(``OMP_NUM_THREADS``); each child gets its own session, so a Ctrl-C (or SIGTERM) reaches the sweep alone, which
passes one SIGTERM to every run (``gankit train``'s Ctrl-C: each saves a checkpoint) and waits for them. Under
submitit the same function runs inside every task of a job; a run of several tasks takes gankit's Slurm path
(``SLURM_PROCID``/``MASTER_ADDR``). One progress view follows every run from its ``metrics.jsonl``, whatever
launched it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.errors import GankitError, Interrupted
from gankit.sweep.plan import RunPlan, SlurmConfig
from gankit.sweep.state import RunState, Status


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its exit status and, when it failed, the first error line of its log."""

    key: str
    returncode: int
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def log_path(plan: RunPlan) -> Path:
    return plan.out.with_name(f"{plan.out.name}.log")


def train_argv(plan: RunPlan, resume: bool) -> list[str]:
    argv = [sys.executable, "-m", "gankit", "train", str(plan.spec), "--out", str(plan.out), "--no-progress"]
    for item in plan.overrides:
        argv += ["--set", item]
    if resume:
        argv.append("--resume")
    return argv


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    return env


def first_error(log: Path, offset: int) -> str:
    """The first ``error:`` line written to ``log`` after ``offset`` (else its last non-empty line)."""
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if ln.startswith("error:") or ln.startswith("Traceback")]
    if errors and errors[0].startswith("Traceback"):
        return lines[-1]
    return errors[0] if errors else (lines[-1] if lines else "")


def start_run(plan: RunPlan, resume: bool, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start one ``gankit train``; returns the process and where this attempt starts in the log."""
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    argv = train_argv(plan, resume)
    with log.open("ab") as fh:
        offset = fh.tell()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        fh.write(f"--- {stamp} {' '.join(argv)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    return proc, offset


# ----------------------------------------------------------------------------------------------- local
class LocalLauncher:
    """N ``gankit train`` processes at once on this machine."""

    def __init__(self, jobs: int, threads: int | None = None) -> None:
        self.jobs = max(1, jobs)
        self.threads = threads or max(1, cpu_count() // self.jobs)
        self._live: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def _run(self, state: RunState) -> Outcome:
        plan = state.plan
        if self._stopping:
            return Outcome(plan.key, 130, "not started: the sweep was interrupted")
        start = time.monotonic()
        log = log_path(plan)
        proc, offset = start_run(plan, state.status is Status.resume, thread_env(self.threads), log)
        with self._lock:
            self._live[plan.key] = proc
        try:
            code = proc.wait()
        finally:
            with self._lock:
                self._live.pop(plan.key, None)
        return Outcome(plan.key, code, "" if code == 0 else first_error(log, offset), time.monotonic() - start)

    def run(self, states: list[RunState], watch: Callable[[dict[str, Future[Outcome]]], None]) -> list[Outcome]:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sweep-run")
        futures = {s.plan.key: pool.submit(self._run, s) for s in states}
        previous = _on_sigterm_raise()
        try:
            watch(futures)
        except (KeyboardInterrupt, _Terminated):
            self._interrupt()
            pool.shutdown(wait=True, cancel_futures=True)
            raise Interrupted("interrupted: the running runs saved a checkpoint where they could; "
                              "run the same command again to resume them") from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        pool.shutdown(wait=True)
        return [f.result() for f in futures.values()]

    def _interrupt(self) -> None:
        """Ask every running run to stop. SIGTERM, which ``gankit train`` treats as Ctrl-C (it finishes the step
        and saves a checkpoint): unlike SIGINT it is never ignored by a sweep started in the background."""
        self._stopping = True
        with self._lock:
            live = list(self._live.values())
        for proc in live:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 120
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


class _Terminated(Exception):
    """SIGTERM reached the sweep (a scheduler stopping it): stop the runs as for Ctrl-C."""


def _on_sigterm_raise() -> Any:
    """Turn SIGTERM into :class:`_Terminated` while runs are going (main thread only); returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, handler)


# -------------------------------------------------------------------------------------------- submitit
def submitit_task(plan: RunPlan, resume: bool, threads: int | None) -> Outcome:
    """What every task of a submitit job runs: one process of the run's ``gankit train``."""
    import submitit

    env = thread_env(threads) if threads else dict(os.environ)
    log = log_path(plan)
    try:
        job_env = submitit.JobEnvironment()
        rank, tasks, job_id = job_env.global_rank, job_env.num_tasks, str(job_env.job_id)
        hosts = job_env.hostnames
    except RuntimeError:  # not inside a submitit job (a direct call)
        rank, tasks, job_id, hosts = 0, 1, "0", []
    if tasks > 1:  # gankit's Slurm path: one process per task, rendezvous at the first node
        env.setdefault("MASTER_ADDR", hosts[0] if hosts else "127.0.0.1")
        digits = "".join(ch for ch in job_id if ch.isdigit()) or "0"
        env.setdefault("MASTER_PORT", str(20000 + int(digits) % 20000))
        if rank:
            log = log.with_name(f"{log.stem}.rank-{rank}.log")
    start = time.monotonic()
    proc, offset = start_run(plan, resume, env, log)
    code = proc.wait()
    return Outcome(plan.key, code, "" if code == 0 else first_error(log, offset), time.monotonic() - start)


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise GankitError("--launcher slurm needs submitit: pip install 'gankit[slurm]'") from None
    return submitit


class SubmititLauncher:
    """Every run as one job of a job array (``cluster='slurm'``); ``cluster='local'`` runs the same code path
    through submitit's local executor (tests, or a machine without Slurm)."""

    def __init__(self, folder: Path, slurm: SlurmConfig, jobs: int | None, cluster: str = "slurm") -> None:
        self.submitit = require_submitit()
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise GankitError("--launcher slurm: no Slurm here (sbatch not found on PATH); use --launcher local")
        self.folder, self.slurm, self.jobs, self.cluster = folder, slurm, jobs, cluster

    def executor(self) -> Any:
        s = self.slurm
        executor = self.submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
        tasks = max(1, s.gpus_per_run)
        params: dict[str, Any] = {"name": "gankit-sweep", "timeout_min": s.timeout_min(), "nodes": s.nodes,
                                  "tasks_per_node": tasks}
        if s.gpus_per_run:
            params["gpus_per_node"] = s.gpus_per_run
        if s.cpus_per_run:
            params["cpus_per_task"] = s.cpus_per_run
        if s.mem_gb:
            params["mem_gb"] = s.mem_gb
        if self.cluster == "slurm":
            if s.partition:
                params["slurm_partition"] = s.partition
            if s.account:
                params["slurm_account"] = s.account
            if s.qos:
                params["slurm_qos"] = s.qos
            parallel = s.array_parallelism or self.jobs
            if parallel:
                params["slurm_array_parallelism"] = parallel
            if s.extra:
                params["slurm_additional_parameters"] = dict(s.extra)
        executor.update_parameters(**params)
        return executor

    def run(self, states: list[RunState], watch: Callable[[dict[str, Any]], None]) -> list[Outcome]:
        executor = self.executor()
        plans = [s.plan for s in states]
        resumes = [s.status is Status.resume for s in states]
        threads = [self.slurm.cpus_per_run] * len(states)
        jobs = executor.map_array(submitit_task, plans, resumes, threads)
        handles = {p.key: _JobFuture(job, p) for p, job in zip(plans, jobs, strict=True)}
        try:
            watch(handles)
        except KeyboardInterrupt:
            ids = ", ".join(sorted({str(j.job_id).split("_")[0] for j in jobs}))
            raise Interrupted(f"interrupted: the submitted jobs ({ids}) keep running; "
                              "`gankit sweep --report` collects them later") from None
        return [h.result() for h in handles.values()]


class _JobFuture:
    """A submitit job seen as a future of an :class:`Outcome` (a job that died says why in one line)."""

    def __init__(self, job: Any, plan: RunPlan) -> None:
        self.job, self.key, self._plan = job, plan.key, plan

    def done(self) -> bool:
        return bool(self.job.done())

    def running(self) -> bool:
        """Started: its first task has opened the run's log (cheaper than asking Slurm for the job's state)."""
        return log_path(self._plan).exists()

    def result(self) -> Outcome:
        try:
            outcome = self.job.result()
        except Exception as exc:  # submitit's failed / uncompleted job: its own message, first line
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            return Outcome(self.key, 1, f"job {self.job.job_id}: {lines[-1] if lines else type(exc).__name__}")
        return outcome if isinstance(outcome, Outcome) else Outcome(self.key, 1, f"job {self.job.job_id}: no outcome")

