"""``gankit new-plugin NAME``: scaffold a plugin package shaped like ``plugins/gankit-qp-power``.

The package works before anything is edited: its tests pass from the fresh folder (``pytest`` finds the
``src/`` layout through its own pytest settings) and after ``pip install -e``. Names are derived from NAME,
the distribution name: ``gankit-my-loss`` gives the module ``gankit_my_loss`` and the component ``my-loss``.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

import typer

from gankit.cli import app
from gankit.cli import plugin_templates as t

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class KindTemplates:
    """What differs between the kinds of plugin ``new-plugin`` can write."""

    hook: str
    impl: str  # the implementation module's name
    init: Template
    code: Template
    tests: Template
    what: str  # the test module's one-line docstring tail
    summary: str
    nn_import: str
    protocol_imports: str
    fields: str = ""
    extra_train_checks: str = ""


KINDS: dict[str, KindTemplates] = {
    "divergence": KindTemplates(
        "register_divergences", "loss", t.DIVERGENCE_INIT, t.DIVERGENCE_IMPL, t.DIVERGENCE_TESTS,
        "golden values, finite losses and gradients, validation, a short training run.",
        "a hinge loss with a margin (scaffolded by gankit new-plugin)",
        "from torch import nn\n", "BuildEnv, DataInfo",
    ),
    "metric": KindTemplates(
        "register_metrics", "metric", t.METRIC_INIT, t.METRIC_IMPL, t.METRIC_TESTS,
        "its value on known samples, validation, a short training run that evaluates it.",
        "distance between the means of generated and real samples (scaffolded by gankit new-plugin)",
        "", "BuildEnv, DataInfo",
        extra_train_checks=(
            '    evaluation = json.loads((tmp_path / "run" / "eval.json").read_text())\n'
            '    assert math.isfinite(evaluation["$name"])\n'
        ),
    ),
    "generator": KindTemplates(
        "register_generators", "network", t.NETWORK_INIT, t.GENERATOR_IMPL, t.GENERATOR_TESTS,
        "output shapes and gradients, validation, a short training run.",
        "an MLP generator (scaffolded by gankit new-plugin)",
        "from torch import nn\n", "BuildEnv, DataInfo", fields=t.GENERATOR_FIELDS,
    ),
    "critic": KindTemplates(
        "register_critics", "network", t.NETWORK_INIT, t.CRITIC_IMPL, t.CRITIC_TESTS,
        "one score per sample and gradients, validation, a short training run.",
        "an MLP critic (scaffolded by gankit new-plugin)",
        "from torch import nn\n", "BuildEnv, DataInfo", fields=t.CRITIC_FIELDS,
    ),
    "data": KindTemplates(
        "register_data", "data", t.DATA_INIT, t.DATA_IMPL, t.DATA_TESTS,
        "samples follow the params and the seed, validation, a short training run.",
        "a 2-D Gaussian blob (scaffolded by gankit new-plugin)",
        "", "BuildEnv",
    ),
}


@dataclass(frozen=True)
class Names:
    dist: str
    module: str
    component: str
    cls: str


def derive_names(name: str) -> Names:
    """Distribution, module, component and class names from NAME; raises ``GankitError`` if NAME is unusable."""
    from gankit.errors import GankitError

    if not _NAME_RE.match(name):
        raise GankitError(
            f"NAME: '{name}' is not a usable distribution name; use lower-case letters, digits and single dashes, "
            "starting with a letter (e.g. gankit-my-loss)"
        )
    component = name.removeprefix("gankit-") if name != "gankit" else name
    if not component[0].isalpha():
        raise GankitError(f"NAME: the component name '{component}' must start with a letter")
    module = name.replace("-", "_")
    if keyword.iskeyword(module):
        raise GankitError(f"NAME: '{module}' is a Python keyword and cannot be the module name")
    cls = "".join(part.capitalize() for part in component.split("-"))
    return Names(name, module, component, cls)


def render(names: Names, kind: str) -> dict[str, str]:
    """The package's files, ``relative path -> text``."""
    from gankit import __version__

    k = KINDS[kind]
    major_minor = ".".join(__version__.split(".")[:2])
    values = {
        "dist": names.dist, "module": names.module, "name": names.component, "Class": names.cls,
        "kind": kind, "summary": k.summary, "gankit_req": f"gankit>={major_minor}", "impl": k.impl,
        "hook": k.hook, "fields": k.fields, "what": k.what, "nn_import": k.nn_import,
        "protocol_imports": k.protocol_imports,
    }
    tables = dict(t.SPEC_TABLES)
    tables[kind] = t.PLUGIN_TABLES[kind].substitute(values)
    slot_tables = "\n".join(tables[slot] for slot in ("data", "generator", "critic", "divergence", "metric"))
    extra = Template(k.extra_train_checks).substitute(values)
    tests = (
        t.TEST_HEADER.substitute(values)
        + k.tests.substitute(values)
        + t.TRAIN_TEST.substitute(values, extra_train_checks=extra)
    )
    src = f"src/{names.module}"
    return {
        "pyproject.toml": t.PYPROJECT.substitute(values),
        "README.md": t.README.substitute(values),
        ".gitignore": t.GITIGNORE,
        f"{src}/__init__.py": k.init.substitute(values),
        f"{src}/{k.impl}.py": k.code.substitute(values),
        "tests/conftest.py": t.CONFTEST.substitute(values),
        f"tests/test_{names.module}.py": tests,
        "specs/example.toml": t.SPEC.substitute(values, slot_tables=slot_tables),
    }


