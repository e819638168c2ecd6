"""`linear_probe` evaluator: a linear classifier on frozen, cached backbone features (top-1 / top-5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ab_core.components.encoder import changed_entries, frozen_backbone, prepare, state_snapshot
from ab_core.contracts import Batch, BuildContext
from ab_core.errors import AbError, DataError
from ab_core.models.backbone import ResNetBackbone
from ab_core.params import StrictModel
from ab_core.registry import register


class LinearProbeParams(StrictModel):
    method: Literal["linear_probe"] = "linear_probe"
    optimizer: Literal["sgd", "lbfgs"] = Field("sgd", description="sgd with momentum, or full-batch L-BFGS")
    epochs: int = Field(100, ge=1, le=10_000, description="sgd: passes over the features; lbfgs: iterations")
    lr: float = Field(0.1, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(0.0, ge=0, le=1)
    batch_size: int = Field(256, ge=1, le=65536, description="sgd mini-batch over the cached features")


class EncoderChangedError(AbError):
    """The frozen encoder's weights or BN statistics moved during a probe: its result is void."""


class LinearProbe:
    """Linear evaluation protocol (Zhang et al. 2016; SimCLR, Chen et al. 2020): "a linear classifier
    is trained on top of the frozen base network, and test accuracy is used as a proxy for
    representation quality".

    Training features are computed once (eval mode, no gradients) and cached; they are
    standardised with the training mean / std before the linear layer.
    """

    def __init__(self, encoder: ResNetBackbone, params: LinearProbeParams, ctx: BuildContext):
        self.encoder, self.params, self.ctx = encoder, params, ctx
        self.classifier = nn.Linear(encoder.feature_dim, ctx.num_classes).to(ctx.device)
        self.feature_mean = torch.zeros(encoder.feature_dim, device=ctx.device)
        self.feature_std = torch.ones(encoder.feature_dim, device=ctx.device)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """uint8 (B, 3, H, W) -> pooled features (B, 512), encoder in eval mode."""
        self.encoder.eval()
        return self.encoder(prepare(images, self.ctx))

    def fit(self, batches: Iterable[Batch]) -> None:
        before = state_snapshot(self.encoder)
        cached = [(self.features(batch.images), batch.labels.to(self.ctx.device)) for batch in batches]
        if not cached:
            raise DataError("the linear probe got no training images")
        features = torch.cat([f for f, _ in cached])  # (N, 512)
        labels = torch.cat([y for _, y in cached])  # (N,)
        if int(labels.max()) >= self.ctx.num_classes or int(labels.min()) < 0:
            raise DataError(f"labels span {int(labels.min())}..{int(labels.max())}, "
                            f"outside the {self.ctx.num_classes} classes of the dataset")
        self.feature_mean = features.mean(dim=0)
        self.feature_std = features.std(dim=0).clamp_min(1e-6) if len(features) > 1 else self.feature_std
        standardised = (features - self.feature_mean) / self.feature_std
        if self.params.optimizer == "lbfgs":
            self._fit_lbfgs(standardised, labels)
        else:
            self._fit_sgd(standardised, labels)
        changed = changed_entries(self.encoder, before)
        if changed:
            raise EncoderChangedError(f"the frozen encoder changed during the linear probe: {changed[:4]}")

    def _fit_sgd(self, features: Tensor, labels: Tensor) -> None:
        p = self.params
        optimizer = torch.optim.SGD(
            self.classifier.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=p.epochs)
        generator = torch.Generator().manual_seed(self.ctx.seed)
        for _ in range(p.epochs):
            order = torch.randperm(len(features), generator=generator).to(features.device)
            for start in range(0, len(features), p.batch_size):
                index = order[start : start + p.batch_size]
                loss = F.cross_entropy(self.classifier(features[index]), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            schedule.step()

    def _fit_lbfgs(self, features: Tensor, labels: Tensor) -> None:
        p = self.params
        optimizer = torch.optim.LBFGS(
            self.classifier.parameters(), lr=p.lr, max_iter=p.epochs, line_search_fn="strong_wolfe"
        )

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.classifier(features), labels)
            loss = loss + 0.5 * p.weight_decay * self.classifier.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)

    @torch.no_grad()
    def score(self, batch: Batch) -> dict[str, Tensor]:
        standardised = (self.features(batch.images) - self.feature_mean) / self.feature_std
        return {"logits": self.classifier(standardised)}  # (B, C)


@register("evaluate", LinearProbeParams, "linear probe: top-1 / top-5 of a linear layer on frozen features",
          task="classification")
def build(params: LinearProbeParams, ctx: BuildContext) -> LinearProbe:
    return LinearProbe(frozen_backbone(ctx), params, ctx)
