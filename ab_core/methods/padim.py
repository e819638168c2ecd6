"""`padim` evaluator: one Gaussian per patch position over layer 1-3 features, Mahalanobis anomaly maps."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ab_core.components.anomaly_map import image_scores, to_image_size
from ab_core.components.encoder import channels_last, frozen_backbone, in_chunks, to_nhwc
from ab_core.components.gaussian import StreamingGaussian
from ab_core.components.one_pass import OnePassEvaluator
from ab_core.contracts import BuildContext
from ab_core.errors import DataError, SpecError
from ab_core.models.backbone import ResNetBackbone
from ab_core.params import StrictModel
from ab_core.registry import register

PADIM_LAYERS = ("layer1", "layer2", "layer3")
# the paper's d per arch: 100 of the 448 channels of ResNet-18/34, 550 of the 1792 of (Wide) ResNet-50
DEFAULT_N_FEATURES = {"resnet18": 100, "resnet34": 100, "resnet50": 550, "wide_resnet50_2": 550,
                      "cbam_resnet18": 100, "unet_resnet18": 100}  # ResNet-18 widths


class PadimParams(StrictModel):
    method: Literal["padim"] = "padim"
    n_features: int | None = Field(None, ge=1, le=1792, description="random channel subset of layers 1-3; "
                                   "default by arch: 100 of 448 (r18/r34), 550 of 1792 (r50, wrn50)")
    eps: float = Field(0.01, gt=0, le=10, description="added to the covariance diagonal")
    blur_sigma: float = Field(4.0, ge=0, le=32, description="Gaussian blur of the upsampled map")


class PadimModel(nn.Module):
    """PaDiM (Defard et al. 2021): "PaDiM makes use of a pretrained CNN for patch embedding, and of
    multivariate Gaussian distributions to get a probabilistic representation of the normal class."

    Features of layers 1-3 are concatenated at layer-1 resolution, a fixed random subset of d channels
    is kept, and a Gaussian per position is fitted by streaming sums; the anomaly score of a patch is
    its Mahalanobis distance |L^-1 (x - mean)|, L the Cholesky factor of covariance + eps I (its
    triangular inverse is computed once at fit time, so scoring is one batched matmul).
    """

    channels: Tensor
    mean: Tensor | None
    whitening: Tensor | None

    def __init__(self, backbone: ResNetBackbone, n_features: int, eps: float, blur_sigma: float, seed: int):
        super().__init__()
        self.backbone = channels_last(backbone)  # NHWC: faster CPU convolutions, same values
        total = sum(backbone.channels[name] for name in PADIM_LAYERS)
        if n_features > total:
            raise ValueError(f"n_features {n_features} exceeds the {total} channels of layers 1-3")
        generator = torch.Generator().manual_seed(seed)
        channels = torch.randperm(total, generator=generator)[:n_features].sort().values
        self.register_buffer("channels", channels)  # sorted: each layer's share is picked before upsampling
        self.eps, self.blur_sigma = eps, blur_sigma
        self.gaussian: StreamingGaussian | None = None
        self.register_buffer("mean", None)  # (P, d) float32 once fitted
        self.register_buffer("whitening", None)  # (P, d, d) L^-1 (Cholesky), float32 once fitted

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> embeddings (B, d, h, w) at layer-1 resolution."""
        return in_chunks(self._embed, images)

    def _embed(self, images: Tensor) -> Tensor:
        features = self.backbone.features(to_nhwc(images), PADIM_LAYERS)
        size = features["layer1"].shape[-2:]
        maps, offset = [], 0
        for name in PADIM_LAYERS:  # same result as concatenating all 448 channels, then selecting
            width = self.backbone.channels[name]
            picked = self.channels[(self.channels >= offset) & (self.channels < offset + width)] - offset
            selected = features[name].index_select(1, picked)
            maps.append(selected if selected.shape[-2:] == size else F.interpolate(selected, size=size))
            offset += width
        return torch.cat(maps, dim=1)  # (B, d, h, w), nearest upsampling to layer-1 resolution

    @torch.no_grad()
    def update(self, images: Tensor) -> None:
        embeddings = self.embed(images)
        batch, dim, height, width = embeddings.shape
        if self.gaussian is None:
            self.gaussian = StreamingGaussian(dim, height * width).to(images.device)
        self.gaussian.update(embeddings.reshape(batch, dim, height * width))

    @torch.no_grad()
    def finish(self) -> None:
        """Turn the running sums into mean and Cholesky factor; the sums are then dropped."""
        if self.gaussian is None:
            raise DataError("PaDiM got no training images to fit")
        self.mean = self.gaussian.mean().float()
        self.whitening = self.gaussian.whitening(self.eps)
        self.gaussian = None

    @torch.no_grad()
    def mahalanobis(self, embeddings: Tensor) -> Tensor:
        """Embeddings (B, d, h, w) -> distance of each patch to its position's Gaussian (B, 1, h, w)."""
        if self.whitening is None or self.mean is None:
            raise RuntimeError("PadimModel scored before finish(): fit it on normal images first")
        batch, dim, height, width = embeddings.shape
        diff = embeddings.reshape(batch, dim, -1).permute(2, 1, 0) - self.mean.unsqueeze(2)  # (P, d, B)
        whitened = torch.bmm(self.whitening, diff.contiguous())  # L^-1 (x - mu), (P, d, B)
        distance = whitened.square().sum(dim=1).sqrt()  # (P, B): sqrt((x - mu)^T S^-1 (x - mu))
        return distance.transpose(0, 1).reshape(batch, 1, height, width)

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised images (B, 3, H, W) -> (image scores (B,), anomaly maps (B, 1, H, W))."""
        patch_map = self.mahalanobis(self.embed(images))
        height, width = images.shape[-2:]
        maps = to_image_size(patch_map, (height, width), self.blur_sigma)
        return image_scores(maps), maps


def n_features_for(params: PadimParams, backbone: ResNetBackbone) -> int:
    """`n_features`, or the arch's default; more than layers 1-3 have is a spec error naming the field."""
    total = sum(backbone.channels[name] for name in PADIM_LAYERS)
    n_features = params.n_features or DEFAULT_N_FEATURES.get(backbone.arch)
    if n_features is None:
        raise SpecError([f"method.n_features: no default for arch {backbone.arch!r}; give 1..{total}"])
    if n_features > total:
        raise SpecError([f"method.n_features: {n_features} exceeds the {total} channels of layers 1-3 of "
                         f"{backbone.arch}; accepted: 1..{total}"])
    return n_features


@register("evaluate", PadimParams, "PaDiM: per-position Gaussians on layer 1-3 features, Mahalanobis maps")
def build(params: PadimParams, ctx: BuildContext) -> OnePassEvaluator:
    backbone = frozen_backbone(ctx)
    model = PadimModel(backbone, n_features_for(params, backbone), params.eps, params.blur_sigma, ctx.seed)
    return OnePassEvaluator(model.to(ctx.device).eval(), ctx)