def _check_free(names: Names, kind: str) -> None:
    """Refuse names that would shadow an importable module or clash with an installed component."""
    import importlib.util

    from gankit.errors import GankitError
    from gankit.plugins import get_registry

    try:
        found = importlib.util.find_spec(names.module)
    except (ImportError, ValueError):
        found = None
    if found is not None:
        raise GankitError(
            f"NAME: a module '{names.module}' is already importable here ({found.origin or 'a namespace package'}); "
            "choose another NAME"
        )
    taken = [c for c in get_registry().of_kind(kind) if c.name == names.component]
    if taken:
        raise GankitError(
            f"NAME: {kind} '{names.component}' is already registered by {taken[0].dist}; choose another NAME"
        )


def scaffold(name: str, kind: str = "divergence", directory: Path = Path(".")) -> Path:
    """Write the package for NAME into ``directory/NAME`` and return that folder."""
    from gankit.errors import GankitError

    if kind not in KINDS:
        from gankit.errors import did_you_mean

        raise GankitError(f"--kind: unknown kind '{kind}'{did_you_mean(kind, KINDS)} (one of: {', '.join(KINDS)})")
    names = derive_names(name)
    _check_free(names, kind)
    root = directory / names.dist
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise GankitError(f"--dir: {root} already exists and is not empty; choose another NAME or --dir")
    files = render(names, kind)
    try:
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GankitError(f"--dir: cannot write {root}: {exc.strerror or exc}") from None
    return root


@app.command("new-plugin")
def new_plugin(
    name: str = typer.Argument(..., help="Distribution name, e.g. gankit-my-loss (component 'my-loss')."),
    kind: str = typer.Option("divergence", "--kind", "-k", help=f"Component kind: {', '.join(KINDS)}."),
    directory: Path = typer.Option(Path("."), "--dir", "-d", help="Folder to create the package in."),
) -> None:
    """Scaffold a plugin package (pyproject, plugin module, implementation, tests, example spec)."""
    root = scaffold(name, kind, directory)
    names = derive_names(name)
    typer.echo(f"created {root}/ ({kind} '{names.component}' in module {names.module})")
    typer.echo("next:")
    typer.echo(f"  pytest {root}                      # its tests pass as scaffolded")
    typer.echo(f"  pip install -e {root}              # registers it: gankit list-plugins --kind {kind}")
    typer.echo(f"  gankit train {root / 'specs' / 'example.toml'}")
