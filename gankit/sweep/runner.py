"""One sweep from start to results: check the record, decide each run's fate, launch, watch, summarise."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.sweep.launch import LocalLauncher, Outcome, SubmititLauncher, log_path
from gankit.sweep.plan import Sweep
from gankit.sweep.results import collect, write_results
from gankit.sweep.state import RunState, Status, check_record, read_record, run_state, set_aside, write_record


@dataclass
class SweepSummary:
    skipped: list[str]
    outcomes: list[Outcome]
    result_files: list[Path]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def plan_states(sweep: Sweep) -> list[RunState]:
    """Each run's status, after refusing a sweep file that changes what a trained run was trained with."""
    check_record(sweep, read_record(sweep.out_dir))
    return [run_state(plan) for plan in sweep.runs]


def latest_step(run_dir: Path) -> int:
    """The step of the last row of ``metrics.jsonl`` (read from its end: the file can be long)."""
    path = run_dir / "metrics.jsonl"
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            tail = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    for line in reversed(tail):
        try:
            step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(step, int):
            return step
    return 0


def progress_watcher(states: list[RunState], console: Any, poll: float = 0.5) -> Callable[[dict[str, Any]], None]:
    """A ``watch`` for the launchers: one rich progress row per run, fed from its ``metrics.jsonl``, and a line
    as each run ends (a failure with its folder, first error line and log)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    by_key = {s.plan.key: s for s in states}

    def watch(handles: dict[str, Any]) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            rows = {key: progress.add_task(key, total=by_key[key].plan.steps, completed=by_key[key].step,
                                           status="queued", start=False) for key in handles}
            started: set[str] = set()
            ended: set[str] = set()
            while len(ended) < len(handles):
                for key, handle in handles.items():
                    if key in ended:
                        continue
                    plan = by_key[key].plan
                    if key not in started and (handle.running() or handle.done()):
                        started.add(key)
                        progress.start_task(rows[key])  # the elapsed time counts from here
                        progress.update(rows[key], status="starting")
                    if not handle.done():
                        if key in started and (step := latest_step(plan.out)):
                            progress.update(rows[key], completed=step, status="running")
                        continue
                    ended.add(key)
                    outcome: Outcome = handle.result()
                    if outcome.ok:
                        progress.update(rows[key], completed=plan.steps, status="done")
                    else:
                        progress.update(rows[key], status="[red]failed[/red]")
                        error = outcome.error or f"exit status {outcome.returncode}"
                        progress.console.print(f"failed {key}: {plan.out}: {error} (log: {log_path(plan)})",
                                               markup=False, highlight=False, soft_wrap=True)
                if len(ended) < len(handles):
                    time.sleep(poll)

    return watch


def run_sweep(sweep: Sweep, jobs: int, launcher: str, console: Any, threads: int | None = None,
              cluster: str = "slurm", poll: float = 0.5) -> SweepSummary:
    """Train what is not finished (resuming what has a checkpoint), then write the results."""
    states = plan_states(sweep)
    write_record(sweep, read_record(sweep.out_dir))
    todo = [s for s in states if s.status is not Status.finished]
    skipped = [s.plan.key for s in states if s.status is Status.finished]
    for state in todo:
        if state.status is Status.fresh:
            moved = set_aside(state.plan.out)
            if moved is not None:
                console.print(f"{state.plan.key}: an earlier attempt left no checkpoint; its files moved to {moved}",
                              highlight=False, soft_wrap=True)
    counts = {s: sum(x.status is s for x in states) for s in Status}
    console.print(f"sweep {sweep.path}: {len(states)} runs — {counts[Status.finished]} finished (skipped), "
                  f"{counts[Status.resume]} to resume, {counts[Status.fresh]} to start; folder {sweep.out_dir}",
                  highlight=False, soft_wrap=True)
    outcomes: list[Outcome] = []
    if todo:
        if launcher == "local":
            runner: Any = LocalLauncher(jobs, threads)
        elif launcher == "slurm":
            runner = SubmititLauncher(sweep.out_dir / ".submitit", sweep.config.slurm, jobs, cluster=cluster)
        else:
            raise GankitError(f"--launcher: unknown launcher '{launcher}' (local or slurm)")
        outcomes = runner.run(todo, progress_watcher(todo, console, poll))
    files = write_results(sweep, collect(sweep))
    return SweepSummary(skipped, outcomes, files)


def dry_run_lines(sweep: Sweep) -> list[str]:
    """One line per run: what a real call would do with it, and the overrides it trains with."""
    states = plan_states(sweep)
    lines = []
    for s in states:
        action = {Status.finished: "skip (finished)", Status.resume: f"resume from step {s.step}",
                  Status.fresh: "train"}[s.status]
        sets = " ".join(f"--set {o}" for o in s.plan.overrides)
        lines.append(f"{s.plan.key:<32} {action:<24} {s.plan.out}  {sets}")
    return lines
