"""``gankit new-plugin NAME --kind K [--kind K2 ...]``: scaffold a plugin package shaped like
``plugins/gankit-qp-power``, with one component of each kind asked for.

The files are real, ruff-checked files shipped in ``gankit/templates`` (see its README), written for the
placeholder package ``gankit-plugin-template``; rendering copies ``base/`` and each kind's folder and replaces
the placeholder names. The package works before anything is edited: its tests pass from the fresh folder
(``pytest`` finds the ``src/`` layout through its own pytest settings) and after ``pip install -e``. Names
come from NAME, the distribution name: ``gankit-my-loss`` gives the module ``gankit_my_loss`` and the
component ``my-loss`` (one name for every kind: each kind has its own namespace).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import typer

from gankit.cli import app
from gankit.hookspecs import HOOKS

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

#: the kinds ``new-plugin`` can write, in the order they appear in the example spec
KINDS = ("data", "generator", "critic", "divergence", "metric", "augment")
#: the spec table of each kind, and the built-in component the example spec uses where the plugin has none
SLOTS = {
    "data": '[data]\nname = "ring"\nparams = { n_samples = 20000 }\n',
    "generator": '[generator]\nname = "mlp"\nparams = { latent_dim = 2, hidden = 128, depth = 3 }\n',
    "critic": '[critic]\nname = "mlp"\nparams = { hidden = 128, depth = 3 }\n',
    "divergence": '[divergence]\nname = "sgan-ns"\n',
    "metric": '[[metrics]]\nname = "mode-coverage"\nparams = { n_samples = 1000 }\n',
    "augment": "",  # no augmentation unless the plugin brings one
}

KIND_HELP = f"Component kind, repeat it for several in one package: {', '.join(KINDS)}."
PLACEHOLDER_DIST = "gankit-plugin-template"
PLACEHOLDER_MODULE = "plugin_template"
PLACEHOLDER_NAME = "plugin-template"
PLACEHOLDER_CLASS = "PluginTemplate"
PLACEHOLDER_REQUIREMENT = '"gankit>=0.1"'


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


def templates() -> Traversable:
    return files("gankit").joinpath("templates")


def _walk(folder: Traversable, prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in folder.iterdir():
        rel = f"{prefix}{entry.name}"
        if entry.name.startswith(".") or entry.name == "__pycache__":  # caches of linters and Python
            continue
        if entry.is_dir():
            found.update(_walk(entry, rel + "/"))
        else:
            found[rel] = entry.read_text(encoding="utf-8")
    return found


def _keep_hooks(init: str, kinds: list[str]) -> str:
    """The package ``__init__`` importing only the hooks of ``kinds`` (the template imports all of them)."""
    dropped = {HOOKS[k] for k in KINDS if k not in kinds}
    return "".join(line for line in init.splitlines(keepends=True) if not any(h in line for h in dropped))


def _supports_augment() -> bool:
    """Whether this gankit's spec has an ``[augment]`` table (the example spec uses it only then)."""
    from gankit.spec import SpecBase

    return "augment" in SpecBase.model_fields


def render(names: Names, kinds: list[str]) -> dict[str, str]:
    """The package's files, ``relative path -> text``, for one component of each of ``kinds``."""
    from gankit import __version__

    root = templates()
    out = _walk(root.joinpath("base"))
    out[".gitignore"] = out.pop("gitignore")
    out["specs/example.toml"] = out.pop("specs/example.toml.in")  # not a spec until its tables are added
    tables = dict(SLOTS)
    for kind in kinds:
        kind_files = _walk(root.joinpath(kind))
        table = kind_files.pop("spec.toml")
        if kind != "augment" or _supports_augment():
            tables[kind] = table
        out.update(kind_files)
    init = f"src/{PLACEHOLDER_MODULE}/__init__.py"
    out[init] = _keep_hooks(out[init], kinds)
    out["specs/example.toml"] += "\n" + "\n".join(t for slot, t in tables.items() if t and slot in SLOTS)
    listed = [k for k in KINDS if k in kinds]
    what = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
    out["README.md"] = out["README.md"].replace("as a KINDS", f"as a {what}")
    major_minor = ".".join(__version__.split(".")[:2])

    def substitute(text: str) -> str:
        text = text.replace(PLACEHOLDER_DIST, names.dist).replace(PLACEHOLDER_MODULE, names.module)
        text = text.replace(PLACEHOLDER_NAME, names.component).replace(PLACEHOLDER_CLASS, names.cls)
        return text.replace(PLACEHOLDER_REQUIREMENT, f'"gankit>={major_minor}"')

    return {substitute(rel): substitute(text) for rel, text in out.items()}


def _check_free(names: Names, kinds: list[str]) -> None:
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
    for kind in kinds:
        taken = [c for c in get_registry().of_kind(kind) if c.name == names.component]
        if taken:
            raise GankitError(
                f"NAME: {kind} '{names.component}' is already registered by {taken[0].dist}; choose another NAME"
            )


def _check_kinds(kinds: list[str]) -> list[str]:
    from gankit.errors import GankitError, did_you_mean

    for kind in kinds:
        if kind not in KINDS:
            raise GankitError(f"--kind: unknown kind '{kind}'{did_you_mean(kind, KINDS)} (one of: {', '.join(KINDS)})")
    return [k for k in KINDS if k in kinds]  # each once, in spec order


def scaffold(name: str, kinds: list[str] | str = "divergence", directory: Path = Path(".")) -> Path:
    """Write the package for NAME with one component of each of ``kinds`` into ``directory/NAME``."""
    from gankit.errors import GankitError

    chosen = _check_kinds([kinds] if isinstance(kinds, str) else list(kinds))
    names = derive_names(name)
    _check_free(names, chosen)
    root = directory / names.dist
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise GankitError(f"--dir: {root} already exists and is not empty; choose another NAME or --dir")
    rendered = render(names, chosen)
    try:
        for rel, text in rendered.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GankitError(f"--dir: cannot write {root}: {exc.strerror or exc}") from None
    return root


@app.command("new-plugin")
def new_plugin(
    name: str = typer.Argument(..., help="Distribution name, e.g. gankit-my-loss (component 'my-loss')."),
    kind: list[str] = typer.Option(["divergence"], "--kind", "-k", help=KIND_HELP),
    directory: Path = typer.Option(Path("."), "--dir", "-d", help="Folder to create the package in."),
) -> None:
    """Scaffold a plugin package (pyproject, plugin module, implementations, tests, example spec)."""
    root = scaffold(name, kind, directory)
    names = derive_names(name)
    chosen = _check_kinds(kind)
    typer.echo(f"created {root}/ ({', '.join(chosen)} '{names.component}' in module {names.module})")
    typer.echo("next:")
    typer.echo(f"  pytest {root}                      # its tests pass as scaffolded")
    typer.echo(f"  pip install -e {root}              # registers it: gankit list-plugins")
    typer.echo(f"  gankit train {root / 'specs' / 'example.toml'}")
