"""The run folder: prepared, resumed and finished here, with one writer at a time.

A run folder is the user's data. The rules, all enforced before a single step runs:

* one writer: rank 0 holds an OS lock on the folder for the whole run (:mod:`gankit.engine.lock`);
* a fresh run never writes into a folder holding anything a run writes (:data:`RUN_MARKERS`);
* ``--resume`` into a folder that holds a run but no checkpoint is refused, and changes nothing; into an empty
  or missing folder it starts fresh;
* resuming an earlier checkpoint of a run that holds later ones is refused, naming the two ways on: a new
  ``--out`` (a branch), or ``--rewind``, which moves every later checkpoint, ``metrics.jsonl`` row, sample and
  evaluation result into ``superseded/<time>-from-step-N/`` first. Rows and samples a crashed run wrote
  after its last checkpoint are moved there as well: nothing written is ever deleted;
* ``eval.json`` and ``metrics.jsonl`` are checked when resuming, so a corrupt line is reported (file and
  line) before any step runs, not after the last one;
* ``manifest.json`` keeps the spec the run started with; every start and resume is appended to
  ``history.jsonl`` (time, step, world size, what changed and whether it took effect).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.engine.checkpoint import list_checkpoints, remove_partial_files, resolve_checkpoint
from gankit.engine.context import EngineContext
from gankit.engine.lock import RunLock
from gankit.errors import GankitError

#: everything a run writes: any of these in a folder means it holds a run
RUN_MARKERS = ("manifest.json", "history.jsonl", "metrics.jsonl", "checkpoints", "eval.json", "samples", "plots",
               "tensorboard", "generated", "superseded")
_STEP_FILE = re.compile(r"^(?:step|eval-step)-(\d{9})\.(?:pt|png|json)$")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _step_of(path: Path) -> int:
    match = _STEP_FILE.match(path.name)
    return int(match.group(1)) if match else -1


def markers(out: Path) -> list[str]:
    found = [name for name in RUN_MARKERS if (out / name).exists()]
    return found + sorted(p.name for p in out.glob("eval-step-*.json"))


@dataclass
class _Rows:
    """``metrics.jsonl`` as its original lines, each with its step (``None``: a line cut by a crash)."""

    lines: list[tuple[str, int | None]] = field(default_factory=list)


def read_rows(path: Path) -> _Rows:
    """Every line of ``metrics.jsonl``, checked: a bad line is an error naming file and line, except the last
    one when it has no newline (a write cut by a crash)."""
    rows = _Rows()
    if not path.exists():
        return rows
    data = path.read_bytes()
    raw_lines = data.split(b"\n")
    cut = raw_lines[-1] != b""
    for number, raw in enumerate(raw_lines if cut else raw_lines[:-1], start=1):
        last = cut and number == len(raw_lines)
        try:
            text = raw.decode("utf-8")
            if not text.strip():
                continue
            row = json.loads(text)
            step = row.get("step") if isinstance(row, dict) else None
            if not isinstance(step, int) or isinstance(step, bool):
                raise ValueError(f"'step' must be an integer, got {json.dumps(step)}")
        except (UnicodeDecodeError, ValueError) as exc:
            if last:
                rows.lines.append((raw.decode("utf-8", "replace"), None))
                continue
            what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc).split(": line")[0]
            raise GankitError(f"{path}: line {number}: {what}; fix or move the file, then resume again") from None
        rows.lines.append((text, step))
    return rows


def read_eval(path: Path) -> dict[str, Any] | None:
    """``eval.json`` checked (a JSON object with an integer ``step``), or ``None`` when absent."""
    if not path.exists():
        return None
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GankitError(f"{path}: line {line}: not UTF-8 text; fix or move the file, then resume again") from None
    try:
        saved = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GankitError(f"{path}: line {exc.lineno}: {exc.msg}; fix or move the file, then resume again") from None
    step = saved.get("step") if isinstance(saved, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        raise GankitError(f"{path}: line 1: expected an object with an integer 'step'; fix or move the file, "
                          "then resume again")
    return saved


@dataclass
class ResumePlan:
    """What a resume will do, decided (and checked) before anything is loaded or moved."""

    checkpoint: Path
    step: int
    #: files and folders (relative to the run) from after ``step``, to move aside before training
    later: list[Path]
    #: ``metrics.jsonl`` lines to keep and to move aside
    keep_rows: list[str]
    later_rows: list[str]
    own_run: bool


class RunFolder:
    """Prepare, resume and finish one run folder. Rank 0 does the file work; every rank gets its answers."""

    def __init__(self, out: Path, ctx: EngineContext, resume: Path | bool | None, rewind: bool = False) -> None:
        self.out = out
        self.ctx = ctx
        self.resume = resume
        self.rewind = rewind
        self.lock = RunLock(out)
        self.plan: ResumePlan | None = None

    # ---------------------------------------------------------------------------------------- start
    def open(self) -> Path | None:
        """Create and lock the folder, check it, and return the checkpoint to resume from (``None``: fresh)."""
        return self._on_main_path(self._open)

    def _on_main_path(self, fn: Any) -> Path | None:
        chosen = self.ctx.on_main(lambda: (str(p) if (p := fn()) is not None else None))
        return Path(chosen) if chosen is not None else None

    def _open(self) -> Path | None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            probe = self.out / ".gankit-write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise GankitError(f"run.out_dir: cannot write to {self.out}: {exc.strerror or exc}") from None
        self.lock.acquire()
        if self.lock.unsupported:
            self.ctx.message(f"warning: cannot lock {self.out} ({self.lock.unsupported}): make sure no other "
                             "process writes into it")
        found = markers(self.out)
        if self.resume is None:
            if found:
                raise GankitError(f"{self.out} already holds a run ({', '.join(found)}); pass --resume to continue "
                                  "it, or --out for a new folder")
            return None
        if self.resume is True:
            newest = list_checkpoints(self.out / "checkpoints")
            if not newest:
                if found:
                    raise GankitError(f"{self.out} holds a run but no checkpoint ({', '.join(found)}); nothing to "
                                      "resume: use another --out for a new run")
                self.ctx.message(f"no checkpoint in {self.out / 'checkpoints'}; starting from step 0")
                return None
            chosen = newest[-1]
        else:
            chosen = resolve_checkpoint(Path(self.resume))
        self.plan = self._plan(chosen, found)
        return chosen

    def _plan(self, chosen: Path, found: list[str]) -> ResumePlan:
        step = _step_of(chosen)
        own = chosen.resolve().parent == (self.out / "checkpoints").resolve()
        if not own and found:
            raise GankitError(f"{self.out} already holds a run ({', '.join(found)}); to continue {chosen} from "
                              "another run, pass a new --out")
        eval_saved = read_eval(self.out / "eval.json")
        rows = read_rows(self.out / "metrics.jsonl")
        if step < 0:  # a checkpoint file with another name: the step inside it decides; nothing moves
            return ResumePlan(chosen, step, [], [t for t, _ in rows.lines], [], own)
        later_ckpts = [p for p in list_checkpoints(self.out / "checkpoints") if _step_of(p) > step]
        if later_ckpts and not self.rewind:
            names = ", ".join(p.name for p in later_ckpts[-2:])
            raise GankitError(f"{chosen.name} is earlier than {names} in {self.out}: resuming it would rewind the "
                              "run; pass a new --out to branch from it, or --rewind to move the later checkpoints, "
                              "rows, samples and results aside (into superseded/) first")
        later = [p.relative_to(self.out) for p in later_ckpts]
        later += [p.relative_to(self.out) for p in sorted((self.out / "samples").glob("step-*.png"))
                  if _step_of(p) > step]
        later += [p.relative_to(self.out) for p in sorted(self.out.glob("eval-step-*.json")) if _step_of(p) > step]
        if eval_saved is not None and eval_saved["step"] > step:
            later.append(Path("eval.json"))
        keep = [t for t, s in rows.lines if s is not None and s <= step]
        moved = [t for t, s in rows.lines if s is None or s > step]
        return ResumePlan(chosen, step, later, keep, moved, own)

    def commit(self, manifest: dict[str, Any], step: int, changes: list[str], resumed_from: Path | None) -> None:
        """After the checkpoint loaded: move later results aside, write the manifest of a new run, append
        the history row (rank 0)."""
        if not self.ctx.is_main:
            return
        remove_partial_files(self.out)
        plan = self.plan
        if plan is not None and (plan.later or plan.later_rows):
            self._move_aside(plan)
        if not (self.out / "manifest.json").exists():
            _write_json(self.out / "manifest.json", manifest)
        event = "resume" if resumed_from is not None and (plan is None or plan.own_run) else "start"
        row: dict[str, Any] = {"event": event, "time": _now(), "step": step, "world_size": self.ctx.denv.world_size,
                               "spec_hash": manifest.get("spec_hash"), "pid": os.getpid()}
        if resumed_from is not None:
            row["checkpoint"] = str(resumed_from)
            row["changes"] = changes
        with (self.out / "history.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def _move_aside(self, plan: ResumePlan) -> None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.out / "superseded" / f"{stamp}-from-step-{plan.step:09d}"
        n = 1
        while aside.exists():
            n += 1
            aside = aside.with_name(f"{stamp}.{n}-from-step-{plan.step:09d}")
        aside.mkdir(parents=True)
        for rel in plan.later:
            (aside / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.out / rel, aside / rel)
        if plan.later_rows:
            (aside / "metrics.jsonl").write_text("".join(t + "\n" for t in plan.later_rows), encoding="utf-8")
            tmp = self.out / ".tmp-metrics.jsonl"
            tmp.write_text("".join(t + "\n" for t in plan.keep_rows), encoding="utf-8")
            os.replace(tmp, self.out / "metrics.jsonl")
        what = len(plan.later) + (1 if plan.later_rows else 0)
        self.ctx.message(f"moved {what} later result(s) of this run aside into {aside}")

    # --------------------------------------------------------------------------------------- finish
    def evaluated_at(self, step: int) -> dict[str, float] | None:
        """The metrics of ``eval.json`` when it belongs to ``step`` (checked at resume), else ``None``."""
        def read() -> dict[str, float] | None:
            saved = read_eval(self.out / "eval.json")
            if saved is None or saved.pop("step") != step:
                return None
            return saved

        return self.ctx.on_main(read)

    def close(self) -> None:
        self.lock.release()


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)

