"""The sweep file: its schema, its expansion into runs (variant × seed), and validation of every expanded spec.

A variant is a list of ``train --set`` overrides on the base spec. The values in the sweep file are TOML values;
each is written back as TOML text (:func:`toml_value`) and applied by the very function ``train --set`` uses, so
what is validated here is exactly what each ``gankit train`` subprocess will train.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gankit.errors import GankitError, SpecError, did_you_mean
from gankit.spec import parse_toml, read_spec_text, validate_spec

#: keys a sweep sets itself: a variant may not
RESERVED_KEYS = ("run.seed", "run.out_dir")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class VariantConfig(_Strict):
    """One setting to compare: a name (its folder) and the overrides it applies to the base spec."""

    name: str = Field(..., pattern=NAME_PATTERN, description="Folder name of the variant's runs.")
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set",
                                      description="Dotted keys and values, as `train --set`.")


class SlurmConfig(_Strict):
    """Resources of each run when ``--launcher slurm`` submits the sweep as a job array (through submitit)."""

    partition: str | None = Field(None, description="Slurm partition.")
    gpus_per_run: int = Field(0, ge=0, description="GPUs per node for each run (one process per GPU).")
    nodes: int = Field(1, ge=1, description="Nodes per run; more than one trains through gankit's Slurm path.")
    cpus_per_run: int | None = Field(None, ge=1, description="CPUs per process (also its thread count).")
    time: int | str = Field(60, description='Time limit: minutes, or "HH:MM:SS" / "D-HH:MM:SS".')
    mem_gb: float | None = Field(None, gt=0, description="Memory per node in GiB.")
    account: str | None = Field(None, description="Slurm account.")
    qos: str | None = Field(None, description="Slurm QOS.")
    array_parallelism: int | None = Field(None, ge=1, description="Runs at once (default: --jobs, else all).")
    extra: dict[str, str | int] = Field(default_factory=dict, description="Other sbatch options, e.g. constraint.")

    @field_validator("time")
    @classmethod
    def _time(cls, value: int | str) -> int | str:
        minutes_of(value)
        return value

    def timeout_min(self) -> int:
        return minutes_of(self.time)


def minutes_of(value: int | str) -> int:
    """Minutes of a Slurm time limit given as minutes or ``[D-]HH:MM:SS``."""
    if isinstance(value, int):
        if value < 1:
            raise ValueError("must be at least 1 minute")
        return value
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})", value.strip())
    if not m:
        raise ValueError(f"expected minutes or 'HH:MM:SS' (got {value!r})")
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return max(1, math.ceil(days * 1440 + hours * 60 + minutes + seconds / 60))


class SweepFile(_Strict):
    """The schema of a sweep file; unknown keys are errors."""

    spec: str = Field(..., description="The base spec, relative to the sweep file.")
    seeds: list[int] = Field(..., min_length=1, description="Seeds every variant runs with (run.seed).")
    out_dir: str | None = Field(None, description="Output folder (default runs/<sweep file stem>).")
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set",
                                      description="Overrides applied to every variant (before its own).")
    grid: dict[str, list[Any]] = Field(default_factory=dict,
                                       description="Dotted key -> values; every combination is a variant.")
    variant: list[VariantConfig] = Field(default_factory=list, description="The variants ([[variant]]).")
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds must be >= 0")
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must not repeat")
        return seeds

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"'{key}' has no values")
        return grid


@dataclass(frozen=True)
class RunPlan:
    """One run of a sweep: what ``gankit train`` is called with, and where it writes. Picklable (submitit)."""

    variant: str
    seed: int
    spec: Path
    overrides: tuple[str, ...]
    out: Path
    steps: int
    digest: str

    @property
    def key(self) -> str:
        return f"{self.variant}/seed-{self.seed}"


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]


@dataclass
class Sweep:
    path: Path
    config: SweepFile
    out_dir: Path
    variants: list[Variant]
    runs: list[RunPlan] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return list(self.config.seeds)


# ----------------------------------------------------------------------------------------------- values
def toml_value(value: Any) -> str:
    """``value`` as TOML text, so that ``train --set key=<text>`` reads back the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        out = value.replace("\\", "\\\\").replace('"', '\\"')
        for char, escape in (("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
            out = out.replace(char, escape)
        return f'"{out}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise GankitError(f"unsupported value {value!r} ({type(value).__name__}) in a sweep override")


def label_value(value: Any) -> str:
    """A short label of a grid value for a variant name: ``1e-04`` → ``0.0001``, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return toml_value(value)


def _grid_points(grid: dict[str, list[Any]]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """``(name, [(key, value), ...])`` for every combination of the grid's values (sweep file order)."""
    if not grid:
        return []
    last = [k.rsplit(".", 1)[-1] for k in grid]
    labels = {k: (short if last.count(short) == 1 else k) for k, short in zip(grid, last, strict=True)}
    points = []
    for combo in itertools.product(*grid.values()):
        pairs = list(zip(grid, combo, strict=True))
        name = "_".join(f"{labels[k]}={label_value(v)}" for k, v in pairs)
        points.append((_UNSAFE.sub("-", name), pairs))
    return points


# ---------------------------------------------------------------------------------------------- loading
def read_sweep_file(path: Path) -> SweepFile:
    """Parse and check the sweep file itself (not the specs it expands to)."""
    source = str(path)
    data = parse_toml(read_spec_text(path), source)
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_explain(exc, data), source) from None


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """A location as users read it: ``variant 'sgan-ns': set`` rather than ``variant.1.set``."""
    if len(loc) >= 2 and loc[0] == "variant" and isinstance(loc[1], int):
        variants = data.get("variant")
        entry = variants[loc[1]] if isinstance(variants, list) and loc[1] < len(variants) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name:
            rest = ".".join(str(p) for p in loc[2:])
            return f"variant '{name}'" + (f": {rest}" if rest else "")
    return ".".join(str(p) for p in loc)


def _explain(exc: ValidationError, data: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = _where(loc, data)
        if err["type"] == "extra_forbidden":
            fields = _fields_for(loc[:-1])
            hint = did_you_mean(str(loc[-1]), fields)
            problems.append((path, f"unknown key{hint}"))
        elif err["type"] == "missing":
            problems.append((path, "required but missing"))
        elif err["type"] == "too_short" and loc == ("seeds",):
            problems.append((path, "empty: give at least one seed, e.g. seeds = [0, 1, 2]"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            msg = msg[0].lower() + msg[1:] if msg else msg
            if not isinstance(err["input"], dict | list):
                msg += f" (got {err['input']!r})"
            problems.append((path, msg))
    return problems


def _fields_for(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc`` (for did-you-mean), aliases as users write them."""
    model: type[BaseModel] = SweepFile
    if loc[:1] == ("variant",):
        model = VariantConfig
    elif loc[:1] == ("slurm",):
        model = SlurmConfig
    return [f.alias or name for name, f in model.model_fields.items()]


def is_sweep_file(path: Path) -> bool:
    """A TOML file with a top-level ``spec = "..."`` and none of a spec's tables is a sweep file (a spec has no
    ``spec`` key, so even a sweep file with a misspelt ``seeds`` is recognised and gets the sweep's errors)."""
    try:  # read like a spec: a FIFO or device is refused (the spec loader then reports it), never read
        data = parse_toml(read_spec_text(path), str(path))
    except SpecError:
        return False
    spec_tables = ("run", "data", "generator", "critic", "divergence", "metrics")
    return isinstance(data.get("spec"), str) and not any(k in data for k in spec_tables)


def load_sweep(path: str | Path, extra_overrides: Sequence[str] = (), *, seeds: Sequence[int] | None = None,
               only: Sequence[str] | None = None, out_dir: Path | None = None) -> Sweep:
    """Read a sweep file, expand it into runs and validate every expanded spec; raises :class:`SpecError`
    listing every problem (each naming its variant) before anything runs. ``seeds``, ``only`` (variant names)
    and ``out_dir`` replace what the file says (the benchmark scripts' --seeds, --variants, --quick)."""
    path = Path(path)
    config = read_sweep_file(path)
    updates: dict[str, Any] = {}
    if seeds is not None:
        updates["seeds"] = list(seeds)
    if out_dir is not None:
        updates["out_dir"] = str(out_dir)
    if updates:
        try:
            config = SweepFile.model_validate({**config.model_dump(by_alias=True), **updates})
        except ValidationError as exc:
            raise SpecError(_explain(exc, {}), str(path)) from None
    source = str(path)
    base_path = (path.parent / config.spec).resolve()
    try:
        base = parse_toml(base_path.read_text(encoding="utf-8"), str(base_path))
    except FileNotFoundError:
        raise SpecError([("spec", f"no such file '{config.spec}' (looked for {base_path})")], source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([("spec", f"cannot read '{config.spec}': {exc}")], source) from None
    except SpecError as exc:  # invalid TOML in the base spec
        raise SpecError([("spec", line) for line in exc.lines()], source) from None

    problems: list[tuple[str, str]] = []
    variants = _expand_variants(config, list(extra_overrides), problems)
    if only is not None:
        names = [v.name for v in variants]
        for wanted in only:
            if wanted not in names:
                problems.append(("", f"no variant '{wanted}'{did_you_mean(wanted, names)} (variants: "
                                     f"{', '.join(names)})"))
        variants = [v for v in variants if v.name in only]
    out_dir = Path(config.out_dir) if config.out_dir else Path("runs") / path.stem
    sweep = Sweep(path=path, config=config, out_dir=out_dir, variants=variants)
    for variant in variants:
        for seed in config.seeds:
            overrides = (*variant.overrides, f"run.seed={seed}")
            try:
                spec = validate_spec(copy.deepcopy(base), overrides)
            except SpecError as exc:
                where = f"variant '{variant.name}'" + ("" if seed == config.seeds[0] else f" seed {seed}")
                problems.extend((f"{where}: {p}" if p else where, m) for p, m in exc.problems)
                break  # the other seeds differ only in run.seed: one report per variant
            sweep.runs.append(RunPlan(variant=variant.name, seed=seed, spec=base_path, overrides=overrides,
                                      out=out_dir / variant.name / f"seed-{seed}", steps=spec.run.steps,
                                      digest=spec.digest()))
    if problems:
        raise SpecError(problems, source)
    return sweep


def _expand_variants(config: SweepFile, extra: list[str], problems: list[tuple[str, str]]) -> list[Variant]:
    """Variants × grid points (either alone when the other is absent), each with its override list."""
    common = [f"{k}={toml_value(v)}" for k, v in config.overrides.items()]
    for key in config.overrides:
        if key in RESERVED_KEYS:
            problems.append((f"set.{key}", "is set by the sweep (seeds / out_dir); remove it"))
    for key in config.grid:
        if key in RESERVED_KEYS:
            problems.append((f"grid.{key}", "is set by the sweep (seeds / out_dir); use seeds instead"))
    named = [(v.name, list(v.overrides.items())) for v in config.variant] or [("", [])]
    points = _grid_points(config.grid) or [("", [])]
    if not config.variant and not config.grid:
        named = [("base", [])]
    seen: dict[str, int] = {}
    variants: list[Variant] = []
    for i, (name, pairs) in enumerate(named):
        for key, _ in pairs:
            if key in RESERVED_KEYS:
                problems.append((f"variant '{name}': set.{key}", "is set by the sweep (seeds / out_dir); remove it"))
            elif key in config.grid:
                problems.append((f"variant '{name}': set.{key}", "is also a [grid] key; set it in one place"))
        if name in seen and config.variant:
            problems.append((f"variant '{name}'", f"duplicate name ([[variant]] {seen[name] + 1} and {i + 1})"))
            continue
        seen[name] = i
        for point, grid_pairs in points:
            full = "_".join(p for p in (name, point) if p)
            overrides = (*common, *(f"{k}={toml_value(v)}" for k, v in grid_pairs),
                         *(f"{k}={toml_value(v)}" for k, v in pairs), *extra)
            if any(v.name == full for v in variants):
                problems.append((f"variant '{full}'", "two grid points give this name; make their values distinct"))
                continue
            variants.append(Variant(full, tuple(overrides)))
    return variants
