"""SimSiam pretraining: two views, a predictor and a stop-gradient, no negatives; with a collapse monitor."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from ab_core.components.collapse import CollapseMonitor, output_std
from ab_core.components.mlp import mlp
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import simclr_views
from ab_core.losses.simsiam import SimSiamLoss
from ab_core.models.backbone import build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register


class SimSiamParams(StrictModel):
    method: Literal["simsiam"] = "simsiam"
    dim: int = Field(2048, ge=8, le=8192, description="projector output width d (the paper's 2048)")
    pred_dim: int = Field(512, ge=8, le=8192, description="predictor bottleneck width (the paper's 512)")
    aligned: bool = Field(False, description="views keep the spatial layout: no flips, no crops")
    strength: float = Field(1.0, ge=0.0, le=2.0, description="colour-jitter strength (SimCLR's s)")
    collapse_threshold: float = Field(
        0.1, gt=0.0, lt=1.0,
        description="collapsed when output_std * sqrt(dim) (about 1 healthy, 0 collapsed) stays below this",
    )
    collapse_patience: int = Field(
        5, ge=1, le=100_000, description="consecutive reports below collapse_threshold that mean a collapse"
    )


class SimSiamPretrainer(Pretrainer):
    """SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021): "The two views
    are processed by an encoder network f consisting of a backbone and a projection MLP head. The encoder
    f shares weights between the two views. A prediction MLP head, denoted as h, transforms the output of
    one view and matches it to the other view." The projector is the paper's 3-layer MLP with BN on every
    layer (output BN without affine), the predictor a 2-layer bottleneck; `SimSiamLoss` is the symmetric
    negative cosine with stop-gradient.

    The paper's collapse indicator, the std of the l2-normalised output z, is the `output_std` metric;
    a `CollapseMonitor` turns a run of low values into `collapsed: true` and a warning.
    """

    def __init__(self, params: SimSiamParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        width = self.backbone.feature_dim
        self.projector = mlp(width, width, width, params.dim, last_bn=True)  # (B, C) -> (B, dim)
        self.predictor = mlp(params.dim, params.pred_dim, params.dim, last_bias=True)  # (B, dim) -> (B, dim)
        self.loss = SimSiamLoss()
        self.monitor = CollapseMonitor(params.dim, params.collapse_threshold, params.collapse_patience)
        self._std: Tensor | None = None  # output_std of the last step

    def training_step(self, batch: Batch) -> Tensor:
        view1, view2 = simclr_views(
            batch.images, self.mean, self.std, aligned=self.params.aligned, strength=self.params.strength
        )  # (B, 3, H, W) float each
        z = self.projector(self.backbone(torch.cat([view1, view2])))  # (2B, dim): both views in one pass
        p = self.predictor(z)  # (2B, dim)
        z1, z2 = z.chunk(2)
        p1, p2 = p.chunk(2)
        self._std = output_std(z)
        return self.loss(p1, p2, z1, z2)

    def step_metrics(self) -> dict[str, float]:
        return {} if self._std is None else {"output_std": self._std.item()}

    def on_report(self, metrics: dict[str, Any]) -> list[str]:
        if "output_std" in metrics and self.monitor.observe(metrics["output_std"]):
            return [self.monitor.warning()]
        return []

    def result_flags(self) -> dict[str, bool]:
        return {"collapsed": self.monitor.collapsed}

    def head_state(self) -> dict[str, Tensor]:
        heads = {f"projector.{k}": v for k, v in self.projector.state_dict().items()}
        return heads | {f"predictor.{k}": v for k, v in self.predictor.state_dict().items()}


@register("pretrain", SimSiamParams, "SimSiam: predictor + stop-gradient, no negatives; flags a collapse",
          metrics=("output_std",))
def build(params: SimSiamParams, ctx: BuildContext) -> SimSiamPretrainer:
    return SimSiamPretrainer(params, ctx)
