"""The TOML spec: its schema, loading, ``--set`` overrides and error reporting.

The skeleton is fixed: ``[run]``, ``[data]``, ``[generator]``, ``[critic]``, ``[divergence]`` and
``[[metrics]]``. Each component table is ``name`` plus ``params``; the spec model is built from the plugin
registry as a pydantic *discriminated union* on ``name``, so a plugin's params are validated exactly like a
built-in's and appear in ``gankit schema``. Every problem is collected and reported at once as
``path: message``. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterator, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gankit.errors import SpecError
from gankit.params import StrictScalars
from gankit.plugins import Component, Registry, get_registry
from gankit.spec_errors import explain, strip_tags
from gankit.userfiles import UnsafeFileError, read_capped

COMPONENT_KINDS = ("data", "generator", "critic", "divergence")
METRIC_KIND = "metric"
AUGMENT_KIND = "augment"  # the optional [augment] table


#: the largest spec file read (specs are a few KB)
MAX_SPEC_BYTES = 2**20
#: the largest seed: fits every RNG it seeds (torch takes 64 bits, but seeds are combined with steps and ranks)
MAX_SEED = 2**32 - 1


class _Strict(StrictScalars):
    """Unknown keys are errors, values frozen; finite floats and strictly typed numbers and booleans."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimizerConfig(_Strict):
    """One network's optimizer and learning-rate schedule."""

    name: Literal["adam", "adamw", "rmsprop", "sgd"] = Field("adam", description="Optimizer.")
    lr: float = Field(2e-4, gt=0, description="Learning rate.")
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.5, 0.999), description="Adam/AdamW betas."
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD/RMSProp momentum.")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay (decoupled for AdamW).")
    eps: float = Field(1e-8, gt=0, description="Numerical epsilon of Adam/AdamW/RMSProp.")
    schedule: Literal["constant", "linear"] = Field(
        "constant", description="Learning-rate schedule: constant, or linear decay to 0 at the last step."
    )
    grad_clip: float | None = Field(None, gt=0, description="Clip the gradient's global L2 norm to this value.")


class Optimizers(_Strict):
    generator: OptimizerConfig = Field(default_factory=OptimizerConfig)
    critic: OptimizerConfig = Field(default_factory=OptimizerConfig)


class Regularize(_Strict):
    """Regularisers usable with any divergence (spectral norm lives with the critic's params)."""

    r1: float = Field(0.0, ge=0, description="R1 penalty weight γ: γ/2 · E_p ‖∇T(x_r)‖² (0 = off).")
    r2: float = Field(0.0, ge=0, description="R2 penalty weight γ: γ/2 · E_q ‖∇T(x_f)‖² (0 = off).")
    acgan: float = Field(
        1.0, ge=0, description="Weight of the ACGAN auxiliary classification loss (critics with a class head)."
    )


class RunConfig(_Strict):
    """Everything about a run that does not belong to one component."""

    steps: int = Field(1000, gt=0, description="Generator steps to train.")
    batch_size: int = Field(64, gt=0, description="Batch size per process.")
    critic_steps: int = Field(1, gt=0, description="Critic steps per generator step.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed for torch, data order and latents (0 to 2³²−1).")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32; bf16 autocast; fp16 autocast with a gradient scaler."
    )
    channels_last: bool = Field(False, description="Use the channels_last memory format for image networks.")
    compile: bool = Field(False, description="torch.compile both networks (a spectral-norm critic stays eager).")
    ema: float | None = Field(
        None, gt=0, lt=1, description="Generator EMA decay (e.g. 0.999); EMA weights make samples and metrics."
    )
    out_dir: str | None = Field(None, description="Output folder (default runs/<spec file stem>).")
    log_every: int = Field(50, gt=0, description="Steps between log lines, metrics.jsonl rows and plots.")
    sample_every: int = Field(500, gt=0, description="Steps between sample grids / scatter plots.")
    checkpoint_every: int = Field(
        1000, gt=0, description="Steps between checkpoints (one is always written at the end)."
    )
    keep_checkpoints: int = Field(
        3, gt=0, description="How many checkpoints to keep (the newest; the final and Ctrl-C ones count too)."
    )
    eval_every: int = Field(0, ge=0, description="Steps between metric evaluations (0: only at the end).")
    num_samples: int = Field(64, gt=0, le=1024, description="Samples in each grid (fixed latents).")
    num_workers: int = Field(0, ge=0, description="Data-loader workers for data that is not held in memory.")
    tensorboard: bool = Field(False, description="Also log to TensorBoard (needs the tensorboard package).")
    requires: list[str] = Field(
        default_factory=list, description='Plugin distributions this spec needs, e.g. ["gankit-qp-power>=0.1"].'
    )
    optimizer: Optimizers = Field(default_factory=Optimizers)
    regularize: Regularize = Field(default_factory=Regularize)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        from gankit.devices import parse_device

        try:
            parse_device(value)
        except ValueError as exc:
            raise PydanticCustomError("device", str(exc)) from None
        return value


