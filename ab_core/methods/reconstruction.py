"""`reconstruction` pretraining: a U-Net (ResNet-18 encoder) restores the image under a synthetic defect."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize
from ab_core.data.defects import blended_patch, cutpaste
from ab_core.losses.ssim import ReconstructionLoss
from ab_core.models.archs import ARCHS
from ab_core.models.backbone import build_backbone
from ab_core.models.unet import UNetDecoder, encoder_features
from ab_core.params import StrictModel
from ab_core.registry import register

DEFECTS = {"cutpaste": cutpaste, "blended": blended_patch}
DECODER_ARCHS = tuple(name for name, layout in ARCHS.items() if layout.decoder)  # ("unet_resnet18",)


class ReconstructionParams(StrictModel):
    method: Literal["reconstruction"] = "reconstruction"
    defect: Literal["blended", "cutpaste"] = Field(
        "blended", description="synthetic defect to undo: a blended patch of another image, or CutPaste"
    )
    defect_probability: float = Field(
        0.5, ge=0.0, le=1.0, description="share of images given a defect; the rest must come back unchanged "
        "(DRAEM's 0.5)"
    )
    ssim_weight: float = Field(
        1.0, ge=0.0, le=100.0, description="lambda of L2 + lambda (1 - SSIM); DRAEM's 1"
    )


class ReconstructionPretrainer(Pretrainer):
    """DRAEM's reconstructive sub-network (Zavrtanik et al., ICCV 2021): "The reconstructive sub-network
    is trained to implicitly detect and reconstruct the anomalies with semantically plausible
    anomaly-free content, while keeping the non-anomalous regions of the input image unchanged."

    Here the network is a U-Net whose encoder is the backbone (exported, ResNet-18 names) and whose
    decoder (`UNetDecoder`) is a head saved beside it. Input: the normalised image, with a synthetic
    defect for a `defect_probability` share of the batch; target: the clean image in [0, 1]; loss
    L2 + lambda (1 - SSIM), as DRAEM's reconstruction term.
    """

    def __init__(self, params: ReconstructionParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)  # the U-Net's encoder
        self.decoder = UNetDecoder(out_channels=3, encoder_channels=(64, *self.backbone.channels.values()))
        self.loss = ReconstructionLoss(params.ssim_weight)

    def corrupt(self, images: Tensor) -> Tensor:
        """uint8 (B, 3, H, W) -> uint8 (B, 3, H, W): a defect in each image with `defect_probability`."""
        defective, _ = DEFECTS[self.params.defect](images)
        chosen = torch.rand(images.shape[0], device=images.device) < self.params.defect_probability  # (B,)
        return torch.where(chosen.view(-1, 1, 1, 1), defective, images)

    def restore(self, images: Tensor) -> Tensor:
        """Normalised (B, 3, H, W) -> the reconstruction (B, 3, H, W), in [0, 1] image space once trained."""
        size = (images.shape[-2], images.shape[-1])
        return self.decoder(encoder_features(self.backbone, images), size=size)

    def training_step(self, batch: Batch) -> Tensor:
        x = normalize(self.corrupt(batch.images), self.mean, self.std)  # (B, 3, H, W) float
        target = batch.images.float() / 255.0  # (B, 3, H, W) in [0, 1]
        return self.loss(self.restore(x), target)

    def step_metrics(self) -> dict[str, float]:
        return {name: value.item() for name, value in self.loss.last.items()}

    def head_state(self) -> dict[str, Tensor]:
        return {f"decoder.{k}": v for k, v in self.decoder.state_dict().items()}


@register("pretrain", ReconstructionParams, "U-Net restores the image under a synthetic defect (DRAEM's "
          "L2 + SSIM); its ResNet-18 encoder is the backbone", metrics=("l2", "ssim_loss"),
          archs=DECODER_ARCHS)
def build(params: ReconstructionParams, ctx: BuildContext) -> ReconstructionPretrainer:
    return ReconstructionPretrainer(params, ctx)
