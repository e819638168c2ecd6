"""CutPaste pretraining: tell normal images from their CutPaste and CutPaste-scar copies (3-way)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor

from ab_core.components.last_logits import LastLogits
from ab_core.components.mlp import mlp
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize
from ab_core.data.cutpaste_views import cutpaste_patch, cutpaste_scar, scar_extent
from ab_core.models.backbone import build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register

CLASSES = ("normal", "cutpaste", "scar")  # the label of each view is its index here


class CutPasteParams(StrictModel):
    method: Literal["cutpaste"] = "cutpaste"
    area: tuple[float, float] = Field(
        (0.02, 0.15), description="patch area as a fraction of the image, low and high (paper: 0.02-0.15)"
    )
    aspect: float = Field(
        0.3, gt=0.0, le=1.0, description="patch aspect ratio h / w log-uniform in (aspect, 1 / aspect)"
    )
    scar_width: tuple[float, float] = Field(
        (2.0, 16.0), description="scar width in pixels, low and high (the paper's 2-16)"
    )
    scar_length: tuple[float, float] = Field(
        (10.0, 25.0), description="scar length in pixels, low and high (the paper's 10-25)"
    )
    scar_rotation: float = Field(45.0, ge=0.0, le=90.0, description="scar turned uniformly in +-this degrees")
    jitter: float = Field(
        0.1, ge=0.0, le=0.5, description="colour jitter of the patch: brightness, contrast, saturation, hue"
    )
    head_dims: list[int] = Field(
        default_factory=lambda: [512] * 8 + [128],
        min_length=1,
        max_length=16,
        description="widths of the MLP on the pooled features (Linear-BN-ReLU each), then a 3-way linear",
    )

    @model_validator(mode="after")
    def _ranges(self) -> CutPasteParams:
        problems = []
        if not 0.0 < self.area[0] <= self.area[1] < 1.0:
            problems.append(f"area: {list(self.area)} must be 0 < low <= high < 1")
        if not 1.5 <= self.scar_width[0] <= self.scar_width[1]:
            problems.append(f"scar_width: {list(self.scar_width)} must be 1.5 <= low <= high")
        if not 1.5 <= self.scar_length[0] <= self.scar_length[1]:
            problems.append(f"scar_length: {list(self.scar_length)} must be 1.5 <= low <= high")
        if any(not 8 <= width <= 8192 for width in self.head_dims):
            problems.append(f"head_dims: {self.head_dims} must each be in 8..8192")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class CutPastePretrainer(Pretrainer):
    """CutPaste (Li et al., "CutPaste: Self-Supervised Learning for Anomaly Detection and Localization",
    CVPR 2021), the 3-way variant: a "fine-grained 3-way classification task among normal, CutPaste and
    CutPaste-Scar by treating CutPaste variants as two separate classes". A ResNet trained from scratch,
    an MLP head on the average-pooled features (the authors' 8 x 512 + 128) then a linear layer,
    cross-entropy; every image of the batch appears as all three views."""

    def __init__(self, params: CutPasteParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        self.head = mlp(self.backbone.feature_dim, *params.head_dims, len(CLASSES), last_bias=True)
        self.last = LastLogits()

    def views(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 (B, 3, H, W) -> the 3B views (normal, CutPaste, scar) uint8 and their (3B,) labels."""
        p = self.params
        with torch.no_grad():
            patched, _ = cutpaste_patch(images, p.area, p.aspect, p.jitter)
            scarred, _ = cutpaste_scar(images, p.scar_width, p.scar_length, p.scar_rotation, p.jitter)
        labels = torch.arange(len(CLASSES), device=images.device).repeat_interleave(images.shape[0])
        return torch.cat([images, patched, scarred]), labels

    def training_step(self, batch: Batch) -> Tensor:
        views, labels = self.views(batch.images)  # (3B, 3, H, W), (3B,)
        logits = self.head(self.backbone(normalize(views, self.mean, self.std)))  # (3B, 3)
        self.last.keep(logits, labels)
        return F.cross_entropy(logits.float(), labels)

    def step_metrics(self) -> dict[str, float]:
        return self.last.accuracies(pretext_top1=1)

    def head_state(self) -> dict[str, Tensor]:
        return {f"head.{k}": v for k, v in self.head.state_dict().items()}


def check(spec: Any) -> list[str]:
    """The scar, turned by up to `scar_rotation`, must fit inside the crop."""
    p: CutPasteParams = spec.method
    needed = scar_extent(p.scar_width[1], p.scar_length[1], p.scar_rotation)
    if needed > spec.data.crop:
        return [
            f"method.scar_length: a scar up to {p.scar_width[1]:g} x {p.scar_length[1]:g} px turned up to "
            f"{p.scar_rotation:g} degrees spans {needed:.1f} px, more than data.crop {spec.data.crop}; "
            "give shorter or narrower scars, less rotation, or a larger crop"
        ]
    return []


@register("pretrain", CutPasteParams, "CutPaste 3-way: normal / CutPaste / scar classification from scratch",
          metrics=("pretext_top1",), check=check)
def build(params: CutPasteParams, ctx: BuildContext) -> CutPastePretrainer:
    return CutPastePretrainer(params, ctx)
