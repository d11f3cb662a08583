"""Terms added to any divergence's losses: R1/R2 gradient penalties and the ACGAN auxiliary classifier.

Penalties run the critic in float32 outside autocast (the double backward of a gradient penalty underflows
in fp16) and eagerly even when the run compiles the critic (compiled graphs have no double backward); the
weights are the same either way. Under data parallelism each rank penalises its own slice of the batch and
the gradients are averaged, which is the penalty over the global batch (it is a per-sample mean).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.ops import input_gradient_norms
from gankit.protocols import LossInputs, critic_kind
from gankit.spec import Regularize


def _has_class_head(b: LossInputs) -> bool:
    # only score critics can carry an ACGAN head; asking a pair/autoencoder critic would call it wrongly
    return critic_kind(b.critic) == "score"


def critic_regularizers(b: LossInputs, cfg: Regularize) -> Tensor | None:
    total: Tensor | None = None
    if cfg.r1 > 0:
        r1 = cfg.r1 / 2 * input_gradient_norms(b.critic, b.real, b.real_labels, squared=True, augment=b.augment).mean()
        b.log("r1", r1)
        total = r1
    if cfg.r2 > 0:
        r2 = cfg.r2 / 2 * input_gradient_norms(b.critic, b.fake, b.fake_labels, squared=True, augment=b.augment).mean()
        b.log("r2", r2)
        total = r2 if total is None else total + r2
    if cfg.acgan > 0 and b.real_labels is not None and _has_class_head(b) and b.real_class_logits is not None:
        assert b.fake_class_logits is not None and b.fake_labels is not None
        ac = F.cross_entropy(b.real_class_logits.float(), b.real_labels) + F.cross_entropy(
            b.fake_class_logits.float(), b.fake_labels
        )
        b.log("acgan_critic", ac)
        total = cfg.acgan * ac if total is None else total + cfg.acgan * ac
    return total


def generator_regularizers(b: LossInputs, cfg: Regularize) -> Tensor | None:
    if cfg.acgan > 0 and b.fake_labels is not None and _has_class_head(b) and b.fake_class_logits is not None:
        ac = F.cross_entropy(b.fake_class_logits.float(), b.fake_labels)
        b.log("acgan_generator", ac)
        return cfg.acgan * ac
    return None
