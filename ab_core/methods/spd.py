"""SPD pretraining: SimSiam or SimCLR, regularised to tell a view from its SmoothBlend-perturbed copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import ConfigDict, Field, model_validator
from torch import Tensor, nn

from ab_core.components.mlp import mlp
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize, simclr_views
from ab_core.data.smooth_blend import smooth_blend
from ab_core.distributed import all_gather_with_grad
from ab_core.losses.ntxent import NTXentLoss
from ab_core.losses.simsiam import SimSiamLoss
from ab_core.losses.spd import spd_simclr, spd_simsiam
from ab_core.models.backbone import build_backbone
from ab_core.models.heads import ProjectionHead
from ab_core.params import StrictModel
from ab_core.registry import register


class SPDParams(StrictModel):
    # `lambda` is a Python keyword: the field is `lambda_`, specs and dumps spell it `lambda`
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=False, serialize_by_alias=True)

    method: Literal["spd"] = "spd"
    base: Literal["simsiam", "simclr"] = Field("simsiam", description="the self-supervised loss regularised")
    lambda_: float = Field(
        0.1, alias="lambda", ge=0.0, le=10.0,
        description="weight of the SPD term (similarity of a view to its SmoothBlend copy, pushed down)",
    )
    aligned: bool = Field(
        True, description="views keep the spatial layout (no flips, no crops), as SPD's alignment-keeping "
        "augmentations; false: SimCLR's crops and flips",
    )
    strength: float = Field(1.0, ge=0.0, le=2.0, description="colour-jitter strength (SimCLR's s)")
    blend_area: tuple[float, float] = Field(
        (0.005, 0.02), description="SmoothBlend patch area as a fraction of the image, (low, high)"
    )
    blend_jitter: float = Field(0.2, ge=0.0, le=0.9, description="SmoothBlend patch colour-jitter amount")
    blend_softness: float = Field(
        0.2, gt=0.0, le=2.0, description="SmoothBlend edge blur sigma, a fraction of the patch's shorter side"
    )
    temperature: float = Field(0.5, gt=0.0, le=10.0, description="simclr base: NT-Xent temperature")
    hidden_dim: int = Field(512, ge=8, le=8192, description="simclr base: projection head hidden width")
    out_dim: int = Field(128, ge=8, le=4096, description="simclr base: projection head output width")
    dim: int = Field(2048, ge=8, le=8192, description="simsiam base: projector output width")
    pred_dim: int = Field(512, ge=8, le=8192, description="simsiam base: predictor bottleneck width")

    @model_validator(mode="after")
    def _area_range(self) -> SPDParams:
        low, high = self.blend_area
        if not 0 < low <= high <= 0.5:
            raise ValueError(f"blend_area: {list(self.blend_area)} must satisfy 0 < low <= high <= 0.5")
        return self


class SPDPretrainer(Pretrainer):
    """SPot-the-Difference (Zou et al., "SPot-the-Difference Self-Supervised Pre-training for Anomaly
    Detection and Segmentation", ECCV 2022): "SPD ... encourages the representations of an image and its
    locally perturbed version to be dissimilar", so that global self-supervision stays sensitive to small
    local defects. Each image gives two aligned views for the base loss (SimSiam or SimCLR) and the first
    view's SmoothBlend copy, whose similarity to that view is added with weight lambda:

        L = L_base(view1, view2) + lambda * sim(view1, SmoothBlend(view1))
    """

    def __init__(self, params: SPDParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        width = self.backbone.feature_dim
        self.projector: nn.Module
        if params.base == "simsiam":
            self.projector = mlp(width, width, width, params.dim, last_bn=True)  # (B, C) -> (B, dim)
            self.predictor = mlp(params.dim, params.pred_dim, params.dim, last_bias=True)
            self.simsiam = SimSiamLoss()
        else:
            self.projector = ProjectionHead(width, params.hidden_dim, params.out_dim)
            gather = all_gather_with_grad if ctx.world.size > 1 else None
            self.ntxent = NTXentLoss(params.temperature, gather=gather, rank=ctx.world.rank)
        self._spd: Tensor | None = None  # the SPD term of the last step

    def views(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """uint8 (B, 3, H, W) -> normalised view1, view2 and SmoothBlend(view1), (B, 3, H, W) each."""
        p = self.params
        view1, view2 = simclr_views(images, self.mean, self.std, aligned=p.aligned, strength=p.strength)
        unit = _denormalize(view1, self.mean, self.std).clamp(0, 1)  # back to [0, 1] to blend in pixel space
        blended, _ = smooth_blend(unit, p.blend_area, p.blend_jitter, p.blend_softness)
        return view1, view2, normalize(blended, self.mean, self.std)

    def training_step(self, batch: Batch) -> Tensor:
        view1, view2, view_blend = self.views(batch.images)
        z = self.projector(self.backbone(torch.cat([view1, view2, view_blend])))  # (3B, d), one pass
        z1, z2, z_blend = z.chunk(3)
        if self.params.base == "simsiam":
            p1, p2, p_blend = self.predictor(z).chunk(3)
            base = self.simsiam(p1, p2, z1, z2)
            spd = spd_simsiam(p1, z1, p_blend, z_blend)
        else:
            base = self.ntxent(z1, z2)
            spd = spd_simclr(z1, z_blend)
        self._spd = spd.detach()
        return base + self.params.lambda_ * spd

    def step_metrics(self) -> dict[str, float]:
        return {} if self._spd is None else {"spd_similarity": self._spd.item()}

    def head_state(self) -> dict[str, Tensor]:
        heads = {f"projector.{k}": v for k, v in self.projector.state_dict().items()}
        if self.params.base == "simsiam":
            heads |= {f"predictor.{k}": v for k, v in self.predictor.state_dict().items()}
        return heads


def _denormalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """The inverse of `normalize`: (B, 3, H, W) normalised -> (B, 3, H, W) in pixel units of [0, 1]."""
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * std_t + mean_t


@register("pretrain", SPDParams, "SPD: SimSiam or SimCLR plus SmoothBlend copies as negatives, aligned views",
          metrics=("spd_similarity",))
def build(params: SPDParams, ctx: BuildContext) -> SPDPretrainer:
    return SPDPretrainer(params, ctx)
