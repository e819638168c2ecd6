"""Synthetic defects for self-supervised anomaly pretraining: CutPaste and NSA-like blended patches.

Both are batched (one gather per batch, no loop over images), take and return uint8 (B, 3, H, W), draw
from the global torch RNG of the images' device, and give every image exactly one defect region with a
non-empty (B, 1, H, W) uint8 0/1 mask.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _randint(low: Tensor | int, high: Tensor, device: torch.device) -> Tensor:
    """(B,) integers uniform in [low, high] inclusive, per sample."""
    span = (high - low + 1).to(torch.float32)
    return (torch.rand(high.shape[0], device=device) * span).floor().long() + low


def _grids(height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
    rows = torch.arange(height, device=device).view(1, height, 1)  # (1, H, 1)
    cols = torch.arange(width, device=device).view(1, 1, width)  # (1, 1, W)
    return rows, cols


def _gather(images: Tensor, donor: Tensor, src_rows: Tensor, src_cols: Tensor) -> Tensor:
    """out[b, :, y, x] = images[donor[b], :, src_rows[b, y, x], src_cols[b, y, x]]."""
    batch, channels, height, width = images.shape
    flat = images.reshape(batch, channels, height * width)[donor]  # (B, 3, H*W)
    index = (src_rows * width + src_cols).reshape(batch, 1, height * width).expand(-1, channels, -1)
    return flat.gather(2, index).view(batch, channels, height, width)


def _boxes(
    batch: int,
    height: int,
    width: int,
    area: tuple[float, float],
    aspect: tuple[float, float],
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """(B,) box heights and widths with area fraction in `area` and log-uniform aspect (h / w) in `aspect`."""
    fraction = torch.rand(batch, device=device) * (area[1] - area[0]) + area[0]
    log_aspect = torch.rand(batch, device=device) * (math.log(aspect[1]) - math.log(aspect[0]))
    ratio = torch.exp(log_aspect + math.log(aspect[0]))
    box_h = torch.sqrt(fraction * height * width * ratio).round().long().clamp(2, max(2, height - 1))
    box_w = torch.sqrt(fraction * height * width / ratio).round().long().clamp(2, max(2, width - 1))
    return box_h, box_w


def cutpaste(images: Tensor) -> tuple[Tensor, Tensor]:
    """CutPaste (Li et al. 2021): "cut an image patch of different sizes and aspect ratios and paste it at
    a random location" of the same image, with a small colour change of the patch.

    Only pixels inside the returned mask change. uint8 (B, 3, H, W) -> (uint8 (B, 3, H, W), (B, 1, H, W)).
    """
    batch, _, height, width = images.shape
    device = images.device
    box_h, box_w = _boxes(batch, height, width, (0.02, 0.15), (0.3, 3.3), device)
    src_top, src_left = _randint(0, height - box_h, device), _randint(0, width - box_w, device)
    dst_top, dst_left = _randint(0, height - box_h, device), _randint(0, width - box_w, device)
    rows, cols = _grids(height, width, device)
    top, left = dst_top.view(-1, 1, 1), dst_left.view(-1, 1, 1)
    inside = (
        (rows >= top)
        & (rows < top + box_h.view(-1, 1, 1))
        & (cols >= left)
        & (cols < left + box_w.view(-1, 1, 1))
    )  # (B, H, W)
    src_rows = torch.where(inside, rows - top + src_top.view(-1, 1, 1), rows)
    src_cols = torch.where(inside, cols - left + src_left.view(-1, 1, 1), cols)
    pasted = _gather(images, torch.arange(batch, device=device), src_rows, src_cols)  # (B, 3, H, W)
    # the paper jitters the patch's colour; a per-image brightness change of +-(10-30)%
    gain = 1 + torch.where(torch.rand(batch, device=device) < 0.5, -1.0, 1.0) * (
        torch.rand(batch, device=device) * 0.2 + 0.1
    )
    jittered = (pasted.float() * gain.view(-1, 1, 1, 1)).round().clamp(0, 255).to(torch.uint8)
    mask = inside.unsqueeze(1)  # (B, 1, H, W)
    return torch.where(mask, jittered, images), mask.to(torch.uint8)


def _feathered_alpha(
    rows: Tensor, cols: Tensor, top: Tensor, left: Tensor, box_h: Tensor, box_w: Tensor
) -> Tensor:
    """(B, H, W) alpha: 1 in the box's core, easing (smoothstep) to 0 at its edges, 0 outside."""
    feather = (torch.minimum(box_h, box_w).float() * 0.3).clamp(min=1.0).view(-1, 1, 1)
    local_y = (rows - top.view(-1, 1, 1)).float() + 0.5
    local_x = (cols - left.view(-1, 1, 1)).float() + 0.5
    edge_y = torch.minimum(local_y, box_h.view(-1, 1, 1).float() - local_y)  # distance to the nearer edge
    edge_x = torch.minimum(local_x, box_w.view(-1, 1, 1).float() - local_x)
    ramp = (edge_y / feather).clamp(0, 1) * (edge_x / feather).clamp(0, 1)
    return ramp * ramp * (3 - 2 * ramp)


def blended_patch(images: Tensor) -> tuple[Tensor, Tensor]:
    """NSA-like (Schlüter et al. 2022, "Natural Synthetic Anomalies"): a patch of another image of the batch
    pasted at a random place and blended seamlessly.

    NSA blends with Poisson image editing; here a feathered (smoothstep) alpha plus a half shift of the
    patch's mean colour towards the destination's stands in for it, as whole-batch ops. The mask is where
    alpha >= 0.5; pixels change only inside the pasted box.
    uint8 (B, 3, H, W) -> (uint8 (B, 3, H, W), uint8 (B, 1, H, W)).
    """
    batch, _, height, width = images.shape
    device = images.device
    shift = int(torch.randint(1, batch, (1,)).item()) if batch > 1 else 0
    donor = (torch.arange(batch, device=device) + shift) % batch  # another image of the batch
    box_h, box_w = _boxes(batch, height, width, (0.03, 0.2), (0.5, 2.0), device)
    box_h, box_w = box_h.clamp(min=min(4, height)), box_w.clamp(min=min(4, width))
    src_top, src_left = _randint(0, height - box_h, device), _randint(0, width - box_w, device)
    dst_top, dst_left = _randint(0, height - box_h, device), _randint(0, width - box_w, device)
    rows, cols = _grids(height, width, device)
    src_rows = (rows - dst_top.view(-1, 1, 1) + src_top.view(-1, 1, 1)).clamp(0, height - 1)  # (B, H, 1)
    src_cols = (cols - dst_left.view(-1, 1, 1) + src_left.view(-1, 1, 1)).clamp(0, width - 1)  # (B, 1, W)
    patch = _gather(images, donor, src_rows.expand(-1, -1, width), src_cols.expand(-1, height, -1)).float()
    alpha = _feathered_alpha(rows, cols, dst_top, dst_left, box_h, box_w).unsqueeze(1)  # (B, 1, H, W)
    target = images.float()
    weight = alpha.sum(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1), > 0
    colour_shift = ((target - patch) * alpha).sum(dim=(2, 3), keepdim=True) / weight  # (B, 3, 1, 1)
    blended = alpha * (patch + 0.5 * colour_shift) + (1 - alpha) * target
    out = blended.round().clamp(0, 255).to(torch.uint8)
    return torch.where(alpha > 0, out, images), (alpha >= 0.5).to(torch.uint8)
