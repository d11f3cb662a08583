"""``gankit train --nproc N``: start N worker processes on this machine through torchrun's elastic agent.

Three processes take part, and each has one job:

* the **parent** (the ``gankit train`` the user typed) starts the agent, forwards SIGTERM to it and waits;
* the **agent** (``python -P -m gankit.engine.launch agent ...``) runs torchrun's own launcher in-process
  (:func:`torch.distributed.run.run`), quiet: its log lines and the ``ChildFailedError`` traceback are
  replaced by one line for each failing worker that could not say why itself (killed by a signal, or gone
  without a word). ``--debug`` keeps torchrun's full report;
* each **worker** (``python -m gankit.engine.launch worker train ...``) is the same command as a single
  process. Its own error line ("error: rank 1: ...") is printed as usual; it then marks its failure as
  reported in the error file torchrun gives it (``TORCHELASTIC_ERROR_FILE``), so the agent does not repeat it.

Neither the agent nor the workers put the working directory on ``sys.path``: the agent starts with ``-P``,
both inherit ``PYTHONSAFEPATH=1`` and a ``PYTHONPATH`` without empty entries, so a ``typer.py`` or
``gankit.py`` lying in the folder a run is started from is never imported. (The ``gankit`` console script is
safe for another reason: its ``sys.path[0]`` is the script's own folder. ``python -m gankit`` is not: Python
puts the working directory first; ``python -P -m gankit`` is.)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

#: what the agent and the workers are started with: ``PYTHONSAFEPATH`` is what ``-P`` sets, inherited
SAFE_PATH_ENV = {"PYTHONSAFEPATH": "1"}
#: the key a worker's error file carries when the worker printed its own error line
REPORTED_KEY = "gankit_reported"


# ------------------------------------------------------------------------------------------ parent
def torchrun_command(args: list[str], nproc: int, max_restarts: int) -> list[str]:
    """The agent's command line: torchrun's arguments, then the worker module and the ``gankit`` arguments."""
    return [
        sys.executable, "-P", "-m", "gankit.engine.launch", "agent", "--standalone",
        f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}",
        "-m", "gankit.engine.launch", "worker", *args,
    ]


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's (and so the workers') environment: ``PYTHONSAFEPATH=1``, and ``PYTHONPATH`` without empty
    entries — an empty entry (``PYTHONPATH=:/opt/lib``, the result of ``$PYTHONPATH:/opt/lib`` when it was
    unset) means the working directory, the very thing ``-P`` keeps off ``sys.path``."""
    env = {**environ, **SAFE_PATH_ENV}
    if "PYTHONPATH" in env:
        env["PYTHONPATH"] = os.pathsep.join(p for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return env


def launch(cmd: list[str]) -> int:
    """Run the agent and wait. Ctrl-C reaches the workers from the terminal (same process group), so it is
    not forwarded again; SIGTERM is forwarded. Returns the agent's exit code, or 130 after an interrupt."""
    proc = subprocess.Popen(cmd, env=worker_environment(os.environ))
    seen: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        seen.append(signum)
        if signum == signal.SIGTERM and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 130 if seen and code != 0 else code


def run_workers(args: list[str], nproc: int, max_restarts: int) -> int:
    """``gankit`` ``args`` in ``nproc`` processes; the exit code to leave with."""
    return launch(torchrun_command(args, nproc, max_restarts))


# ------------------------------------------------------------------------------------------- agent
def _debug(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("GANKIT_DEBUG", "") not in ("", "0")


#: signals that mean the worker itself crashed (native code), not that something stopped it
_CRASHES = {"SIGSEGV", "SIGBUS", "SIGABRT", "SIGILL", "SIGFPE"}


def failure_line(rank: int, failure: Any) -> str | None:
    """The line the agent prints for a failed worker (a torchrun ``ProcessFailure``), or ``None`` when the
    worker printed its own error."""
    data = failure.error_file_data if isinstance(failure.error_file_data, dict) else {}
    if data.get(REPORTED_KEY):
        return None
    who = f"rank {rank}: the worker (pid {failure.pid})"
    if failure.exitcode < 0:
        name = failure.signal_name()
        if name in _CRASHES:
            return f"{who} crashed with {name} (in native code: torch, a driver or a compiled extension)"
        if name == "SIGKILL":
            return f"{who} was killed by SIGKILL (the out-of-memory killer, or a kill from outside)"
        return f"{who} was stopped by {name} before it could report anything"
    return f"{who} exited with code {failure.exitcode} without an error message"


def failure_lines(failures: dict[int, Any]) -> list[str]:
    """One line per failing rank that did not report itself. Ranks that torchrun stopped (SIGTERM) because
    another rank failed are left out: the line of the rank that failed says what happened."""
    stopped = {r for r, f in failures.items() if f.exitcode == -signal.SIGTERM}
    shown = [r for r in sorted(failures) if r not in stopped] or sorted(failures)
    return [line for r in shown if (line := failure_line(r, failures[r])) is not None]


def agent_main(argv: list[str]) -> int:
    """torchrun's launcher with one line per failing rank instead of its logs and traceback."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    debug = _debug(argv)
    if not debug:
        logging.disable(logging.ERROR)  # torchrun's warnings and per-failure log lines; errors come below
    try:
        run(parse_args(argv))
    except ChildFailedError as exc:
        if debug:
            raise
        for line in failure_lines(exc.failures):
            print(f"error: {line}", file=sys.stderr, flush=True)
        return 1
    except SignalException as exc:  # the workers were stopped and say so themselves
        if debug:
            raise
        return 128 + int(exc.sigval)
    except Exception as exc:  # torchrun itself failed (rendezvous, ports): one line
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: torchrun could not run the workers: {type(exc).__name__}: {message} "
              "(run with --debug for the traceback)", file=sys.stderr, flush=True)
        return 1
    return 0


# ------------------------------------------------------------------------------------------ worker
def mark_reported(code: int) -> None:
    """Tell the agent this worker printed its own error (in the error file torchrun assigned to it)."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE", "")
    if not path or path == os.devnull:
        return
    rank = os.environ.get("RANK", "?")
    data = {"message": f"rank {rank} reported its error on stderr (exit code {code})",
            "timestamp": int(time.time()), REPORTED_KEY: True}
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    except OSError:
        return  # the agent then says that this rank exited without a message: still one line


def worker_main(argv: list[str]) -> int:
    from gankit.cli import run

    code = run(argv)
    if code != 0:
        mark_reported(code)
    return code


def main(argv: list[str]) -> int:
    if argv[:1] == ["agent"]:
        return agent_main(argv[1:])
    if argv[:1] == ["worker"]:
        return worker_main(argv[1:])
    print("usage: python -m gankit.engine.launch agent|worker ARGS... (started by 'gankit train --nproc N')",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
