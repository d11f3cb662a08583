"""CLI start-up: `gankit --help`, `list-plugins`, `validate specs/` against `python -c "import torch"`.

Each command runs alternately (round robin) so machine noise hits all of them alike; medians are reported,
and each command's time as a ratio of the `import torch` time measured in the same run.

    python benchmarks/bench_cli_startup.py [--repeats 9] [--quick] [--write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import ROOT, median, report

COMMANDS = {
    "gankit --help": [sys.executable, "-m", "gankit", "--help"],
    "gankit list-plugins": [sys.executable, "-m", "gankit", "list-plugins"],
    "gankit validate specs/": [sys.executable, "-m", "gankit", "validate", "specs/"],
    "gankit schema": [sys.executable, "-m", "gankit", "schema"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            times[name].append(time.perf_counter() - start)
            if result.returncode != 0:
                raise SystemExit(f"{name} failed ({result.returncode}): {result.stderr.strip()[:300]}")
    torch_time = median(times['python -c "import torch"'])
    lines = ["| command | median wall time (s) | ratio to `import torch` |", "| --- | --- | --- |"]
    for name, values in times.items():
        lines.append(f"| `{name}` | {median(values):.3f} | {median(values) / torch_time:.2f} |")
    body = f"{repeats} alternating repeats each.\n\n" + "\n".join(lines)
    print(report("CLI start-up", body, args.write))


if __name__ == "__main__":
    main()
