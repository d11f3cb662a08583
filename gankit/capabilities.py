"""Whether the components of a spec fit together, judged only from what each declares about itself.

The declarations live on the params models (:mod:`gankit.protocols`, "declarations"), so everything here is
torch-free and runs in ``gankit validate``; the build (:mod:`gankit.build`) runs the same function, so a spec
built without validating first is held to the same rules, and it checks that a built critic is the kind its
params declared. Nothing here names a component: a third-party divergence that declares
``input_gradients = True`` is checked against a batch-norm critic exactly like WGAN-GP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gankit.protocols import (
    CriticDeclarations,
    DataDeclarations,
    DataInfo,
    DivergenceDeclarations,
    ExtractorDeclarations,
    GeneratorDeclarations,
    MetricDeclarations,
)

if TYPE_CHECKING:
    from gankit.plugins import Registry

Problems = Iterator[tuple[str, str]]

_DEFAULT_CRITIC = CriticDeclarations()
_DEFAULT_GENERATOR = GeneratorDeclarations()
_DEFAULT_DIVERGENCE = DivergenceDeclarations()
_DEFAULT_METRIC = MetricDeclarations()
_DEFAULT_EXTRACTOR = ExtractorDeclarations()


# ------------------------------------------------------------------------------ reading declarations
def data_info(spec: Any) -> DataInfo | None:
    """The data set's description from its params' ``info()``, or ``None`` when it declares none."""
    params = spec.data.params
    return params.info() if isinstance(params, DataDeclarations) else None


def critic_declarations(params: Any) -> CriticDeclarations:
    return params if isinstance(params, CriticDeclarations) else _DEFAULT_CRITIC


def generator_declarations(params: Any) -> GeneratorDeclarations:
    return params if isinstance(params, GeneratorDeclarations) else _DEFAULT_GENERATOR


def divergence_declarations(params: Any) -> DivergenceDeclarations:
    return params if isinstance(params, DivergenceDeclarations) else _DEFAULT_DIVERGENCE


def metric_declarations(params: Any) -> MetricDeclarations:
    return params if isinstance(params, MetricDeclarations) else _DEFAULT_METRIC


def extractor_declarations(params: Any) -> ExtractorDeclarations:
    return params if isinstance(params, ExtractorDeclarations) else _DEFAULT_EXTRACTOR


# ---------------------------------------------------------------------------------------- checking
def compatibility_problems(spec: Any, registry: Registry) -> Problems:
    """``(spec path, message)`` for every way the spec's components do not fit together."""
    yield from critic_problems(spec)
    info = data_info(spec)
    for i, table in enumerate(spec.metrics):
        for field, msg in metric_problems(table.params, table.name, info, registry):
            yield (f"metrics.{i}.params.{field}" if field else f"metrics.{i}.params"), msg


def critic_problems(spec: Any) -> Problems:
    """The critic against the divergence's accepted kinds and against every input-gradient penalty."""
    critic = critic_declarations(spec.critic.params)
    divergence = divergence_declarations(spec.divergence.params)
    kind = critic.critic_kind
    if kind not in divergence.critic_kinds:
        yield "critic.name", (
            f"divergence '{spec.divergence.name}' needs a critic of kind {' or '.join(divergence.critic_kinds)}, "
            f"but '{spec.critic.name}' is a {kind} critic"
        )
        return
    regularize = spec.run.regularize
    penalties = []
    if divergence.input_gradients:
        penalties.append(f"the per-sample gradient penalty of divergence '{spec.divergence.name}'")
    if regularize.r1 > 0 or regularize.r2 > 0:
        penalties.append("the per-sample R1/R2 gradient penalty")
        if kind == "pair":  # R1/R2 differentiate a unary score T(x); a binary critic T(x_a, x_b) has none
            yield "run.regularize", "R1/R2 penalties need a unary critic; set r1 = r2 = 0 with a pair critic"
    coupling = critic.mixes_batch()
    if penalties and coupling is not None:
        field, hint = coupling
        yield f"critic.params.{field}", (
            f"batch statistics ({field} = {getattr(spec.critic.params, field, '?')!r}) break "
            f"{' and '.join(penalties)}; {hint}"
        )


def metric_problems(params: Any, name: str, info: DataInfo | None, registry: Registry) -> Problems:
    """``(field, message)`` for a metric whose declared needs the data or its extractor do not meet."""
    declared = metric_declarations(params)
    needs = declared.needs
    hint = f" ({declared.hint})" if declared.hint else ""
    if info is not None:
        data = f"data '{info.key or 'unnamed'}'"
        if "images" in needs and not info.is_image:
            yield "", f"{name} needs image data, but the data's samples have shape {info.shape}{hint}"
            return
        if "modes" in needs and (info.modes is None or info.mode_std is None):
            yield "", f"{name} needs data with known mode centres, which {data} does not have{hint}"
            return
        if "labels" in needs and not info.labelled:
            yield "", f"{name} needs labelled data, but {data} has no labels{hint}"
            return
    extractor = declared.extractor_name(info)
    if extractor is None:
        return
    try:
        component = registry.lookup("feature-extractor", extractor)
    except LookupError as exc:
        yield "extractor", str(exc)
        return
    from pydantic import ValidationError

    try:
        extractor_params = component.params_model.model_validate(declared.extractor_config())
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"])
            yield (f"extractor_params.{loc}" if loc else "extractor_params"), err["msg"]
        return
    reader = extractor_declarations(extractor_params)
    problem = reader.data_problem(info) if info is not None else None
    if problem:
        yield "extractor", problem
    for field, msg in reader.problems():  # e.g. inception-v3's weights file
        yield f"extractor_params.{field}", msg
    if "logits" in needs and not reader.has_logits:
        yield "extractor", f"{name} needs class logits, which extractor '{extractor}' does not give"


def built_problems(spec: Any, critic: Any) -> Problems:
    """What the build can see and validation cannot: a built critic of another kind than its params declare."""
    from gankit.protocols import critic_kind

    declared = critic_declarations(spec.critic.params).critic_kind
    built = critic_kind(critic)
    if built != declared:
        yield "critic.name", (
            f"critic '{spec.critic.name}' from {spec.critic.component.dist} builds a {built} critic, but its "
            f"params model declares critic_kind = '{declared}' (declare it: gankit.protocols.CriticDeclarations)"
        )
