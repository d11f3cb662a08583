"""CI conventions: the ``gankit-validate`` pre-commit hook runs ``gankit validate`` on spec files, and
``--format github`` writes workflow annotations."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

from conftest import ROOT, tiny_spec, to_toml
from plugin_site import run_gankit


def hook(hook_id: str) -> dict[str, str]:
    """One hook of ``.pre-commit-hooks.yaml`` (a flat list of flat mappings: no YAML library needed)."""
    hooks: list[dict[str, str]] = []
    for line in (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^- (\w+): (.*)$", line):
            hooks.append({match[1]: match[2]})
        elif (match := re.match(r"^  (\w+): (.*)$", line)) and hooks:
            hooks[-1][match[1]] = match[2]
    (found,) = [h for h in hooks if h.get("id") == hook_id]
    return found


def test_the_pre_commit_hook_validates_the_example_specs():
    h = hook("gankit-validate")
    assert h["language"] == "python" and h["types"] == "[toml]"
    every_toml = (p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.toml") if ".venv" not in p.parts)
    files = sorted(f for f in every_toml if re.search(h["files"], f))
    try:
        version("gankit-qp-power")
    except PackageNotFoundError:  # the example plugin's specs require it (pip install -e plugins/gankit-qp-power)
        files = [f for f in files if not f.startswith("plugins/")]
    assert "specs/quickstart.toml" in files and "pyproject.toml" not in files
    command, *args = h["entry"].split()
    assert command == "gankit"  # the console script; run here as python -m gankit with this checkout first
    done = run_gankit(None, *args, *files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(files)} valid, 0 invalid" in done.stdout


def test_the_pre_commit_hook_fails_on_a_bad_spec(tmp_path):
    bad = tmp_path / "specs" / "bad.toml"
    bad.parent.mkdir()
    bad.write_text(to_toml(tiny_spec(divergence={"name": "ganqp"})))
    done = run_gankit(None, *hook("gankit-validate")["entry"].split()[1:], str(bad))
    assert done.returncode == 1
    assert f"{bad}: divergence.name: unknown divergence 'ganqp'; did you mean 'gan-qp'?" in done.stderr


def test_github_format_annotates_each_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(to_toml(tiny_spec(divergence={"name": "ganqp"}, run={"steps": 0})))
    done = run_gankit(None, "validate", "--format", "github", str(bad))
    lines = done.stdout.splitlines()
    assert done.returncode == 1 and lines[-1] == "0 valid, 1 invalid"
    assert f"::error file={bad},title=gankit validate::divergence.name: unknown divergence 'ganqp'; did you mean " \
           "'gan-qp'?" in lines
    assert any(line.startswith(f"::error file={bad},title=gankit validate::run.steps: ") for line in lines)
