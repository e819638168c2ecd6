"""PsCo pretraining: MoCo plus a few-shot contrast over pseudo-labels that Sinkhorn draws from the queue."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from ab_core.components.mlp import mlp
from ab_core.components.momentum import ema_update, momentum_copy
from ab_core.components.queue import FeatureQueue
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import simclr_views
from ab_core.distributed import all_gather_with_grad
from ab_core.losses.psco import psco_loss
from ab_core.models.backbone import build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register


class PsCoParams(StrictModel):
    method: Literal["psco"] = "psco"
    queue_size: int = Field(
        16384, ge=1, le=1_048_576, description="momentum features kept; at least the global batch"
    )
    momentum: float = Field(0.99, ge=0.0, le=1.0, description="EMA momentum of the momentum encoder")
    shots: int = Field(4, ge=1, le=256, description="queue items per pseudo-class (PsCo's K shots)")
    shot_sampling: Literal["topk", "prob"] = Field(
        "topk", description="the shots: the top of each Sinkhorn assignment, or drawn from it"
    )
    temperature: float = Field(0.2, gt=0.0, le=10.0, description="MoCo term temperature")
    supcon_temperature: float = Field(1.0, gt=0.0, le=10.0, description="few-shot contrast temperature")
    sinkhorn_iterations: int = Field(3, ge=1, le=100)
    sinkhorn_epsilon: float = Field(0.05, gt=0.0, le=10.0, description="Sinkhorn entropic regularisation")
    hidden_dim: int = Field(4096, ge=8, le=16384, description="projector and predictor hidden width")
    out_dim: int = Field(256, ge=8, le=4096, description="feature width of the loss and the queue")
    predictor: bool = Field(True, description="a predictor MLP on the online branch (the paper's runs)")
    aligned: bool = Field(False, description="views keep the spatial layout: no flips, no crops")
    strength: float = Field(1.0, ge=0.0, le=2.0, description="colour-jitter strength (SimCLR's s)")

    @model_validator(mode="after")
    def _shots_fit(self) -> PsCoParams:
        if self.shots > self.queue_size:
            raise ValueError(f"shots: {self.shots} is more than queue_size {self.queue_size}")
        return self


def queue_problems(spec: Any) -> list[str]:
    """The queue must hold a whole global batch (each step enqueues one)."""
    batch = spec.data.batch_size * spec.resources.workers
    if spec.method.queue_size >= batch:
        return []
    return [
        f"method.queue_size: {spec.method.queue_size} is smaller than the batch it must hold "
        f"(data.batch_size {spec.data.batch_size} x resources.workers {spec.resources.workers} = {batch}); "
        f"give queue_size >= {batch}"
    ]


class PsCoPretrainer(Pretrainer):
    """PsCo (Jang et al., "Unsupervised Meta-learning via Few-shot Pseudo-supervised Contrastive Learning",
    ICLR 2023): "we construct a few-shot classification task with pseudo-labels ... by a momentum network
    and a queue of previous batches ... using the Sinkhorn-Knopp algorithm", then apply supervised
    contrastive learning to that N-way K-shot task. As the official code: online backbone + projector
    (+ predictor), momentum backbone + projector updated by EMA, the queue filled with momentum features,
    loss = pseudo-supervised contrast + MoCo.
    """

    def __init__(self, params: PsCoParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.world = ctx.world
        self.backbone = build_backbone(ctx.backbone)
        width = self.backbone.feature_dim
        self.projector = mlp(width, params.hidden_dim, params.out_dim, last_bn=True)  # (B, C) -> (B, d)
        self.predictor: nn.Module = (
            mlp(params.out_dim, params.hidden_dim, params.out_dim) if params.predictor else nn.Identity()
        )
        self.momentum_backbone = momentum_copy(self.backbone)
        self.momentum_projector = momentum_copy(self.projector)
        self.queue = FeatureQueue(params.queue_size, params.out_dim)
        self._terms: tuple[Tensor, Tensor] | None = None  # (supcon, moco) of the last step

    def training_step(self, batch: Batch) -> Tensor:
        p = self.params
        view1, view2 = simclr_views(batch.images, self.mean, self.std, aligned=p.aligned, strength=p.strength)
        query = F.normalize(self.predictor(self.projector(self.backbone(view1))), dim=1)  # (B, d)
        with torch.no_grad():
            key = F.normalize(self.momentum_projector(self.momentum_backbone(view2)), dim=1)  # (B, d)
        terms = psco_loss(
            query, key, self.queue.features.clone(), p.shots, p.temperature, p.supcon_temperature,
            p.sinkhorn_epsilon, p.sinkhorn_iterations, p.shot_sampling,
        )
        # every worker enqueues every worker's keys, so the queues stay identical
        self.queue.push(all_gather_with_grad(key) if self.world.size > 1 else key)
        self._terms = (terms.supcon.detach(), terms.moco.detach())
        return terms.loss

    def after_step(self) -> None:
        ema_update(self.momentum_backbone, self.backbone, self.params.momentum)
        ema_update(self.momentum_projector, self.projector, self.params.momentum)

    def step_metrics(self) -> dict[str, float]:
        if self._terms is None:
            return {}
        return {"supcon": self._terms[0].item(), "moco": self._terms[1].item()}

    def head_state(self) -> dict[str, Tensor]:
        heads = {f"projector.{k}": v for k, v in self.projector.state_dict().items()}
        return heads | {f"predictor.{k}": v for k, v in self.predictor.state_dict().items()}


@register("pretrain", PsCoParams, "PsCo: momentum encoder, queue, Sinkhorn pseudo-labels, few-shot contrast",
          metrics=("supcon", "moco"), check=queue_problems)
def build(params: PsCoParams, ctx: BuildContext) -> PsCoPretrainer:
    return PsCoPretrainer(params, ctx)
