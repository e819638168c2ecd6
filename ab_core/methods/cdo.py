"""CDO pretraining: a student that matches a frozen teacher on normal regions and departs on defects."""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import Field, field_validator
from torch import Tensor

from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.augment import normalize
from ab_core.data.defects import blended_patch, cutpaste
from ab_core.losses.cdo import CDOLoss
from ab_core.models.backbone import LAYERS, ResNetBackbone, build_backbone
from ab_core.params import StrictModel
from ab_core.registry import register

LayerName = Literal["layer1", "layer2", "layer3", "layer4"]
DEFAULT_LAYERS: list[LayerName] = ["layer1", "layer2", "layer3"]
DEFECTS = {"cutpaste": cutpaste, "blended": blended_patch}


class CDOParams(StrictModel):
    method: Literal["cdo"] = "cdo"
    gamma: float = Field(
        2.0, ge=0.0, le=10.0, description="OOM focusing exponent; 0 = uniform weights (3 beat 2 on the seed)"
    )
    mom: bool = Field(True, description="add synthetic-defect copies and push their discrepancy up")
    oom: bool = Field(True, description="weigh hard positions more (else uniform weights)")
    defect: Literal["cutpaste", "blended"] = Field(
        "cutpaste", description="synthetic defect: CutPaste rectangle or blended patch"
    )
    layers: list[LayerName] = Field(
        default_factory=lambda: list(DEFAULT_LAYERS),
        min_length=1,
        max_length=4,
        description="feature layers compared, each normalised over channels",
    )
    distance: Literal["l2", "cosine"] = Field(
        "l2", description="per-position discrepancy: ||t - s||^2 in [0, 4] or 1 - cos in [0, 2]"
    )
    student_init: Literal["teacher", "random"] = Field(
        "teacher", description="student starts as a copy of the teacher, or random as in the paper"
    )
    export: Literal["student", "teacher"] = Field(
        "student", description="which network is saved as the backbone"
    )

    @field_validator("layers")
    @classmethod
    def _distinct_in_depth_order(cls, layers: list[LayerName]) -> list[LayerName]:
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers {layers} repeat a layer; give each of {', '.join(LAYERS)} at most once")
        return sorted(layers, key=LAYERS.index)  # shallowest (largest map) first


class CDOPretrainer(Pretrainer):
    """Collaborative Discrepancy Optimization (Cao et al., "Collaborative Discrepancy Optimization for
    Reliable Image Anomaly Localization", IEEE TII 2023): a frozen teacher (the initial backbone) and a
    trained student see normal images and their synthetic-defect copies; `CDOLoss` shrinks the feature
    discrepancy on normal positions and grows it on defect positions, hard positions weighted up."""

    def __init__(self, params: CDOParams, ctx: BuildContext):
        super().__init__()
        self.params = params
        self.mean, self.std = ctx.data.mean, ctx.data.std
        self.teacher = build_backbone(ctx.backbone).requires_grad_(False).eval()
        if params.student_init == "teacher":
            self.student = copy.deepcopy(self.teacher).requires_grad_(True).train()
        else:
            self.student = ResNetBackbone(ctx.backbone.arch)
        deepest = LAYERS.index(params.layers[-1])
        for unused in LAYERS[deepest + 1 :]:  # layers past the deepest compared get no gradient: freeze them
            getattr(self.student, unused).requires_grad_(False)
        self.loss = CDOLoss(params.gamma, params.oom, params.distance)
        self._last: tuple[Tensor, Tensor | None] | None = None  # (normal_d, defect_d) of the last step

    @property
    def backbone(self) -> ResNetBackbone:  # type: ignore[override]
        """The exported network: the student by default."""
        return self.student if self.params.export == "student" else self.teacher

    def train(self, mode: bool = True) -> CDOPretrainer:
        super().train(mode)
        self.teacher.eval()  # frozen BatchNorm statistics, whatever the loop asks
        return self

    def training_step(self, batch: Batch) -> Tensor:
        images, masks = batch.images, None  # (B, 3, H, W) uint8
        if self.params.mom:
            defective, defect_masks = DEFECTS[self.params.defect](images)  # (B, 3, H, W), (B, 1, H, W)
            images = torch.cat([images, defective])  # (2B, 3, H, W)
            masks = torch.cat([torch.zeros_like(defect_masks), defect_masks])  # (2B, 1, H, W)
        x = normalize(images, self.mean, self.std)
        with torch.no_grad():
            teacher = self.teacher.features(x, self.params.layers)
        student = self.student.features(x, self.params.layers)
        layers = self.params.layers
        terms = self.loss([teacher[k] for k in layers], [student[k] for k in layers], masks)
        self._last = (terms.normal_d, terms.defect_d)
        return terms.loss

    def step_metrics(self) -> dict[str, float]:
        if self._last is None:
            return {}
        normal_d, defect_d = self._last
        metrics = {"normal_d": normal_d.item()}
        if defect_d is not None:
            metrics["defect_d"] = defect_d.item()
        return metrics


@register("pretrain", CDOParams, "CDO teacher-student: low discrepancy on normal, high on synthetic defects",
          metrics=("normal_d", "defect_d"))
def build(params: CDOParams, ctx: BuildContext) -> CDOPretrainer:
    return CDOPretrainer(params, ctx)
