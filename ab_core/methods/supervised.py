"""Supervised pretraining: cross-entropy on the dataset's class labels through a linear classifier."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ab_core.components.last_logits import LastLogits
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize
from ab_core.errors import DataError
from ab_core.models.backbone import build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register


class SupervisedParams(StrictModel):
    method: Literal["supervised"] = "supervised"
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of the target spread over the other classes (0 = hard labels)"
    )
    flip: bool = Field(True, description="random horizontal flips of the training images")


def random_hflip(images: Tensor) -> Tensor:
    """Each image of (B, C, H, W) mirrored left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device) < 0.5  # (B,)
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


class SupervisedPretrainer(Pretrainer):
    """Plain supervised classification (He et al., "Deep Residual Learning for Image Recognition", 2016):
    backbone -> fc -> cross-entropy, optionally with label smoothing (Szegedy et al. 2016)."""

    def __init__(self, params: SupervisedParams, ctx: BuildContext):
        super().__init__()
        if ctx.num_classes < 2:
            raise DataError(
                f"supervised pretraining needs a dataset with >= 2 classes, this one has {ctx.num_classes}"
            )
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.backbone = build_backbone(ctx.backbone)
        self.classifier = nn.Linear(self.backbone.feature_dim, ctx.num_classes)
        self.last = LastLogits()

    def training_step(self, batch: Batch) -> Tensor:
        images = normalize(batch.images, self.mean, self.std)  # (B, 3, H, W) float
        if self.params.flip:
            images = random_hflip(images)
        logits = self.classifier(self.backbone(images))  # (B, classes)
        self.last.keep(logits, batch.labels)
        return F.cross_entropy(logits.float(), batch.labels, label_smoothing=self.params.label_smoothing)

    def step_metrics(self) -> dict[str, float]:
        return self.last.accuracies(top1=1, top5=5)

    def head_state(self) -> dict[str, Tensor]:
        return {f"classifier.{k}": v for k, v in self.classifier.state_dict().items()}


@register("pretrain", SupervisedParams, "cross-entropy on the dataset's class labels (fc head, top-1/top-5)",
          metrics=("top1", "top5"))
def build(params: SupervisedParams, ctx: BuildContext) -> SupervisedPretrainer:
    return SupervisedPretrainer(params, ctx)
