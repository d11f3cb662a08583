"""One generation path, shared by the trainer, ``gankit eval`` and ``gankit sample``: latents -> samples.

Also the one place a checkpoint's spec is recovered (and checked before anything is built from it): a
checkpoint is a file from anywhere, so the spec it carries may name code to import (refused: only targets
the user wrote may be imported) or ask for networks far bigger than the weights it holds (refused before
a byte is allocated: the network is first built on torch's ``meta`` device and measured).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.protocols import BuildEnv, DataInfo

#: a ``module:callable`` import target as a spec writes it
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
#: a network built from a stored spec may exceed the checkpoint's weights by this factor (buffers, rounding)
_SIZE_SLACK = 1.5


def draw_latents(n: int, latent_dim: int, info: DataInfo, device: torch.device, generator: torch.Generator | None,
                 labels: str = "random") -> tuple[Tensor, Tensor | None]:
    """``n`` latents and, for labelled data, labels: ``"random"`` (as in training) or ``"cycle"`` (0, 1, ...,
    as in sample grids)."""
    z = torch.randn(n, latent_dim, device=device, generator=generator)
    if not info.labelled:
        return z, None
    if labels == "cycle":
        return z, torch.arange(n, device=device) % info.num_classes  # type: ignore[operator]
    return z, torch.randint(info.num_classes, (n,), device=device, generator=generator)  # type: ignore[arg-type]


@torch.no_grad()
def generate(generator: nn.Module, z: Tensor, labels: Tensor | None, batch_size: int,
             autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext) -> Tensor:
    """Samples for latents ``z`` in batches, in eval mode (the mode is restored), as float32."""
    was_training = generator.training
    generator.eval()
    try:
        out = []
        for i in range(0, len(z), batch_size):
            y = labels[i : i + batch_size] if labels is not None else None
            with autocast():
                out.append(generator(z[i : i + batch_size], y).float())
        return torch.cat(out)
    finally:
        generator.train(was_training)


def sampler(generator: nn.Module, info: DataInfo, device: torch.device, rng: torch.Generator, batch_size: int,
            autocast: Callable[[], Any] = contextlib.nullcontext) -> Callable[[int], tuple[Tensor, Tensor | None]]:
    """``sample_fake(n)`` for an :class:`~gankit.protocols.EvalContext`: successive calls draw fresh latents
    from ``rng``, so a whole evaluation is reproducible."""
    latent_dim = int(generator.latent_dim)  # type: ignore[arg-type]

    def sample(n: int) -> tuple[Tensor, Tensor | None]:
        z, labels = draw_latents(n, latent_dim, info, device, rng)
        return generate(generator, z, labels, batch_size, autocast), labels

    return sample


# -------------------------------------------------------------------------------- a checkpoint's spec
def _targets(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "target" and isinstance(value, str) and _TARGET.fullmatch(value):
                yield where, value
            else:
                yield from _targets(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}.{i}")


def spec_from_checkpoint(state: dict[str, Any], source: Path, need_data: bool = True) -> Any:
    """The validated spec a checkpoint was trained with (``run.out_dir`` dropped: it may not exist here);
    ``need_data=False`` (sampling) lets the data files be absent.

    Any import target it names is refused by name: code to run may only come from what the user wrote."""
    from gankit.errors import SpecError
    from gankit.spec import validate_spec

    try:
        data = json.loads(state.get("manifest") or "")["spec"]
        if not isinstance(data, dict):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError):
        raise GankitError(f"{source}: the checkpoint has no run manifest to rebuild its generator from") from None
    for where, target in _targets(data, ""):
        raise GankitError(f"{source}: its spec names import target '{target}' ({where}); import targets stored in "
                          "a checkpoint are never imported (name the code in a spec you write, with --allow-imports)")
    if isinstance(data.get("run"), dict):
        data["run"].pop("out_dir", None)
    try:
        return validate_spec(data, source=f"{source} (its spec)")
    except SpecError as exc:
        problems = exc.problems if need_data else [(p, m) for p, m in exc.problems if not p.startswith("data.")]
        if problems:
            path, msg = problems[0]
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise GankitError(f"{source}: its spec no longer validates with the installed plugins: "
                              f"{path}: {msg}{more}") from None
    from gankit.spec import spec_model

    return spec_model().model_validate(data)  # valid but for its data files, which sampling does not read


def data_info(spec: Any, cache_dir: Path) -> DataInfo:
    """The data's description, from its params alone when they can tell (no data files needed)."""
    info = getattr(spec.data.params, "info", None)
    if callable(info):
        return info()
    from gankit.build import build_data

    return build_data(spec, cache_dir).info


def tensor_bytes(tree: Any) -> int:
    if isinstance(tree, Tensor):
        return tree.numel() * tree.element_size()
    if isinstance(tree, dict):
        return sum(tensor_bytes(v) for v in tree.values())
    if isinstance(tree, list | tuple):
        return sum(tensor_bytes(v) for v in tree)
    return 0


def check_size(build: Callable[[], nn.Module], weights: dict[str, Any], what: str, source: Path) -> None:
    """Refuse a network whose stored spec asks for far more than the checkpoint's weights hold, measured on
    torch's ``meta`` device (no memory is allocated). A network that cannot be built there is not checked."""
    try:
        with torch.device("meta"):
            module = build()
    except Exception:
        return
    wanted = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    held = tensor_bytes(weights)
    if wanted > _SIZE_SLACK * held + 4096:
        params = sum(p.numel() for p in module.parameters())
        raise GankitError(f"{source}: its spec asks for a {what} of {params:,} parameters ({wanted / 2**20:.1f} MiB) "
                          f"but the checkpoint holds {held / 2**20:.1f} MiB of {what} weights; refused before building")


def describe_mismatch(module: nn.Module, weights: dict[str, Any]) -> str:
    """The first missing/unexpected keys and shape differences between ``module`` and ``weights``."""
    own = module.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k}: checkpoint {tuple(weights[k].shape)}, spec {tuple(own[k].shape)}" for k in own
              if k in weights and isinstance(weights[k], Tensor) and weights[k].shape != own[k].shape]
    parts = [f"{label} {'; '.join(items[:3])}" + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
             for label, items in (("size mismatch", shapes), ("missing keys", missing), ("unexpected keys", unexpected))
             if items]
    return "; ".join(parts) or "the weights do not load"


def load_weights(module: nn.Module, weights: dict[str, Any], what: str, source: Path) -> None:
    """``module.load_state_dict(weights)`` with a one-line error naming the first mismatched keys/shapes."""
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError):
        raise GankitError(f"{source}: the {what} weights do not fit the {what} this spec builds: "
                          f"{describe_mismatch(module, weights)}") from None


def load_generator(state: dict[str, Any], spec: Any, env: BuildEnv, source: Path, use_ema: bool) -> tuple[Any, bool]:
    """The generator with the checkpoint's weights (the EMA ones when kept and ``use_ema``)."""
    ema = use_ema and state.get("ema") is not None
    weights = state.get("generator")
    if not isinstance(weights, dict):
        raise GankitError(f"{source}: the checkpoint holds no generator weights")
    if ema:
        weights = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    check_size(lambda: spec.generator.component.build(spec.generator.params, env), weights, "generator", source)
    generator = spec.generator.component.build(spec.generator.params, env)
    load_weights(generator, weights, "generator", source)
    return generator, ema


def check_seed(seed: int, where: str = "--seed") -> None:
    if not 0 <= seed < 2**63:
        raise GankitError(f"{where}: must be between 0 and 2**63 - 1")
