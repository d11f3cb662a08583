"""``gankit new-plugin`` (CLI): the scaffold comes from real, ruff-clean template files; its files parse, its
pyproject declares the entry point, its module registers each kind asked for, its example spec validates; a
package of several kinds, installed, is listed and passes its own tests; bad names fail with one line."""

from __future__ import annotations

import ast
import importlib
import json
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
    """``scaffolded(name, *kinds)`` -> the package folder, created through the CLI; its modules are unloaded after."""
    created: list[str] = []

    def make(name: str, *kinds: str) -> Path:
        args = [a for kind in kinds for a in ("--kind", kind)]
        result = cli("new-plugin", name, *args, "--dir", tmp_path)
        assert result.code == 0, result.err
        module = name.replace("-", "_")
        ordered = ", ".join(k for k in KINDS if k in kinds)
        component = name.removeprefix("gankit-")
        assert f"created {tmp_path / name}/ ({ordered} '{component}' in module {module})" in result.out
        created.append(module)
        return tmp_path / name

    yield make
    for module in created:
        for key in [k for k in sys.modules if k == module or k.startswith(module + ".")]:
            del sys.modules[key]


@pytest.mark.parametrize("kind", KINDS)
def test_scaffold_parses_declares_its_entry_point_and_registers(
    kind: str, scaffolded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"gankit-scaffold-{kind}"
    module_name = name.replace("-", "_")
    root = scaffolded(name, kind)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted([
        ".gitignore", "README.md", "pyproject.toml", "specs/example.toml", "tests/conftest.py", "tests/test_train.py",
        f"tests/test_{kind}.py", f"src/{module_name}/__init__.py", f"src/{module_name}/{kind}.py",
        f"src/{module_name}/{kind}_impl.py",
    ])
    for path in root.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == name
    assert pyproject["project"]["entry-points"]["gankit"] == {module_name: module_name}
    assert any(dep.startswith("gankit>=") for dep in pyproject["project"]["dependencies"])

    monkeypatch.syspath_prepend(str(root / "src"))
    module = importlib.import_module(module_name)
    # the plugin module (and the params modules it imports) must stay torch-free: validate and list-plugins import it
    assert not [m for m in sys.modules if m.startswith(module_name) and m.endswith("_impl")]
    registry = load_registry(extra=[(module, name, module.__version__)])
    assert [p.status for p in registry.plugins if p.dist == name] == ["ok"]
    assert [k for k in registry.components for c in registry.of_kind(k) if c.dist == name] == [kind]
    component = registry.lookup(kind, f"{name}:{name.removeprefix('gankit-')}")
    assert component.summary and all(f.description for f in component.params_model.model_fields.values())
    # the implementation imports and builds (the factory is a "module:attr" string, loaded only now)
    built = component.build(component.params_model(), BuildEnv(data=None if kind == "data" else DataInfo((2,))))
    assert built is not None
    if kind == "augment":
        return  # the example spec uses an augmentation where this gankit's spec has an [augment] table
    spec = load_spec(root / "specs" / "example.toml", ["run.requires=[]"], registry=registry)
    tables = {"data": [spec.data], "generator": [spec.generator], "critic": [spec.critic],
              "divergence": [spec.divergence], "metric": spec.metrics}
    assert [t.component.dist for t in tables[kind]] == [name]


def test_templates_are_real_files_that_pass_ruff() -> None:
    from gankit.cli.new_plugin import templates

    root = Path(str(templates()))
    assert {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")} == {"base", *KINDS}
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python (pip install -e '.[test]')")
    done = subprocess.run([str(ruff), "check", "--no-cache", str(root)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _install(root: Path, site: Path, dist: str) -> dict[str, str]:
    """``pip install`` without pip: the package's src on PYTHONPATH and a .dist-info carrying its entry point."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    info = site / f"{dist.replace('-', '_')}-{pyproject['project']['version']}.dist-info"
    info.mkdir(parents=True)
    version = pyproject["project"]["version"]
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = pyproject["project"]["entry-points"]["gankit"]
    (info / "entry_points.txt").write_text("[gankit]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    return {"PYTHONPATH": os.pathsep.join([str(site), str(root / "src"), str(ROOT)])}


def _run_own_tests(root: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_a_package_of_several_kinds_installs_lists_and_passes_its_own_tests(scaffolded: Any, tmp_path: Path) -> None:
    root = scaffolded("gankit-three-kinds", "divergence", "generator", "metric")
    env = _install(root, tmp_path / "site", "gankit-three-kinds")
    listed = subprocess.run(
        [sys.executable, "-m", "gankit", "list-plugins", "--json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )
    assert listed.returncode == 0, listed.stderr
    mine = {(r["kind"], r["name"], r["status"]) for r in json.loads(listed.stdout)
            if r["distribution"] == "gankit-three-kinds"}
    assert mine == {(k, "three-kinds", "ok") for k in ("divergence", "generator", "metric")}
    done = _run_own_tests(root, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "skipped" not in done.stdout and " passed" in done.stdout


@pytest.mark.slow  # every kind in one package, from a plain checkout (not installed): ~15 s idle
def test_every_kind_in_one_package_passes_its_own_tests(scaffolded: Any) -> None:
    root = scaffolded("gankit-every-kind", *KINDS)
    done = _run_own_tests(root, {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "skipped" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["My_Loss"], "NAME: 'My_Loss' is not a usable distribution name"),
        (["gankit-2d"], "NAME: the component name '2d' must start with a letter"),
        (["class"], "NAME: 'class' is a Python keyword"),
        (["json"], "NAME: a module 'json' is already importable here"),
        (["gan-qp"], "NAME: divergence 'gan-qp' is already registered by gankit; choose another NAME"),
        (["gankit-ok", "--kind", "divergance"], "--kind: unknown kind 'divergance'; did you mean 'divergence'?"),
        (["gankit-ok", "-k", "metric", "-k", "augmnt"], "--kind: unknown kind 'augmnt'; did you mean 'augment'?"),
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
