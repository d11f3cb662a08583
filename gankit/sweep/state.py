"""What each run folder of a sweep still needs, and the sweep record that keeps finished runs' specs fixed.

"Finished" is read from two files any gankit version writes at the end of a run: ``eval.json`` and the
checkpoint of the last step (``checkpoints/step-<run.steps>.pt``). An unfinished run with a checkpoint is
resumed (``train --resume``); one without any is started afresh in an empty folder; whatever an earlier
attempt left there (logs, a partial ``metrics.jsonl``) is moved aside, never deleted.

The record (``<out_dir>/sweep.json``) maps every run to the digest of its resolved spec. A later call whose
sweep file would give a run that has already trained (finished, or with a checkpoint) another spec is refused
with the variant named; new variants and seeds are added alongside.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.sweep.plan import RunPlan, Sweep

RECORD = "sweep.json"
_STEP = re.compile(r"^step-(\d+)\.pt$")


class Status(StrEnum):
    finished = "finished"
    resume = "resume"
    fresh = "fresh"


@dataclass(frozen=True)
class RunState:
    plan: RunPlan
    status: Status
    step: int  # newest checkpoint's step (0 when none)


def checkpoint_steps(run_dir: Path) -> list[int]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _STEP.match(p.name)))


def run_state(plan: RunPlan) -> RunState:
    steps = checkpoint_steps(plan.out)
    if (plan.out / "eval.json").is_file() and plan.steps in steps:
        return RunState(plan, Status.finished, plan.steps)
    if steps:
        return RunState(plan, Status.resume, steps[-1])
    return RunState(plan, Status.fresh, 0)


def has_trained(plan: RunPlan) -> bool:
    """A run whose folder already holds training results (a checkpoint or eval.json)."""
    return bool(checkpoint_steps(plan.out)) or (plan.out / "eval.json").is_file()


def set_aside(run_dir: Path) -> Path | None:
    """Move a folder left by an attempt that never reached a checkpoint to ``<name>.attempt-<k>`` (kept for its
    logs) so that the run starts in an empty folder. Returns the new path, or None when nothing was there."""
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return None
    k = 1
    while (target := run_dir.with_name(f"{run_dir.name}.attempt-{k}")).exists():
        k += 1
    run_dir.rename(target)
    return target


# ------------------------------------------------------------------------------------------- the record
def read_record(out_dir: Path) -> dict[str, Any]:
    path = out_dir / RECORD
    if not path.is_file():
        return {"runs": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GankitError(f"{path}: unreadable sweep record ({exc}); move it away to start the record afresh") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
        raise GankitError(f"{path}: not a sweep record (no 'runs' table)")
    return data


def check_record(sweep: Sweep, record: dict[str, Any]) -> None:
    """Refuse a sweep file that changes the spec of a run that has already trained."""
    changed: dict[str, list[str]] = {}
    for plan in sweep.runs:
        entry = record["runs"].get(plan.key)
        if entry and entry.get("digest") != plan.digest and has_trained(plan):
            changed.setdefault(plan.variant, []).append(f"seed-{plan.seed}")
    if changed:
        lines = [f"variant '{name}': its spec differs from the one {', '.join(seeds)} trained with "
                 f"(recorded in {sweep.out_dir / RECORD}); give the changed setting a new variant name or use "
                 f"another out_dir" for name, seeds in changed.items()]
        raise GankitError("\n".join(f"{sweep.path}: {line}" for line in lines))


def write_record(sweep: Sweep, record: dict[str, Any]) -> None:
    """Add this sweep's runs to the record (earlier runs stay listed), atomically."""
    runs = dict(record["runs"])
    for plan in sweep.runs:
        runs[plan.key] = {"variant": plan.variant, "seed": plan.seed, "digest": plan.digest,
                          "spec": str(plan.spec), "overrides": list(plan.overrides), "steps": plan.steps}
    data = {"sweep": str(sweep.path), "runs": runs}
    sweep.out_dir.mkdir(parents=True, exist_ok=True)
    path = sweep.out_dir / RECORD
    tmp = path.with_name(f".{RECORD}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
