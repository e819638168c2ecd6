"""`patchcore` evaluator: a coreset memory bank of layer 2-3 patch features, nearest-neighbour maps."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ab_core.components.anomaly_map import to_image_size
from ab_core.components.coreset import coreset_indices, gather_rows, johnson_lindenstrauss_dim
from ab_core.components.encoder import (
    FORWARD_CHUNK,
    channels_last,
    frozen_backbone,
    in_chunks,
    to_nhwc,
)
from ab_core.components.nearest_neighbours import NearestNeighbours
from ab_core.components.one_pass import OnePassEvaluator
from ab_core.contracts import BuildContext
from ab_core.errors import DataError, TrainingError
from ab_core.models.backbone import ResNetBackbone
from ab_core.params import StrictModel
from ab_core.registry import register

PATCHCORE_LAYERS = ("layer2", "layer3")


class PatchcoreParams(StrictModel):
    method: Literal["patchcore"] = "patchcore"
    coreset_ratio: float = Field(0.1, gt=0, le=1, description="share of training patches kept in the bank")
    num_neighbors: int = Field(9, ge=1, le=1000, description="b: bank neighbours of m* in the score weight")
    blur_sigma: float = Field(4.0, ge=0, le=32, description="Gaussian blur of the upsampled map")
    max_memory_mb: float = Field(8192, gt=0, le=1_048_576,
                                 description="cap on the patch features, projection and bank fitting holds")


def fit_memory_mb(patches: int, dim: int, ratio: float) -> tuple[float, float, float]:
    """MB that fitting holds for `patches` training patches of `dim` float32 features: the patches, their
    random projection for the coreset search, and the memory bank kept at `ratio`."""
    mb = 4 / 2**20
    projection = johnson_lindenstrauss_dim(patches)
    return patches * dim * mb, patches * projection * mb, max(1, int(patches * ratio)) * dim * mb


class PatchcoreModel(nn.Module):
    """PatchCore (Roth et al. 2022): "PatchCore uses a maximally representative memory bank M of nominal
    patch-features" ... "the maximum distance score s* between test patch-features in its patch collection
    and each respective nearest neighbour m* in M".

    Patch features: layers 2 and 3, each averaged over its 3x3 neighbourhood (zero padded, as
    `AvgPool2d(3, 1, 1)`), layer 3 upsampled bilinearly to layer 2's resolution and concatenated. The
    bank: the greedy coreset of every training patch. Image score: s* reweighted by
    1 - exp|m_test* - m*| / sum over the b bank neighbours m of m* of exp|m_test* - m| (the paper's eq. 7,
    as anomalib computes it; b = 1 leaves s*). Anomaly map: each patch's distance to its nearest
    bank entry, upsampled to the image and blurred.
    """

    memory_bank: Tensor | None

    def __init__(self, backbone: ResNetBackbone, coreset_ratio: float, num_neighbors: int, blur_sigma: float,
                 seed: int, max_memory_mb: float):
        super().__init__()
        self.backbone = channels_last(backbone)  # NHWC: faster CPU convolutions, same values
        self.dim = sum(backbone.channels[name] for name in PATCHCORE_LAYERS)
        self.coreset_ratio, self.num_neighbors, self.blur_sigma = coreset_ratio, num_neighbors, blur_sigma
        self.seed, self.max_memory_mb = seed, max_memory_mb
        self.patches: list[Tensor] = []  # (n_i, D) training patches, until finish()
        self.register_buffer("memory_bank", None)  # (M, D) float32 once fitted
        self.search: NearestNeighbours | None = None

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> locally aware patch features (B, D, h, w), layer-2 resolution."""
        return self.patches_of(images).permute(0, 3, 1, 2)

    @torch.no_grad()
    def patches_of(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> the same features as (B, h, w, D), contiguous."""
        return in_chunks(self._patches, images)

    def _patches(self, images: Tensor) -> Tensor:
        features = self.backbone.features(to_nhwc(images), PATCHCORE_LAYERS)
        pooled = [F.avg_pool2d(features[name], 3, stride=1, padding=1) for name in PATCHCORE_LAYERS]
        size = pooled[0].shape[-2:]
        pooled = [p if p.shape[-2:] == size else F.interpolate(p, size=size, mode="bilinear") for p in pooled]
        return torch.cat(pooled, dim=1).permute(0, 2, 3, 1).contiguous()  # (b, h, w, D)

    @torch.no_grad()
    def update(self, images: Tensor) -> None:
        patches = self.patches_of(images).view(-1, self.dim)  # (B*h*w, D)
        total = sum(p.shape[0] for p in self.patches) + patches.shape[0]
        held = fit_memory_mb(total, self.dim, self.coreset_ratio)
        if sum(held) > self.max_memory_mb:
            raise TrainingError(
                f"PatchCore would hold {sum(held):.0f} MB for {total} training patches of {self.dim} "
                f"features ({held[0]:.0f} MB of patches, {held[1]:.0f} MB of projection, {held[2]:.0f} MB of "
                f"memory bank at coreset_ratio={self.coreset_ratio}), over max_memory_mb="
                f"{self.max_memory_mb:g}; lower coreset_ratio, data.resize / data.crop or the training "
                "images, or raise max_memory_mb"
            )
        self.patches.append(patches)

    @torch.no_grad()
    def finish(self) -> None:
        """Reduce the collected patches to the coreset memory bank; the patches are then dropped."""
        if not self.patches:
            raise DataError("PatchCore got no training images to fit")
        chosen = coreset_indices(self.patches, self.coreset_ratio, self.seed)
        self.memory_bank = gather_rows(self.patches, chosen)
        self.patches = []
        self.search = NearestNeighbours(self.memory_bank)

    @torch.no_grad()
    def image_scores(self, patch_scores: Tensor, nearest: Tensor, patches: Tensor) -> Tensor:
        """(B, P) distances, (B, P) bank indices, (B, P, D) patches -> reweighted image scores (B,)."""
        if self.num_neighbors == 1 or self.memory_bank is None or self.search is None:
            return patch_scores.amax(dim=1)
        rows = torch.arange(patch_scores.shape[0], device=patch_scores.device)
        worst = patch_scores.argmax(dim=1)  # (B,) the patch of s*
        star = patch_scores[rows, worst]  # (B,) s*
        test_star = patches[rows, worst]  # (B, D) m_test*
        bank_star = self.memory_bank[nearest[rows, worst]]  # (B, D) m*
        _, support = self.search.search(bank_star, self.num_neighbors)  # (B, b), m* itself first
        neighbourhood = self.memory_bank[support]  # (B, b, D) N_b(m*)
        distances = torch.linalg.vector_norm(test_star.unsqueeze(1) - neighbourhood, dim=2)  # (B, b)
        return (1 - distances.softmax(dim=1)[:, 0]) * star

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised images (B, 3, H, W) -> (image scores (B,), anomaly maps (B, 1, H, W)), scored
        FORWARD_CHUNK images at a time (memory stays that of a few images whatever B is)."""
        parts = [self._score(part) for part in images.split(FORWARD_CHUNK)]
        return torch.cat([scores for scores, _ in parts]), torch.cat([maps for _, maps in parts])

    def _score(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if self.search is None:
            raise RuntimeError("PatchcoreModel scored before finish(): fit it on normal images first")
        features = self.patches_of(images)
        batch, height, width, dim = features.shape
        patches = features.view(batch, height * width, dim)  # (B, P, D)
        distances, nearest = self.search.search(patches.reshape(-1, dim), 1)  # (B*P, 1) each
        patch_scores, nearest = distances.view(batch, -1), nearest.view(batch, -1)  # (B, P)
        scores = self.image_scores(patch_scores, nearest, patches)
        size = (images.shape[-2], images.shape[-1])
        maps = to_image_size(patch_scores.view(batch, 1, height, width), size, self.blur_sigma)
        return scores, maps


@register("evaluate", PatchcoreParams, task="anomaly",
          summary="PatchCore: a coreset bank of layer 2-3 patches, nearest-neighbour anomaly maps")
def build(params: PatchcoreParams, ctx: BuildContext) -> OnePassEvaluator:
    model = PatchcoreModel(frozen_backbone(ctx), params.coreset_ratio, params.num_neighbors,
                           params.blur_sigma, ctx.seed, params.max_memory_mb)
    return OnePassEvaluator(model.to(ctx.device).eval(), ctx)
