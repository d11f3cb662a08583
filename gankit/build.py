"""Turn a validated spec into live components: the step between the registry and the engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.capabilities import built_problems, critic_problems
from gankit.errors import GankitError, PluginError
from gankit.protocols import BuildEnv, DataInfo, DataSource, Divergence, Metric, default_cache_dir
from gankit.spec import ComponentSpec, Spec


@dataclass
class Components:
    """Everything a spec names, built. Networks are on the CPU until the engine moves them."""

    data: DataSource
    info: DataInfo
    generator: Any  # nn.Module (Generator protocol)
    critic: Any  # nn.Module (Critic protocol)
    divergence: Divergence
    metrics: dict[str, Metric]
    #: the spec's ``[augment]`` table built (a :class:`gankit.protocols.Augment`), or ``None``
    augment: Any = None


def _build(table: ComponentSpec, env: BuildEnv) -> Any:
    return table.component.build(table.params, env)


def build_data(spec: Spec, cache_dir: Path | None = None) -> DataSource:
    cache_dir = cache_dir or default_cache_dir()
    data = _build(spec.data, BuildEnv(data=None, spec=spec, cache_dir=cache_dir))
    if not isinstance(getattr(data, "info", None), DataInfo) or not callable(getattr(data, "dataset", None)):
        raise PluginError(f"data '{spec.data.name}' from {spec.data.component.dist} did not return a DataSource")
    return data


def check_compatible(spec: Spec, critic: Any) -> None:
    """The compatibility rules ``validate`` applies (one function, :mod:`gankit.capabilities`), plus the one
    only a built critic can answer: is it the kind its params declared."""
    problems = [*critic_problems(spec), *built_problems(spec, critic)]
    if problems:
        path, msg = problems[0]
        raise (PluginError if path == "critic.name" and "declares" in msg else GankitError)(f"{path}: {msg}")


def build_components(spec: Spec, cache_dir: Path | None = None, allow_imports: bool = False) -> Components:
    """Build every component of ``spec`` (data first: the networks are shaped by its ``DataInfo``)."""
    cache_dir = cache_dir or default_cache_dir()
    data = build_data(spec, cache_dir)
    env = BuildEnv(data=data.info, spec=spec, cache_dir=cache_dir, allow_imports=allow_imports)
    generator = _build(spec.generator, env)
    critic = _build(spec.critic, env)
    divergence = _build(spec.divergence, env)
    if not isinstance(getattr(generator, "latent_dim", None), int):
        raise PluginError(f"generator '{spec.generator.name}' has no integer 'latent_dim'")
    check_compatible(spec, critic)
    metrics: dict[str, Metric] = {}
    import torch

    # metrics never change training: a feature extractor initialises a network before loading its weights,
    # which would otherwise draw from the seeded global RNG the networks and the first steps use
    with torch.random.fork_rng(devices=[]):
        for table in spec.metrics:
            key = table.name if table.name not in metrics else f"{table.name}.{len(metrics)}"
            metrics[key] = _build(table, env)
    augment = _build(spec.augment, env) if spec.augment is not None else None
    if augment is not None and not callable(augment):
        raise PluginError(f"augment '{spec.augment.name}' from {spec.augment.component.dist} did not return a callable")
    return Components(data, data.info, generator, critic, divergence, metrics, augment)
