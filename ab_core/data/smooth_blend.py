"""SmoothBlend, SPD's local perturbation: a small colour-jittered patch of an image blended back into it with
a soft (Gaussian-blurred) edge, as whole-batch tensor ops."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ab_core.data.augment import apply_colour, colour_affine


def _uniform(count: int, low: float, high: float, device: torch.device) -> Tensor:
    return torch.rand(count, device=device) * (high - low) + low  # (count,)


def blurred_box(size: int, start: Tensor, length: Tensor, sigma: Tensor) -> Tensor:
    """The 1-D indicator of [start, start + length) convolved with a Gaussian of `sigma`, at pixel centres:
    0.5 * (erf((t - start) / (sigma sqrt 2)) - erf((t - start - length) / (sigma sqrt 2))).
    (B,) each -> (B, size), in [0, 1]."""
    t = torch.arange(size, device=start.device, dtype=torch.float32).view(1, -1) + 0.5  # (1, size)
    scale = (sigma * math.sqrt(2)).view(-1, 1)
    low, high = start.view(-1, 1), (start + length).view(-1, 1)
    return 0.5 * (torch.erf((t - low) / scale) - torch.erf((t - high) / scale))


def smooth_blend(
    x: Tensor,
    area: tuple[float, float] = (0.005, 0.02),
    jitter: float = 0.2,
    softness: float = 0.2,
) -> tuple[Tensor, Tensor]:
    """SmoothBlend (Zou et al., "SPot-the-Difference Self-Supervised Pre-training for Anomaly Detection and
    Segmentation", ECCV 2022): a small local perturbation that keeps the image natural. Per image, a patch
    of `area` (fraction of the image, aspect 1/2-2) is cut at a random place, its brightness, contrast,
    saturation each scaled by a factor in [1 - jitter, 1 + jitter] and its hue turned by up to jitter / 2
    turns, and alpha-blended at another random place through the box mask blurred by a Gaussian whose
    sigma is `softness` x the box's shorter side.

    float (B, 3, H, W) in [0, 1] -> (perturbed (B, 3, H, W), alpha (B, 1, H, W) in [0, 1]).
    """
    batch, _, height, width = x.shape
    device = x.device
    fraction = _uniform(batch, *area, device)
    aspect = torch.exp(_uniform(batch, math.log(0.5), math.log(2.0), device))  # h / w
    box_h = torch.sqrt(fraction * height * width * aspect).clamp(1.0, height - 1.0)  # (B,) pixels
    box_w = torch.sqrt(fraction * height * width / aspect).clamp(1.0, width - 1.0)
    src_top = torch.rand(batch, device=device) * (height - box_h)
    src_left = torch.rand(batch, device=device) * (width - box_w)
    dst_top = torch.rand(batch, device=device) * (height - box_h)
    dst_left = torch.rand(batch, device=device) * (width - box_w)

    # the whole image shifted so the source patch lands on the destination box (one grid_sample)
    shift_y = (src_top - dst_top) * 2 / height  # in grid units of [-1, 1]
    shift_x = (src_left - dst_left) * 2 / width
    theta = torch.zeros(batch, 2, 3, device=device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = 1, 1
    theta[:, 0, 2], theta[:, 1, 2] = shift_x, shift_y
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def factor() -> Tensor:
        return _uniform(batch, 1 - jitter, 1 + jitter, device)

    hue = _uniform(batch, -jitter / 2, jitter / 2, device)
    matrices, offsets = colour_affine(moved, factor(), factor(), factor(), hue)
    patch = apply_colour(moved, matrices, offsets)  # (B, 3, H, W): the jittered patch, everywhere

    sigma = (softness * torch.minimum(box_h, box_w)).clamp(min=0.3)  # (B,)
    alpha = blurred_box(height, dst_top, box_h, sigma).view(batch, 1, height, 1) * blurred_box(
        width, dst_left, box_w, sigma
    ).view(batch, 1, 1, width)  # (B, 1, H, W): the separable blurred box
    return alpha * patch + (1 - alpha) * x, alpha
