"""Triplet pretraining: an image nearer its augmented view than its synthetic-defect copy."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize, simclr_views
from ab_core.data.defects import blended_patch, cutpaste
from ab_core.models.backbone import build_backbone
from ab_core.models.heads import ProjectionHead
from ab_core.params import StrictModel
from ab_core.registry import register

DEFECTS = {"cutpaste": cutpaste, "blended": blended_patch}


class TripletParams(StrictModel):
    method: Literal["triplet"] = "triplet"
    margin: float = Field(
        1.0, gt=0.0, le=2.0, description="triplet margin; embeddings are unit vectors: distances in [0, 2]"
    )
    defect: Literal["cutpaste", "blended"] = Field(
        "cutpaste", description="synthetic defect of the negative: CutPaste rectangle or blended patch"
    )
    projection: bool = Field(True, description="embed through a projection head (else the pooled features)")
    hidden_dim: int = Field(512, ge=8, le=8192, description="projection head hidden width")
    out_dim: int = Field(128, ge=8, le=4096, description="projection head output width")
    aligned: bool = Field(False, description="the positive view keeps the spatial layout: no flips, no crops")
    strength: float = Field(1.0, ge=0.0, le=2.0, description="colour-jitter strength of the positive view")


class TripletPretrainer(Pretrainer):
    """Triplet margin loss (Schroff et al., "FaceNet", CVPR 2015) with self-supervised triplets: anchor =
    the image, positive = an augmented view of it, negative = its synthetic-defect copy (CutPaste, Li et
    al. CVPR 2021, or a blended patch), all embedded as L2-normalised vectors at Euclidean distance."""

    def __init__(self, params: TripletParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        head = ProjectionHead(self.backbone.feature_dim, params.hidden_dim, params.out_dim)
        self.projection = head if params.projection else nn.Identity()
        self.loss = nn.TripletMarginLoss(margin=params.margin, p=2.0)
        self._last: tuple[Tensor, Tensor] | None = None  # (d(a, p), d(a, n)) of the last step, detached

    def training_step(self, batch: Batch) -> Tensor:
        anchor = normalize(batch.images, self.mean, self.std)  # (B, 3, H, W) float
        positive, _ = simclr_views(
            batch.images, self.mean, self.std, aligned=self.params.aligned, strength=self.params.strength
        )
        defective, _ = DEFECTS[self.params.defect](batch.images)  # (B, 3, H, W) uint8
        negative = normalize(defective, self.mean, self.std)
        embedded = self.projection(self.backbone(torch.cat([anchor, positive, negative])))  # (3B, D)
        a, p, n = F.normalize(embedded.float(), dim=1).chunk(3)
        self._last = ((a - p).norm(dim=1).detach(), (a - n).norm(dim=1).detach())
        return self.loss(a, p, n)

    def step_metrics(self) -> dict[str, float]:
        if self._last is None:
            return {}
        d_pos, d_neg = self._last
        return {
            "d_pos": d_pos.mean().item(),
            "d_neg": d_neg.mean().item(),
            "satisfied": (d_pos + self.params.margin <= d_neg).float().mean().item(),
        }

    def head_state(self) -> dict[str, Tensor]:
        return {f"projection.{k}": v for k, v in self.projection.state_dict().items()}


@register("pretrain", TripletParams, "triplet margin: image, its augmented view, its synthetic-defect copy")
def build(params: TripletParams, ctx: BuildContext) -> TripletPretrainer:
    return TripletPretrainer(params, ctx)
