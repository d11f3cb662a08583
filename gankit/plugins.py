"""Discover plugins through the ``gankit`` entry-point group and collect their registrations.

Built-in components are plugins too: ``gankit``'s own pyproject declares entry points into the same group.
Each entry point is loaded, registered and called in its own ``try``: a broken plugin -- any exception,
``SystemExit`` included -- is listed as failed (with its distribution and the reason) while everything else
keeps working; only ``KeyboardInterrupt`` propagates, so Ctrl-C still stops a command.

Name clashes never change what a valid spec means: a built-in name (distribution ``gankit``) keeps resolving to
the built-in, and a third-party component of the same name is reachable only as ``dist:name`` (it is
"shadowed", which ``list-plugins`` and ``validate`` report). Two third-party components of one name (and no
built-in) are ambiguous: the bare name is an error naming both. Nothing here imports torch:
factories given as ``"module:attr"`` strings are imported only by :meth:`Component.load_factory`.

Blocking: ``GANKIT_BLOCK_PLUGINS="dist-or-entry-point,..."`` skips the named plugins (a distribution name
blocks all of its entry points).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from gankit import hookspecs
from gankit.errors import GankitError, PluginError, did_you_mean

GROUP = "gankit"
#: the distribution whose components win a name clash
BUILTIN_DIST = "gankit"
BLOCK_ENV = "GANKIT_BLOCK_PLUGINS"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Component:
    """One registered component: what a spec's ``name`` resolves to."""

    kind: str
    name: str
    params_model: type[BaseModel]
    factory: Callable[..., Any] | str
    summary: str
    dist: str
    version: str

    @property
    def qualified_name(self) -> str:
        return f"{self.dist}:{self.name}"

    def load_factory(self) -> Callable[..., Any]:
        """Import a ``"module:attr"`` factory (a plugin error names the distribution if that fails)."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # any failure inside third-party code (SystemExit too) is a plugin error
            raise PluginError(
                f"{self.kind} '{self.name}' from {self.dist}: cannot import factory '{self.factory}': "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(f"{self.kind} '{self.name}' from {self.dist}: factory '{self.factory}' is not callable")
        return obj

    def build(self, params: BaseModel, env: Any) -> Any:
        """Call the factory; an exception inside it is reported as this plugin's failure."""
        factory = self.load_factory()
        try:
            return factory(params, env)
        except (GankitError, KeyboardInterrupt):
            raise
        except BaseException as exc:
            raise PluginError(
                f"{self.kind} '{self.name}' from {self.dist} failed to build: {type(exc).__name__}: {exc}"
            ) from exc


@dataclass
class PluginStatus:
    """One entry point as ``list-plugins`` shows it."""

    entry_point: str
    dist: str
    version: str
    status: str = "ok"  # ok | blocked | failed: <reason>


@dataclass(eq=False)  # identity-hashed: spec models are cached per registry
class Registry:
    """Everything the installed plugins registered, plus the plugins that failed."""

    components: dict[str, list[Component]] = field(default_factory=dict)
    plugins: list[PluginStatus] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Component]:
        return self.components.get(kind, [])

    def names(self, kind: str) -> list[str]:
        return sorted({c.name for c in self.of_kind(kind)} | {c.qualified_name for c in self.of_kind(kind)})

    def lookup(self, kind: str, name: str) -> Component:
        """Resolve ``name`` or ``dist:name``; raises ``LookupError`` with a one-line explanation."""
        candidates = self.of_kind(kind)
        if ":" in name:
            dist, _, short = name.partition(":")
            found = [c for c in candidates if c.name == short and _norm(c.dist) == _norm(dist)]
        else:
            found = [c for c in candidates if c.name == name]
            builtin = [c for c in found if c.dist == BUILTIN_DIST]
            found = builtin or found  # a built-in name always means the built-in
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            options = " or ".join(f"'{c.qualified_name}'" for c in found)
            dists = " and ".join(c.dist for c in found)
            raise LookupError(f"{kind} '{name}' is registered by both {dists}; write {options}")
        hint = did_you_mean(name, [c.name for c in candidates])
        failed = [p for p in self.plugins if p.status != "ok"]
        note = f" ({len(failed)} plugin(s) failed or blocked: see 'gankit list-plugins')" if failed else ""
        raise LookupError(f"unknown {kind} '{name}'{hint}{note}")

    def shadowed_by(self, component: Component) -> Component | None:
        """The built-in that hides ``component``'s bare name (``None`` if the bare name reaches it)."""
        if component.dist == BUILTIN_DIST:
            return None
        for other in self.of_kind(component.kind):
            if other.name == component.name and other.dist == BUILTIN_DIST:
                return other
        return None

    def hidden_by(self, component: Component) -> list[Component]:
        """The third-party components that share the bare name ``component`` (a built-in) resolves to."""
        if component.dist != BUILTIN_DIST:
            return []
        return [c for c in self.of_kind(component.kind) if c.name == component.name and c.dist != BUILTIN_DIST]

    def shadow_note(self, component: Component) -> str | None:
        """One line saying that ``component`` is reachable only by its qualified name, or ``None``."""
        if self.shadowed_by(component) is None:
            return None
        return (f"shadowed: the built-in {component.kind} '{component.name}' keeps the name; "
                f"write '{component.qualified_name}' for this one")

    def failed(self) -> list[PluginStatus]:
        return [p for p in self.plugins if p.status.startswith("failed")]


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _blocked_names() -> set[str]:
    return {_norm(n.strip()) for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}


