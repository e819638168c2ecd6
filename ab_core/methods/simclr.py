"""SimCLR pretraining: two augmented views per image pulled together against the rest of the batch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import simclr_views
from ab_core.distributed import all_gather_with_grad
from ab_core.losses.ntxent import NTXentLoss
from ab_core.models.backbone import build_backbone
from ab_core.models.heads import ProjectionHead
from ab_core.params import StrictModel
from ab_core.registry import register


class SimCLRParams(StrictModel):
    method: Literal["simclr"] = "simclr"
    temperature: float = Field(
        0.5, gt=0.0, le=10.0, description="NT-Xent temperature (study: 0.1 got loss 4.50, 0.5 only 6.9)"
    )
    hidden_dim: int = Field(512, ge=8, le=8192, description="projection head hidden width")
    out_dim: int = Field(128, ge=8, le=4096, description="projection head output width (the loss space)")
    aligned: bool = Field(False, description="views keep the spatial layout: no flips, no crops")
    strength: float = Field(1.0, ge=0.0, le=2.0, description="colour-jitter strength (SimCLR's s)")


class SimCLRPretrainer(Pretrainer):
    """SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
    ICML 2020): backbone -> projection head -> NT-Xent over the 2N views of a batch."""

    def __init__(self, params: SimCLRParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        self.projection = ProjectionHead(self.backbone.feature_dim, params.hidden_dim, params.out_dim)
        # data-parallel: negatives come from every worker's batch, with gradients
        gather = all_gather_with_grad if ctx.world.size > 1 else None
        self.loss = NTXentLoss(params.temperature, gather=gather, rank=ctx.world.rank)

    def training_step(self, batch: Batch) -> Tensor:
        view0, view1 = simclr_views(
            batch.images, self.mean, self.std, aligned=self.params.aligned, strength=self.params.strength
        )  # (B, 3, H, W) float each
        # one pass per view (as lightly's recipe; BatchNorm statistics per view): a single pass of 2B
        # doubles the largest activations, past glibc's 32 MB mmap threshold at 64 px and batch 64, so
        # each step re-faulted them from the kernel (3-4x the system time of two passes, same user time)
        z0 = self.projection(self.backbone(view0))  # (B, out_dim)
        z1 = self.projection(self.backbone(view1))
        return self.loss(z0, z1)

    def head_state(self) -> dict[str, Tensor]:
        return {f"projection.{k}": v for k, v in self.projection.state_dict().items()}


@register("pretrain", SimCLRParams, "contrastive SimCLR: two augmented views, projection head, NT-Xent")
def build(params: SimCLRParams, ctx: BuildContext) -> SimCLRPretrainer:
    return SimCLRPretrainer(params, ctx)
