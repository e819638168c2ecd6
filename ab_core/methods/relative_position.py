"""Relative-position pretraining: which of the 8 neighbours of the centre patch a second patch is."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ab_core.components.last_logits import LastLogits
from ab_core.components.mlp import mlp
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.context_patches import (
    CENTRE,
    NEIGHBOUR_CELLS,
    NEIGHBOURS,
    grid_extent,
    guarded_patches,
    patch_grid,
)
from ab_core.models.backbone import build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register


class RelativePositionParams(StrictModel):
    method: Literal["relative_position"] = "relative_position"
    patch_size: int = Field(48, ge=8, le=1024, description="side of each square patch, pixels (paper: 96)")
    gap: int = Field(24, ge=0, le=1024, description="pixels between neighbouring patches (paper: 48)")
    jitter: int = Field(6, ge=0, le=256, description="each patch moved by up to this many pixels (paper: 7)")
    colour: Literal["drop", "project", "jitter", "none"] = Field(
        "drop", description="shortcut guard per patch: drop 2 of 3 channels, project out green-magenta "
        "(both the paper's), SimCLR colour jitter, or none"
    )
    hidden_dim: int = Field(1024, ge=8, le=8192, description="width of the pair head's hidden layer")


class RelativePositionPretrainer(Pretrainer):
    """Context prediction (Doersch, Gupta, Efros, "Unsupervised Visual Representation Learning by
    Context Prediction", ICCV 2015): "we extract random pairs of patches from each image and train a
    convolutional neural net to predict the position of the second patch relative to the first". Every
    patch goes through the backbone alone; the centre's and each neighbour's pooled features are
    concatenated and an MLP gives 8 logits. All 8 neighbours of each grid are used, so the classes are
    balanced; gaps, jitter and the colour guard deny the net the low-level shortcuts the paper names."""

    def __init__(self, params: RelativePositionParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        width = self.backbone.feature_dim
        self.head = mlp(2 * width, params.hidden_dim, len(NEIGHBOURS), last_bias=True)
        self.last = LastLogits()

    def pairs(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 (B, 3, H, W) -> guarded, normalised patches (B, 9, 3, p, p) and the (B*8,) labels of
        the pairs (centre, neighbour k), k in NEIGHBOURS order."""
        p = self.params
        grid = patch_grid(images, p.patch_size, p.gap, p.jitter)  # (B, 9, 3, p, p) uint8
        batch = grid.shape[0]
        patches = guarded_patches(grid.flatten(0, 1), p.colour, self.mean, self.std)  # (9B, 3, p, p)
        labels = torch.arange(len(NEIGHBOURS), device=images.device).repeat(batch)  # (8B,)
        return patches.view(batch, 9, *patches.shape[1:]), labels

    def training_step(self, batch: Batch) -> Tensor:
        patches, labels = self.pairs(batch.images)
        count = patches.shape[0]
        features = self.backbone(patches.flatten(0, 1)).view(count, 9, -1)  # (B, 9, D)
        neighbours = features[:, list(NEIGHBOUR_CELLS)]  # (B, 8, D)
        centre = features[:, CENTRE : CENTRE + 1].expand_as(neighbours)  # (B, 8, D)
        logits = self.head(torch.cat([centre, neighbours], dim=2).flatten(0, 1))  # (8B, 8)
        self.last.keep(logits, labels)
        return F.cross_entropy(logits.float(), labels)

    def step_metrics(self) -> dict[str, float]:
        return self.last.accuracies(pretext_top1=1)

    def head_state(self) -> dict[str, Tensor]:
        return {f"head.{k}": v for k, v in self.head.state_dict().items()}


def check(spec: Any) -> list[str]:
    """The jittered grid must fit inside the crop."""
    p: RelativePositionParams = spec.method
    needed = grid_extent(p.patch_size, p.gap, p.jitter)
    if needed > spec.data.crop:
        return [
            f"method.patch_size: a 3x3 grid of {p.patch_size} px patches with {p.gap} px gaps and "
            f"{p.jitter} px jitter needs 3 x patch_size + 2 x gap + 2 x jitter = {needed} px, more than "
            f"data.crop {spec.data.crop}; give smaller patch_size, gap or jitter, or a larger crop"
        ]
    return []


@register("pretrain", RelativePositionParams,
          "relative position (context prediction): 8-way position of a neighbour patch vs the centre",
          metrics=("pretext_top1",), check=check)
def build(params: RelativePositionParams, ctx: BuildContext) -> RelativePositionPretrainer:
    return RelativePositionPretrainer(params, ctx)
