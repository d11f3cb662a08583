"""What each kind of component is: the contracts between plugins and the engine.

A plugin author needs this file, :mod:`gankit.hookspecs`, :mod:`gankit.ops` (tensor operations losses share)
and one example (``plugins/gankit-qp-power``). Every factory is called as ``factory(params, env)`` with its
validated params model and a :class:`BuildEnv`. What a component *is and needs* (a critic's kind, a loss's
gradient penalty, a metric's need for images or logits) it declares on its params model (see "declarations"
below), so ``gankit validate`` checks the combination before anything is built.

Torch is imported only for type checking, so this module is cheap to import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn
    from torch.utils.data import Dataset


# --------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataInfo:
    """What networks, divergences and metrics may know about a data set without loading it.

    ``shape`` is one sample's shape: ``(2,)`` for 2-D points, ``(C, H, W)`` for images. Image values are
    scaled to ``value_range`` (``[-1, 1]`` for every built-in set, matching a tanh generator).
    """

    shape: tuple[int, ...]
    num_classes: int | None = None
    value_range: tuple[float, float] = (-1.0, 1.0)
    #: known mode centres (e.g. the 2-D Gaussian mixtures) and their std, for mode-coverage metrics
    modes: tuple[tuple[float, ...], ...] | None = None
    mode_std: float | None = None
    #: a stable identifier for caching reference statistics (data set name, split, options)
    key: str = ""

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    @property
    def labelled(self) -> bool:
        return self.num_classes is not None


class DataSource(Protocol):
    """A data set. Samples are ``(x, y)`` with ``y`` an integer label, or ``-1`` when unlabelled."""

    info: DataInfo

    def dataset(self, split: Literal["train", "test"] = "train") -> Dataset:
        """A map-style dataset. Return a ``TensorDataset`` when the data fits in memory: the engine then
        keeps it on the training device and draws batches by index, with no loader workers at all."""
        ...


# ------------------------------------------------------------------------------------------ networks
@runtime_checkable
class Generator(Protocol):
    """An ``nn.Module`` mapping latents ``z ~ N(0, I)`` of shape ``(B, latent_dim)`` (and labels, for
    conditional generators) to samples of shape ``(B, *data.shape)``."""

    latent_dim: int

    def __call__(self, z: Tensor, labels: Tensor | None = None) -> Tensor: ...


CriticKind = Literal["score", "autoencoder", "pair"]


@runtime_checkable
class Critic(Protocol):
    """An ``nn.Module`` scoring samples.

    * ``kind = "score"`` (the default): ``critic(x, labels=None)`` returns raw scores ``(B,)``, or a tuple
      ``(scores, class_logits)`` when it has an auxiliary classifier head (ACGAN).
    * ``kind = "autoencoder"``: returns the per-sample reconstruction error ``(B,)`` (EBGAN/BEGAN energy).
    * ``kind = "pair"``: a binary critic ``critic(x_a, x_b)`` returning ``T(x_a, x_b)`` of shape ``(B,)``.

    ``kind`` must equal the ``critic_kind`` its params model declares (:class:`CriticDeclarations`): the
    build checks it.
    """

    kind: CriticKind

    def __call__(self, x: Tensor, labels: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]: ...


def critic_kind(critic: nn.Module) -> CriticKind:
    """The critic's kind, looking through wrappers (DDP, compile) that hide attributes."""
    from gankit.ops import unwrap

    return getattr(unwrap(critic), "kind", "score")


# ------------------------------------------------------------------------------------------- the run
def _same(x: Tensor) -> Tensor:
    return x