class ComponentSpec(BaseModel):
    """A component table: ``name`` plus ``params``; subclassed per registered component."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    component: ClassVar[Component]
    name: str
    params: BaseModel


class SpecBase(BaseModel):
    """The validated spec; the concrete model is built from the registry by :func:`spec_model`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the plugin registry the names were resolved in (set by :func:`spec_model`)
    registry: ClassVar[Registry]
    run: RunConfig = Field(default_factory=RunConfig)

    # narrowed to discriminated unions of the registered components by spec_model()
    data: ComponentSpec
    generator: ComponentSpec
    critic: ComponentSpec
    divergence: ComponentSpec
    metrics: list[ComponentSpec] = Field(default_factory=list)
    augment: ComponentSpec | None = None

    def components(self) -> Iterator[tuple[str, ComponentSpec]]:
        """``(path, component table)`` for every component, metrics and the optional augment included."""
        for kind in COMPONENT_KINDS:
            yield kind, getattr(self, kind)
        if self.augment is not None:
            yield "augment", self.augment
        for i, metric in enumerate(self.metrics):
            yield f"metrics.{i}", metric

    def to_dict(self) -> dict[str, Any]:
        # no [augment]: no key, so specs (and run hashes) from before the table existed stay the same
        return self.model_dump(mode="json", exclude={"augment"} if self.augment is None else None)

    def digest(self) -> str:
        """A short hash of the resolved spec, written into checkpoints and run manifests."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


Spec = SpecBase


def _component_union(registry: Registry, kind: str) -> Any:
    members = []
    for comp in registry.of_kind(kind):
        # the bare name is a tag only where it means this component (see Registry.lookup: built-ins win)
        bare = _resolves_to(registry, comp)
        tags = (comp.name, comp.qualified_name) if bare else (comp.qualified_name,)
        model_name = kind.capitalize() + "_" + re.sub(r"\W", "_", comp.qualified_name)
        cls = create_model(
            model_name,
            __base__=ComponentSpec,
            __doc__=comp.summary or f"{kind} '{comp.name}' from {comp.dist}",
            name=(Literal[tags], Field(description=f"'{comp.name}' ({comp.dist} {comp.version})")),
            params=(comp.params_model, Field(default_factory=comp.params_model)),
        )
        cls.component = comp
        members.append(cls)
    if not members:  # nothing of this kind is installed: every name is unknown
        return _nothing_installed(kind)
    return Annotated[Union[tuple(members)], Field(discriminator="name")]  # noqa: UP007


def _nothing_installed(kind: str) -> type[ComponentSpec]:
    class NothingInstalled(ComponentSpec):
        @model_validator(mode="before")
        @classmethod
        def _reject(cls, data: Any) -> Any:
            tag = data.get("name") if isinstance(data, dict) else None
            raise PydanticCustomError("union_tag_invalid", "no {kind} is installed", {"tag": tag, "kind": kind})

    return NothingInstalled


def spec_model(registry: Registry | None = None) -> type[SpecBase]:
    """The spec model for ``registry`` (default: the installed plugins)."""
    return _spec_model(registry or get_registry())


@cache
def _spec_model(registry: Registry) -> type[SpecBase]:
    model = create_model(
        "Spec",
        __base__=SpecBase,
        __validators__={"_one_line_component_errors": model_validator(mode="wrap")(_one_line_component_errors)},
        data=(_component_union(registry, "data"), Field(description="The data set.")),
        generator=(_component_union(registry, "generator"), Field(description="The generator network.")),
        critic=(_component_union(registry, "critic"), Field(description="The critic (discriminator).")),
        divergence=(_component_union(registry, "divergence"), Field(description="The GAN objective.")),
        metrics=(
            list[_component_union(registry, METRIC_KIND)],  # type: ignore[misc]
            Field(default_factory=list, description="Metrics evaluated during and after training."),
        ),
        augment=(
            _component_union(registry, AUGMENT_KIND) | None,
            Field(None, description="Optional differentiable augmentation of every batch the critic sees."),
        ),
    )
    model.registry = registry  # the registry this model was built from: cross-checks read it from the spec
    return model


# ------------------------------------------------------------------------------------------ loading
def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))  # a UTF-8 byte-order mark is not TOML, but harmless
    except RecursionError:
        raise SpecError([("", "invalid TOML: arrays or tables nested too deeply")], source) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "end of file"
        msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
        raise SpecError([("", f"invalid TOML at {where}: {msg}")], source) from None


def parse_override_value(raw: str) -> Any:
    """An override's value: TOML (``500``, ``true``, ``"text"``, ``[1, 2]``), else the text as a plain string.
    Raises ``ValueError`` for a value on more than one line: TOML would read what follows as further keys or
    tables and the override would silently drop it (on one line, anything after a value is a syntax error or
    a comment)."""
    if "\n" in raw or "\r" in raw:
        raise ValueError("the value must be on one line (nothing may follow it)")
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    except RecursionError:
        raise ValueError("the value is nested too deeply") from None


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> list[tuple[str, str]]:
    """Apply ``a.b.c=value`` overrides in place (``value`` in TOML syntax, else a plain string)."""
    problems: list[tuple[str, str]] = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = [p.strip() for p in key.strip().split(".")]
        if not sep or not all(parts):
            problems.append((f"--set {item}", "expected KEY.PATH=VALUE, e.g. --set run.steps=500"))
            continue
        try:
            value = parse_override_value(raw)
        except ValueError as exc:
            problems.append((f"--set {key.strip()}", f"{exc}: {raw!r}"))
            continue
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append((f"--set {key}", f"'{part}' is not an index of {'.'.join(parts[:depth])}"))
                    break
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                problems.append((f"--set {key}", f"'{'.'.join(parts[: depth + 1])}' is not a table"))
                break
        else:
            if isinstance(node, list):
                if not parts[-1].isdigit() or int(parts[-1]) >= len(node):
                    problems.append((f"--set {key}", f"'{parts[-1]}' is not an index"))
                    continue
                node[int(parts[-1])] = value
            else:
                node[parts[-1]] = value
    return problems


def read_spec_text(path: Path) -> str:
    """The text of a spec file: a regular file (never a FIFO or device, which would hang) of at most
    :data:`MAX_SPEC_BYTES`, UTF-8 with or without a byte-order mark."""
    try:
        raw = read_capped(path, MAX_SPEC_BYTES)
    except UnsafeFileError as exc:
        raise SpecError([("", str(exc))], str(path)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError([("", f"cannot read: not UTF-8 text (byte {exc.start})")], str(path)) from None


def load_spec(
    path: str | Path,
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
) -> SpecBase:
    """Read, override and validate a spec file; raises :class:`SpecError` listing every problem."""
    path = Path(path)
    source = str(path)
    data = parse_toml(read_spec_text(path), source)
    return validate_spec(data, overrides, registry, source=source)


def validate_spec(
    data: dict[str, Any],
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
    source: str | None = None,
) -> SpecBase:
    registry = registry or get_registry()
    problems = apply_overrides(data, overrides)
    # a missing distribution explains the unknown names that follow, so it is reported first
    problems.extend(_check_requires(_raw_requires(data)))
    model = spec_model(registry)
    spec: SpecBase | None = None
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(explain(exc, model, registry))
    except RecursionError:
        problems.append(("", "values nested too deeply"))
    if spec is not None:
        problems.extend(_cross_checks(spec))
    if problems:
        raise SpecError(problems, source)
    assert spec is not None
    return spec


# ---------------------------------------------------------------------------------- error messages
# ------------------------------------------------------------------------- component names, requires
def _resolves_to(registry: Registry, component: Component) -> bool:
    """Whether the bare name of ``component`` means it (not shadowed by a built-in, not ambiguous)."""
    try:
        return registry.lookup(component.kind, component.name) is component
    except LookupError:
        return False


def _one_line_component_errors(cls: type[SpecBase], data: Any, handler: Any) -> Any:
    """Turn pydantic's discriminator errors (an unknown or missing component ``name``, reported with the whole
    list of expected tags) into one line naming the component, wherever a spec is validated: ``validate``,
    ``train``, and a checkpoint's stored spec in ``sample``/``eval``."""
    try:
        return handler(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not any(e["type"] in ("union_tag_invalid", "union_tag_not_found") for e in errors):
            raise
        details: list[Any] = []
        for err in errors:
            loc, kind = strip_tags(tuple(err["loc"]))
            if err["type"] == "union_tag_invalid":
                tag = str((err.get("ctx") or {}).get("tag"))
                error = PydanticCustomError("unknown_component", "{message}",
                                            {"message": _unknown_name(cls.registry, kind, tag)})
                details.append({"type": error, "loc": (*loc, "name"), "input": tag})
            elif err["type"] == "union_tag_not_found":
                names = ", ".join(sorted(c.name for c in cls.registry.of_kind(kind))) or "none installed"
                error = PydanticCustomError("component_name_missing", "{message}",
                                            {"message": f"missing 'name' (one of: {names})"})
                details.append({"type": error, "loc": loc, "input": err["input"]})
            else:  # kept as it was: same type, location and message
                error = PydanticCustomError(err["type"], "{message}", {"message": err["msg"]})
                details.append({"type": error, "loc": tuple(err["loc"]), "input": err["input"]})
        raise ValidationError.from_exception_data(exc.title, details) from None


def _unknown_name(registry: Registry, kind: str, name: str) -> str:
    try:
        registry.lookup(kind, name)
    except LookupError as exc:
        return str(exc)
    return f"unknown {kind} '{name}'"


def _raw_requires(data: Any) -> list[str]:
    """``run.requires`` before validation (only if it is a list of strings: the schema reports the rest)."""
    run = data.get("run") if isinstance(data, dict) else None
    requires = run.get("requires") if isinstance(run, dict) else None
    if isinstance(requires, list) and all(isinstance(r, str) for r in requires):
        return requires
    return []


def _check_requires(requires: list[str]) -> Iterator[tuple[str, str]]:
    from packaging.requirements import InvalidRequirement, Requirement

    for i, text in enumerate(requires):
        where = f"run.requires.{i}"
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            yield where, f"invalid requirement {text!r}: {exc}"
            continue
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            yield where, f"requires {text}, which is not installed (pip install '{text}')"
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            yield where, f"requires {text}, but {req.name} {installed} is installed (pip install -U '{text}')"


def _check_out_dir(out_dir: str | None) -> Iterator[tuple[str, str]]:
    """An output folder that can never be created or written is known before training starts."""
    if not out_dir:
        return
    path = Path(out_dir)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        yield "run.out_dir", f"cannot create '{out_dir}': '{probe}' is a file, not a folder"
    elif probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        yield "run.out_dir", f"cannot write to '{out_dir}': '{probe}' is not writable"


def _cross_checks(spec: SpecBase) -> Iterator[tuple[str, str]]:
    """Problems that involve more than one field: whether the components fit together (from what they
    declare, :mod:`gankit.capabilities`, the same check the build runs), then each component's own ``check``."""
    from gankit.capabilities import compatibility_problems

    yield from _check_out_dir(spec.run.out_dir)
    yield from compatibility_problems(spec, spec.registry)
    for path, table in spec.components():
        check = getattr(table.params, "check", None)
        if check is None:
            continue
        for field, msg in check(spec):
            if field.startswith("/"):  # an absolute spec path, e.g. "/critic.name"
                yield field[1:], msg
            else:
                yield (f"{path}.params.{field}" if field else f"{path}.params"), msg
