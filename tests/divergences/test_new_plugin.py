"""``gankit new-plugin``: the scaffold's files parse, its pyproject declares the entry point, its module registers
the component when loaded, its example spec validates, its own tests pass as written — and bad names fail
clearly. Installing the scaffold with pip (slow) makes ``list-plugins`` show it."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from gankit.cli.new_plugin import KINDS
from gankit.plugins import load_registry
from gankit.protocols import BuildEnv, DataInfo
from gankit.spec import load_spec


@pytest.fixture
def scaffolded(cli: Any, tmp_path: Path) -> Iterator[Any]:
    """``scaffolded(name, kind)`` -> the package folder, created through the CLI; its module is unloaded after."""
    created: list[str] = []

    def make(name: str, kind: str) -> Path:
        result = cli("new-plugin", name, "--kind", kind, "--dir", tmp_path)
        assert result.code == 0, result.err
        module = name.replace("-", "_")
        assert f"created {tmp_path / name}/ ({kind} '{name.removeprefix('gankit-')}' in module {module})" in result.out
        created.append(module)
        return tmp_path / name

    yield make
    for module in created:
        for key in [k for k in sys.modules if k == module or k.startswith(module + ".")]:
            del sys.modules[key]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scaffold_parses_declares_its_entry_point_and_registers(
    kind: str, scaffolded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"gankit-scaffold-{kind}"
    module_name = name.replace("-", "_")
    root = scaffolded(name, kind)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted([
        ".gitignore", "README.md", "pyproject.toml", "specs/example.toml", "tests/conftest.py",
        f"tests/test_{module_name}.py", f"src/{module_name}/__init__.py",
        f"src/{module_name}/{KINDS[kind].impl}.py",
    ])
    for path in root.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == name
    assert pyproject["project"]["entry-points"]["gankit"] == {module_name: module_name}
    assert any(dep.startswith("gankit>=") for dep in pyproject["project"]["dependencies"])

    monkeypatch.syspath_prepend(str(root / "src"))
    module = importlib.import_module(module_name)
    # the plugin module must stay torch-free: gankit validate and list-plugins import it
    tree = ast.parse((root / "src" / module_name / "__init__.py").read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] == "torch"}
    registry = load_registry(extra=[(module, name, module.__version__)])
    assert [p.status for p in registry.plugins if p.dist == name] == ["ok"]
    component = registry.lookup(kind, name.removeprefix("gankit-"))
    assert component.dist == name and component.summary
    assert all(f.description for f in component.params_model.model_fields.values())
    # the implementation imports and builds (the factory is a "module:attr" string, loaded only now)
    built = component.build(component.params_model(), BuildEnv(data=None if kind == "data" else DataInfo((2,))))
    assert built is not None
    spec = load_spec(root / "specs" / "example.toml", ["run.requires=[]"], registry=registry)
    tables = {"data": [spec.data], "generator": [spec.generator], "critic": [spec.critic],
              "divergence": [spec.divergence], "metric": spec.metrics}
    assert [t.component.dist for t in tables[kind]] == [name]


def _run_own_tests(root: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


@pytest.mark.slow  # a fresh interpreter, torch import and a short training: ~6 s idle, 15 s+ on a busy machine
def test_scaffolded_divergence_passes_its_own_tests(scaffolded: Any) -> None:
    root = scaffolded("gankit-fresh-loss", "divergence")
    done = _run_own_tests(root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(set(KINDS) - {"divergence"}))
def test_every_scaffolded_kind_passes_its_own_tests(kind: str, scaffolded: Any) -> None:
    root = scaffolded(f"gankit-fresh-{kind}", kind)
    done = _run_own_tests(root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


@pytest.mark.slow
def test_installed_scaffold_is_listed_and_passes_its_tests(scaffolded: Any, tmp_path: Path) -> None:
    root = scaffolded("gankit-installed-loss", "divergence")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(root)],
        check=True, capture_output=True, timeout=300,
    )
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    listed = subprocess.run(
        [sys.executable, "-m", "gankit", "list-plugins", "--kind", "divergence", "--json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )
    assert listed.returncode == 0, listed.stderr
    assert '"name": "installed-loss"' in listed.stdout and '"distribution": "gankit-installed-loss"' in listed.stdout
    done = _run_own_tests(root, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["My_Loss"], "NAME: 'My_Loss' is not a usable distribution name"),
        (["gankit-2d"], "NAME: the component name '2d' must start with a letter"),
        (["class"], "NAME: 'class' is a Python keyword"),
        (["json"], "NAME: a module 'json' is already importable here"),
        (["gan-qp"], "NAME: divergence 'gan-qp' is already registered by gankit; choose another NAME"),
        (["gankit-ok", "--kind", "divergance"], "--kind: unknown kind 'divergance'; did you mean 'divergence'?"),
    ],
)
def test_unusable_names_fail_with_one_line(cli: Any, tmp_path: Path, args: list[str], message: str) -> None:
    result = cli("new-plugin", *args, "--dir", tmp_path)
    assert result.code == 1
    assert result.err.startswith(f"error: {message}") and result.err.count("\n") == 1, result.err
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "gankit-taken").mkdir()
    (tmp_path / "gankit-taken" / "mine.txt").write_text("keep me")
    result = cli("new-plugin", "gankit-taken", "--dir", tmp_path)
    assert result.code == 1 and "already exists and is not empty" in result.err
    assert [p.name for p in (tmp_path / "gankit-taken").iterdir()] == ["mine.txt"]


def test_new_plugin_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom gankit.cli import run\n"
        f"assert run(['new-plugin', 'gankit-light', '--dir', {str(tmp_path)!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
