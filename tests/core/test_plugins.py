"""The plugin system: discovery through entry points, broken plugins, clashes, blocking, lazy factories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from conftest import tiny_spec, to_toml

from gankit.errors import PluginError
from gankit.plugins import load_registry
from gankit.spec import validate_spec

GOOD_PLUGIN = '''
from pydantic import Field
from gankit.hookspecs import hookimpl
from gankit.params import Params


class DoubleQPParams(Params):
    """Params of a test divergence."""

    lam: float = Field(5.0, gt=0, description="strength")
    distance: str = "l1"
    eps: float = 1e-8


@hookimpl
def register_divergences(register):
    register("double-qp", DoubleQPParams, "gankit.divergences.ganqp:GANQP", "a test plugin divergence")
'''

BROKEN_PLUGIN = "raise ImportError('this plugin is broken on purpose')\n"


def make_package(root: Path, dist: str, module: str, code: str) -> Path:
    """A minimal installable plugin package registering ``module`` under the ``gankit`` entry-point group."""
    pkg = root / dist
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text(textwrap.dedent(code))
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "1.2.0"

        [project.entry-points.gankit]
        {module} = "{module}"

        [tool.setuptools]
        packages = ["{module}"]
    '''))
    return pkg


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two plugin distributions pip-installed into a private folder (added to PYTHONPATH of subprocesses)."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    for dist, module, code in (("gankit-test-good", "gankit_test_good", GOOD_PLUGIN),
                               ("gankit-test-broken", "gankit_test_broken", BROKEN_PLUGIN)):
        pkg = make_package(root, dist, module, code)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "--no-index", "--target", str(target), str(pkg)],
            check=True, capture_output=True, timeout=300,
        )
    return target


def gankit(site: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True,
                          env=full_env, timeout=300)


def test_installed_plugin_is_listed_and_broken_one_is_failed(site):
    result = gankit(site, "list-plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    good = [r for r in rows if r["name"] == "double-qp"]
    assert good == [{"kind": "divergence", "name": "double-qp", "distribution": "gankit-test-good",
                     "version": "1.2.0", "summary": "a test plugin divergence", "status": "ok"}]
    broken = [r for r in rows if r["distribution"] == "gankit-test-broken"]
    assert len(broken) == 1 and broken[0]["status"].startswith("failed: cannot import gankit_test_broken")
    assert "broken on purpose" in broken[0]["status"]
    assert any(r["name"] == "gan-qp" and r["status"] == "ok" for r in rows)


def test_plugin_params_are_validated_and_train_works_beside_a_broken_plugin(site, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(to_toml(tiny_spec(divergence={"name": "double-qp", "params": {"lam": -2, "lamda": 1}})))
    result = gankit(site, "validate", str(bad))
    assert result.returncode == 1
    assert "divergence.params.lam: input should be greater than 0 (got -2)" in result.stderr
    assert "divergence.params.lamda: unknown key; did you mean 'lam'?" in result.stderr
    good = tmp_path / "good.toml"
    good.write_text(to_toml(tiny_spec(divergence={"name": "gankit-test-good:double-qp", "params": {}},
                                      run={"steps": 4, "log_every": 2})))
    result = gankit(site, "train", str(good), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "checkpoints" / "step-000000004.pt").exists()


def test_schema_contains_plugin_params(site):
    result = gankit(site, "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    defs = json.dumps(schema["$defs"])
    assert "DoubleQPParams" in defs and '"double-qp"' in defs
    assert schema["properties"]["divergence"]["discriminator"]["propertyName"] == "name"


def test_block_plugins_by_distribution(site):
    result = gankit(site, "list-plugins", "--json", env={"GANKIT_BLOCK_PLUGINS": "gankit-test-good"})
    rows = json.loads(result.stdout)
    assert not any(r["name"] == "double-qp" for r in rows)
    assert any(r["distribution"] == "gankit-test-good" and r["status"].startswith("blocked") for r in rows)


def _module(name: str, code: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(textwrap.dedent(code), module.__dict__)
    return module


def test_name_clash_with_a_builtin_keeps_the_builtin_and_dist_prefix_selects():
    clash = _module("clash", GOOD_PLUGIN.replace('"double-qp"', '"gan-qp"'))
    registry = load_registry(extra=[(clash, "other-dist", "0.1")])
    assert registry.lookup("divergence", "gan-qp").dist == "gankit"
    assert registry.lookup("divergence", "other-dist:gan-qp").dist == "other-dist"
    assert validate_spec(tiny_spec(), registry=registry).divergence.component.dist == "gankit"
    spec = validate_spec(tiny_spec(divergence={"name": "other-dist:gan-qp", "params": {}}), registry=registry)
    assert spec.divergence.component.dist == "other-dist"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("from gankit.hookspecs import hookimpl\n@hookimpl\ndef register_divergences(register):\n"
         "    raise RuntimeError('hook exploded')\n", "RuntimeError: hook exploded"),
        ("from gankit.hookspecs import hookimpl\n@hookimpl\ndef register_divergences(register):\n"
         "    register('x', dict, 'a:b')\n", "params_model must be a pydantic model class"),
        ("from gankit.hookspecs import hookimpl\nfrom pydantic import BaseModel\n@hookimpl\n"
         "def register_divergences(register):\n    register('x', BaseModel, 'a:b')\n", "must forbid unknown keys"),
        ("from gankit.hookspecs import hookimpl\n@hookimpl\ndef register_divergence(register):\n    pass\n",
         "unknown hook(s) register_divergence; did you mean 'register_divergences'?"),
    ],
)
def test_misbehaving_plugins_are_marked_failed(code, reason):
    registry = load_registry(extra=[(_module("bad", code), "bad-dist", "0.1")])
    (status,) = [p for p in registry.plugins if p.dist == "bad-dist"]
    assert status.status.startswith("failed:") and reason in status.status
    assert registry.lookup("divergence", "gan-qp").dist == "gankit"


def test_factory_errors_name_the_distribution():
    code = '''
        from gankit.hookspecs import hookimpl
        from gankit.params import NoParams

        def explode(params, env):
            raise ValueError("boom")

        @hookimpl
        def register_divergences(register):
            register("explodes", NoParams, explode)
            register("unimportable", NoParams, "no_such_module_xyz:thing")
    '''
    registry = load_registry(extra=[(_module("facty", code), "facty-dist", "0.3")])
    with pytest.raises(PluginError, match=r"divergence 'explodes' from facty-dist failed to build: ValueError: boom"):
        registry.lookup("divergence", "explodes").build(None, None)
    with pytest.raises(PluginError, match=r"'unimportable' from facty-dist: cannot import factory"):
        registry.lookup("divergence", "unimportable").load_factory()


def test_string_factories_are_not_imported_by_listing():
    code = '''
        import sys
        from gankit.hookspecs import hookimpl
        from gankit.params import NoParams

        @hookimpl
        def register_divergences(register):
            register("lazy", NoParams, "gankit_never_imported_module:factory")
    '''
    registry = load_registry(extra=[(_module("lazy", code), "lazy-dist", "1")])
    assert registry.lookup("divergence", "lazy").factory == "gankit_never_imported_module:factory"
    assert "gankit_never_imported_module" not in sys.modules