def _dist_of(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("unknown", "?")
    return (dist.metadata["Name"] or "unknown", dist.version or "?")


def _make_register(kind: str, status: PluginStatus, out: list[Component], problems: list[str]) -> Callable:
    def register(
        name: str,
        params_model: type[BaseModel],
        factory: Callable[..., Any] | str,
        summary: str = "",
    ) -> None:
        where = f"{kind} '{name}' from {status.dist}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(f"{kind} name {name!r} is invalid (use lower-case letters, digits, '-', '.', '_')")
            return
        if not (isinstance(params_model, type) and issubclass(params_model, BaseModel)):
            problems.append(f"{where}: params_model must be a pydantic model class, got {params_model!r}")
            return
        if params_model.model_config.get("extra") != "forbid":
            problems.append(f"{where}: params_model must forbid unknown keys (subclass gankit.params.Params)")
            return
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            problems.append(f"{where}: factory must be callable or a 'module:attr' string, got {factory!r}")
            return
        out.append(Component(kind, name, params_model, factory, str(summary), status.dist, status.version))

    return register


def _register_plugin(
    registry: Registry, pm: pluggy.PluginManager, module: ModuleType, status: PluginStatus
) -> None:
    """Register one plugin module and call each of its hooks; record any failure on ``status``."""
    found: list[Component] = []
    problems: list[str] = []
    try:
        pm.register(module, name=status.entry_point)
        for kind, hook_name in hookspecs.HOOKS.items():
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is module:
                    impl.function(register=_make_register(kind, status, found, problems))
        pm.check_pending()  # a hookimpl whose name matches no hookspec (a typo) fails the plugin
    except pluggy.PluginValidationError as exc:
        unknown = [impl.function.__name__ for impl in _unknown_hookimpls(pm, module)]
        hint = did_you_mean(unknown[0], hookspecs.HOOKS.values()) if unknown else ""
        problems.append(f"unknown hook(s) {', '.join(unknown) or exc}{hint}")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin's own code raised (even SystemExit): mark it failed, keep the rest
        problems.append(f"{type(exc).__name__}: {exc}")
    if problems:
        status.status = "failed: " + "; ".join(problems)
        if pm.is_registered(module):
            pm.unregister(module)
        found = []  # all-or-nothing per plugin: a half-registered plugin is worse than none
    for component in found:
        registry.components.setdefault(component.kind, []).append(component)


def _unknown_hookimpls(pm: pluggy.PluginManager, module: ModuleType) -> list[Any]:
    found = []
    for name in dir(pm.hook):
        caller = getattr(pm.hook, name)
        if isinstance(caller, pluggy.HookCaller) and not caller.has_spec():
            found += [impl for impl in caller.get_hookimpls() if impl.plugin is module]
    return found


def load_registry(extra: Iterable[tuple[ModuleType, str, str]] = ()) -> Registry:
    """Load every entry point of the ``gankit`` group (plus ``extra`` modules, as ``(module, dist, version)``)."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    blocked = _blocked_names()
    seen: set[tuple[str, str]] = set()
    eps = sorted(entry_points(group=GROUP), key=lambda e: (_dist_of(e)[0] != "gankit", _dist_of(e)[0], e.name))
    for ep in eps:  # built-ins first, then third parties in a stable order
        dist, ver = _dist_of(ep)
        if (dist, ep.name) in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add((dist, ep.name))
        status = PluginStatus(entry_point=ep.name, dist=dist, version=ver)
        registry.plugins.append(status)
        if _norm(dist) in blocked or _norm(ep.name) in blocked:
            status.status = f"blocked by {BLOCK_ENV}"
            continue
        try:
            module = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import too: one failed plugin, not a dead command
            status.status = f"failed: cannot import {ep.value}: {type(exc).__name__}: {exc}"
            continue
        _register_plugin(registry, pm, module, status)
    for module, dist, ver in extra:
        status = PluginStatus(entry_point=module.__name__, dist=dist, version=ver)
        registry.plugins.append(status)
        _register_plugin(registry, pm, module, status)
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Replace (or drop, so it reloads) the process-wide registry; for tests and embedding."""
    global _REGISTRY
    _REGISTRY = registry


def require(kind: str, name: str) -> Component:
    """Resolve a component or raise a user-facing error."""
    try:
        return get_registry().lookup(kind, name)
    except LookupError as exc:
        raise GankitError(str(exc)) from None