@dataclass(frozen=True)
class RunContext:
    """What the engine tells a component about the run it is part of.

    A divergence or augmentation that defines ``bind(ctx: RunContext) -> None`` gets it once, after it is built
    and before any checkpoint is loaded: e.g. to create its own random generator on ``device`` seeded from
    ``seed`` (distinct per rank), or to average a statistic over ranks with ``all_reduce_mean``. Components
    never import the engine: what they need from the run comes through here and :class:`LossInputs`.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    #: a seed for this component's own random stream, already distinct per rank
    seed: int = 0
    #: the mean of a tensor over all ranks (the identity in one process); every rank must call it
    all_reduce_mean: Callable[[Tensor], Tensor] = _same


# --------------------------------------------------------------------------------------- divergences
class LossInputs:
    """Everything a divergence may need for one loss, computed lazily.

    ``real``/``fake`` are batches; ``real_scores``/``fake_scores`` call the critic only when a loss reads
    them, and then once. In the critic step ``fake`` is detached; in the generator step gradients flow
    through ``fake`` into the generator. ``real`` is available in the generator step only if the divergence
    declares ``generator_uses_real = True`` (the engine then draws a real batch for it).

    ``augment`` (from the spec's ``[augment]`` table, else ``None``) is applied inside :meth:`call_critic` to
    every batch the critic sees, so a divergence needs no code of its own for augmentation. ``run`` is the
    run's :class:`RunContext` (device, ranks, cross-rank mean).
    """

    def __init__(
        self,
        *,
        step: Literal["critic", "generator"],
        critic: nn.Module,
        fake: Tensor,
        real: Tensor | None,
        real_labels: Tensor | None = None,
        fake_labels: Tensor | None = None,
        autocast: Callable[[], Any] | None = None,
        augment: Callable[[Tensor], Tensor] | None = None,
        run: RunContext | None = None,
    ) -> None:
        self.step = step
        self.critic = critic
        self.fake = fake
        self._real = real
        self.real_labels = real_labels
        self.fake_labels = fake_labels
        self._autocast = autocast
        self.augment = augment
        self.run = run
        #: detached scalars a loss wants logged next to its value (e.g. ``"gp"``, ``"k_t"``)
        self.logs: dict[str, Tensor] = {}

    @property
    def real(self) -> Tensor:
        if self._real is None:
            raise RuntimeError(
                "this divergence reads real samples in its generator loss but does not declare "
                "generator_uses_real = True"
            )
        return self._real

    @property
    def batch_size(self) -> int:
        return int(self.fake.shape[0])

    def call_critic(self, x: Tensor, other: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Run the critic under the run's autocast: ``critic(x, labels)``, or ``critic(x_a, x_b)`` for a pair
        critic. Returns ``(scores as float32 of shape (B,), class_logits or None)``.

        With an augmentation the critic sees ``augment(x)`` (and ``augment(other)`` for a pair critic), each call
        with fresh draws, outside autocast: the trained critic is ``T∘A`` and gradients reach ``x`` through ``A``."""
        if self.augment is not None:
            x = self.augment(x)
            if other is not None and critic_kind(self.critic) == "pair":
                other = self.augment(other)
        if self._autocast is not None:
            with self._autocast():
                out = self.critic(x, other)
        else:
            out = self.critic(x, other)
        scores, logits = out if isinstance(out, tuple) else (out, None)
        return scores.float().reshape(-1), logits

    @cached_property
    def _real_out(self) -> tuple[Tensor, Tensor | None]:
        return self.call_critic(self.real, self.real_labels)

    @cached_property
    def _fake_out(self) -> tuple[Tensor, Tensor | None]:
        return self.call_critic(self.fake, self.fake_labels)

    @property
    def real_scores(self) -> Tensor:
        return self._real_out[0]

    @property
    def fake_scores(self) -> Tensor:
        return self._fake_out[0]

    @property
    def real_class_logits(self) -> Tensor | None:
        return self._real_out[1]

    @property
    def fake_class_logits(self) -> Tensor | None:
        return self._fake_out[1]

    def log(self, name: str, value: Tensor | float) -> None:
        """Record a scalar for the training log (kept as a tensor: no host sync until logging time)."""
        import torch

        self.logs[name] = value.detach().float() if isinstance(value, torch.Tensor) else torch.tensor(value)


class Divergence(Protocol):
    """A GAN objective: what the critic minimises and what the generator minimises.

    The critic kinds it accepts are declared on its params model (:class:`DivergenceDeclarations`).
    Implementations may also define ``after_critic_step``
    (update internal state such as BEGAN's ``k_t``), ``clip_critic`` (WGAN weight clipping) and
    ``state_dict``/``load_state_dict`` for state saved in checkpoints.
    """

    #: whether ``generator_loss`` reads ``real`` or ``real_scores`` (RSGAN, RaSGAN, GAN-QP do)
    generator_uses_real: ClassVar[bool]

    def critic_loss(self, b: LossInputs) -> Tensor: ...

    def generator_loss(self, b: LossInputs) -> Tensor: ...


# -------------------------------------------------------------------------------------- augmentation
class Augment(Protocol):
    """Differentiable augmentation of every batch the critic sees, real and fake alike, in both steps.

    ``augment(x)`` returns a batch of ``x``'s shape, differentiable with respect to ``x``. It draws from its own
    random generator (made in ``bind(ctx)`` from ``ctx.seed``), never from the training RNG. Optional methods:
    ``bind(ctx: RunContext)``; ``after_critic_step(b: LossInputs)`` for adaptive schemes (ADA reads the real
    scores there and logs its probability with ``b.log``); ``state_dict()``/``load_state_dict()`` for what a
    checkpoint must hold (random-generator state, ADA's p) so resume stays exact.
    """

    def __call__(self, x: Tensor) -> Tensor: ...


# ------------------------------------------------------------------------------------------- metrics
@dataclass
class EvalContext:
    """What a metric gets: a way to draw generated and real samples, and where things live."""

    info: DataInfo
    device: torch.device
    #: ``sample_fake(n)`` -> ``(x, labels or None)``, generated with the EMA generator when there is one
    sample_fake: Callable[[int], tuple[Tensor, Tensor | None]]
    #: ``sample_real(n, split)`` -> ``(x, labels or None)``, a deterministic subset of the data
    sample_real: Callable[[int, str], tuple[Tensor, Tensor | None]]
    cache_dir: Path
    #: free-form memo shared by the metrics of one evaluation (e.g. features of the real set)
    memo: dict[str, Any] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1


class Metric(Protocol):
    """A metric: ``metric(ctx)`` returns named values, e.g. ``{"fid": 12.3}``."""

    def __call__(self, ctx: EvalContext) -> dict[str, float]: ...


# ------------------------------------------------------------------------------------ declarations
# What a component says about itself, on its *params model* (torch-free), so ``gankit validate`` knows it
# before anything is built. Core code never asks for a component by name: it reads these declarations, and
# one function, :func:`gankit.capabilities.compatibility_problems`, checks them for ``validate`` and the build
# alike. Derive a params model from ``gankit.params.Params`` and the declarations of its kind, e.g.
# ``class MyCriticParams(Params, CriticDeclarations)``; a params model that declares nothing gets the defaults.

MetricNeed = Literal["images", "labels", "logits", "modes"]


@runtime_checkable
class DataDeclarations(Protocol):
    """A data set's params may describe the data without loading it: ``info()`` returns its :class:`DataInfo`
    (shape, labels, mode centres, key). Networks and metrics are then checked against it by ``validate``."""

    def info(self) -> DataInfo: ...


class GeneratorDeclarations:
    """What a generator's params declare."""

    def needs_labels(self) -> bool:
        """Whether the generator is conditional (takes labels): it then needs labelled data and a critic that
        reads labels."""
        return False


class CriticDeclarations:
    """What a critic's params declare (defaults: a unary score critic that scores each sample on its own)."""

    #: what the built critic returns (see :class:`Critic`); the build checks the built module's ``kind`` agrees
    critic_kind: ClassVar[CriticKind] = "score"

    def needs_labels(self) -> bool:
        """Whether the critic reads labels (projection, class head): it needs labelled data."""
        return False

    def has_class_head(self) -> bool:
        """Whether ``critic(x, labels)`` returns ``(scores, class_logits)`` (an ACGAN head)."""
        return False

    def mixes_batch(self) -> tuple[str, str] | None:
        """``None`` when each sample's score depends on that sample alone (per-sample safe, the default);
        otherwise ``(param, remedy)`` naming what couples a batch, e.g. ``("norm", 'use norm = "layer"')`` for
        batch norm, which per-sample input-gradient penalties (WGAN-GP, WGAN-div, R1/R2) cannot use."""
        return None


class DivergenceDeclarations:
    """What a divergence's params declare."""

    #: the critic kinds the loss handles (e.g. ``("score", "pair")`` for GAN-QP, ``("autoencoder",)`` for BEGAN)
    critic_kinds: ClassVar[tuple[CriticKind, ...]] = ("score",)
    #: whether the loss penalises per-sample input gradients of the critic (a gradient penalty): the critic must
    #: then be per-sample safe (no batch norm) and unary
    input_gradients: ClassVar[bool] = False


class MetricDeclarations:
    """What a metric's params declare."""

    #: what the data and the metric's extractor must provide: ``"images"`` (image data), ``"labels"`` (labelled
    #: data), ``"logits"`` (class logits from its feature extractor), ``"modes"`` (known mode centres)
    needs: ClassVar[frozenset[MetricNeed]] = frozenset()
    #: whether ``gankit eval --extractor`` may replace this metric's feature extractor
    extractor_override: ClassVar[bool] = False
    #: what to use instead, added in brackets when the data does not meet ``needs``
    hint: ClassVar[str] = ""

    def extractor_name(self, info: DataInfo | None) -> str | None:
        """The feature extractor this metric uses on data ``info`` (``None``: none, or unknown yet)."""
        return None

    def extractor_config(self) -> dict[str, Any]:
        """The params the metric gives its feature extractor (validated by the extractor's params model)."""
        return {}


class ExtractorDeclarations:
    """What a feature extractor's params declare."""

    #: whether the extractor returns class logits (the Inception Score needs them)
    has_logits: ClassVar[bool] = True

    def data_problem(self, info: DataInfo) -> str | None:
        """Why this extractor cannot read samples described by ``info``, or ``None``."""
        return None

    def problems(self) -> Iterator[tuple[str, str]]:
        """``(field, message)`` for what these params lack on this machine (e.g. a weights file the user must
        provide), checked by ``validate`` without torch."""
        return iter(())


# ----------------------------------------------------------------------------------------- the build
def default_cache_dir() -> Path:
    """Reference-statistics cache: ``$GANKIT_CACHE`` or ``.gankit-cache`` (the one default for every command)."""
    import os

    return Path(os.environ.get("GANKIT_CACHE", ".gankit-cache"))


@dataclass(frozen=True)
class BuildEnv:
    """What a factory may know besides its own params."""

    #: the data set's description; ``None`` only while building the data source itself
    data: DataInfo | None
    #: the whole validated spec (read-only), for components that must agree with each other
    spec: Any = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    #: user networks by import path need ``--allow-imports`` (a spec must not run arbitrary code)
    allow_imports: bool = False

