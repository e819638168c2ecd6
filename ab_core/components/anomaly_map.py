"""Anomaly-map post-processing shared by the evaluators: upsample to the image, Gaussian blur, max score."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernel1d(sigma: float, device: torch.device | None = None) -> Tensor:
    """A normalised 1-D Gaussian of radius round(4 sigma), as scipy and anomalib truncate it."""
    radius = max(int(4.0 * sigma + 0.5), 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _symmetric_pad(maps: Tensor, radius: int, dim: int) -> Tensor:
    """Pad `dim` by `radius` per side as scipy's "reflect" does (d c b a | a b c d | d c b a), any radius."""
    size = maps.shape[dim]
    index = torch.arange(-radius, size + radius, device=maps.device) % (2 * size)
    index = torch.where(index >= size, 2 * size - 1 - index, index)
    return maps.index_select(dim, index)


def gaussian_blur(maps: Tensor, sigma: float, border: Literal["mirror", "symmetric"] = "mirror") -> Tensor:
    """Separable blur of (B, 1, H, W) maps; sigma <= 0 returns them unchanged. Borders: "mirror" (d c b |
    a b c d, scipy's "mirror", torch's "reflect") or "symmetric" (c b a | a b c, scipy's default "reflect",
    as `scipy.ndimage.gaussian_filter` blurs the RegAD and PaDiM reference maps)."""
    if sigma <= 0:
        return maps
    kernel = gaussian_kernel1d(sigma, maps.device).to(maps.dtype)
    radius = kernel.numel() // 2
    out = maps
    for shape in ((1, 1, 1, -1), (1, 1, -1, 1)):  # along W, then along H
        if border == "symmetric":
            out = F.conv2d(_symmetric_pad(out, radius, -1 if shape[-1] == -1 else -2), kernel.view(shape))
            continue
        pad = (radius, radius, 0, 0) if shape[-1] == -1 else (0, 0, radius, radius)
        size = out.shape[-1] if shape[-1] == -1 else out.shape[-2]
        mode = "reflect" if radius < size else "replicate"  # reflect needs pad < size
        out = F.conv2d(F.pad(out, pad, mode=mode), kernel.view(shape))
    return out


def to_image_size(maps: Tensor, size: tuple[int, int], sigma: float,
                  border: Literal["mirror", "symmetric"] = "mirror") -> Tensor:
    """(B, 1, h, w) patch scores -> (B, 1, H, W) map: bilinear upsampling, then the Gaussian blur."""
    maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return gaussian_blur(maps, sigma, border)


def image_scores(maps: Tensor) -> Tensor:
    """(B, 1, H, W) -> (B,): the maximum of each map."""
    return maps.flatten(1).amax(dim=1)

