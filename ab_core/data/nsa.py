"""NSA synthetic anomalies (Schlüter et al. 2022): resized patches of another image, Poisson-blended,
with the paper's logistic intensity label.

`nsa_anomalies` follows the official `patch_ex` (hmsch/natural-synthetic-anomalies) without object
masks: a half-width per side of (0.03 + Gamma(2, 0.05)) x side clipped to `bounds`,
a resize by clip(N(1, 0.5), 0.7, 1.3), a destination anywhere the box fits with a 1-pixel margin,
seamless cloning as `cv2.seamlessClone` does it for NSA's zero-bordered mask (checked equal to OpenCV's
output), up to `patches` of them, then `logistic_label`. Not reproduced: object masks (`skip_background`),
its ellipse masks, and OpenCV's 1-pixel shift of odd-width patches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ab_core.data.poisson import Gradients, poisson_blend

_DISK5 = torch.tensor([[i * i + j * j <= 25 for j in range(-5, 6)] for i in range(-5, 6)])  # skimage disk(5)
_SQUARE5 = torch.ones(5, 5, dtype=torch.bool)  # cv2.medianBlur(ksize=5)
MIN_SIDE = 5  # a box whose zero-bordered mask still has an interior to solve


def median_filter(x: Tensor, footprint: Tensor) -> Tensor:
    """Median over `footprint` (odd (k, l) bool, an odd number of True) around each pixel of (B, 1, H, W),
    edges replicated: scipy.ndimage.median_filter(mode="nearest"), which skimage's median calls."""
    rows, cols = footprint.shape
    padded = F.pad(x, (cols // 2, cols // 2, rows // 2, rows // 2), mode="replicate")
    picked = torch.nonzero(footprint.flatten()).flatten().to(x.device)
    out = torch.empty_like(x)
    chunk = max(1, 2**24 // (len(picked) * x.shape[2] * x.shape[3]))  # bound the unfolded memory
    for start in range(0, x.shape[0], chunk):
        windows = F.unfold(padded[start : start + chunk], (rows, cols))[:, picked]  # (b, |footprint|, H*W)
        out[start : start + chunk] = windows.median(dim=1).values.view(-1, 1, x.shape[2], x.shape[3])
    return out


def logistic_label(
    dest: Tensor, blended: Tensor, box_mask: Tensor, k: float, x0: float, tol: float = 1.0
) -> Tensor:
    """NSA's "logistic-intensity" label from uint8 (B, C, H, W) images and the (B, 1, H, W) patch box:

    changed = medianblur_5(mean_c |dest - blended| > tol inside the box);
    intensity = median_disk5(changed * mean_c |dest - blended|);
    label = changed / (1 + exp(-k (intensity - x0))), in [0, 1], intensities in 0-255 units.
    """
    diff = (dest.float() - blended.float()).abs().mean(dim=1, keepdim=True) * box_mask.float()  # (B, 1, H, W)
    changed = median_filter((diff > tol).float(), _SQUARE5.to(diff.device))
    intensity = median_filter(changed * diff, _DISK5.to(diff.device))
    return changed * torch.sigmoid(k * (intensity - x0))


def _sides(batch: int, side: int, bounds: tuple[float, float], device: torch.device) -> Tensor:
    """(B,) full patch sides: 2 x half-width, half-width (0.03 + Gamma(2, 0.05)) x side in bounds x side."""
    gamma = torch.distributions.Gamma(torch.tensor(2.0, device=device), torch.tensor(1 / 0.05, device=device))
    half = ((0.03 + gamma.sample((batch,))) * side).clamp(bounds[0] * side, bounds[1] * side)
    return (2 * half).round().long().clamp(min=MIN_SIDE)


def nsa_anomalies(
    images: Tensor,
    bounds: tuple[float, float] = (0.03, 0.4),
    gradients: Gradients = "source",
    k: float = 1 / 6,
    x0: float = 20.0,
    tol: float = 1.0,
    erosion: int = 3,
    patches: int = 1,
) -> tuple[Tensor, Tensor]:
    """NSA anomalies: patches of another image of the batch, resized, blended elsewhere, labelled.

    As the official code: the first of `patches` always, each further one on a coin flip, each blended
    onto the result so far from the same donor; the label compares the result with the original inside
    the union of the boxes. `erosion`: pixels inside the solved region still guided by the destination
    (OpenCV's 3; 0 = Pérez). uint8 (B, 3, H, W) -> (uint8 (B, 3, H, W), float (B, 1, H, W) in [0, 1]).
    """
    batch = images.shape[0]
    shift = int(torch.randint(1, batch, (1,)).item()) if batch > 1 else 0
    donor = images[(torch.arange(batch, device=images.device) + shift) % batch]  # another image of the batch
    blended, boxes = images, torch.zeros_like(images[:, :1], dtype=torch.bool)
    for index in range(patches):
        candidate, box = _blend_patch(blended, donor, bounds, gradients, erosion)
        chosen = torch.ones(batch, 1, 1, 1, dtype=torch.bool, device=images.device)
        if index > 0:
            chosen = torch.rand(batch, 1, 1, 1, device=images.device) < 0.5
        blended = torch.where(chosen, candidate, blended)
        boxes = boxes | (box & chosen)
    return blended, logistic_label(images, blended, boxes, k, x0, tol)


def _blend_patch(
    images: Tensor, donors: Tensor, bounds: tuple[float, float], gradients: Gradients, erosion: int
) -> tuple[Tensor, Tensor]:
    """One patch of each donor blended into each image: (uint8 (B, 3, H, W), bool (B, 1, H, W) box)."""
    batch, _, height, width = images.shape
    device = images.device
    src_h, src_w = _sides(batch, height, bounds, device), _sides(batch, width, bounds, device)
    src_top = (torch.rand(batch, device=device) * (height - src_h + 1)).floor().long()
    src_left = (torch.rand(batch, device=device) * (width - src_w + 1)).floor().long()
    # resized, aspect kept; like the official code, the resized sides are clipped to the half-width
    # bounds (bounds x side), and here also to a 1-pixel margin and at least MIN_SIDE
    scale = torch.randn(batch, device=device).mul(0.5).add(1).clamp(0.7, 1.3)
    low_h, high_h = max(MIN_SIDE, bounds[0] * height), max(MIN_SIDE, min(height - 2.0, bounds[1] * height))
    low_w, high_w = max(MIN_SIDE, bounds[0] * width), max(MIN_SIDE, min(width - 2.0, bounds[1] * width))
    dst_h = (src_h * scale).clamp(low_h, high_h)
    dst_w = (dst_h / src_h * src_w).floor().clamp(low_w, high_w).floor()
    dst_h = (dst_w / src_w * src_h).floor().clamp(low_h, high_h).floor().long()
    dst_w = dst_w.long()
    dst_top = 1 + (torch.rand(batch, device=device) * (height - 1 - dst_h)).floor().long()  # in [1, H-1-h]
    dst_left = 1 + (torch.rand(batch, device=device) * (width - 1 - dst_w)).floor().long()
    # the resized source patch in destination coordinates (bilinear, half-pixel centres like cv2.resize)
    rows = torch.arange(height, device=device).view(1, -1, 1).float()
    cols = torch.arange(width, device=device).view(1, 1, -1).float()
    scale_y, scale_x = (src_h / dst_h).view(-1, 1, 1), (src_w / dst_w).view(-1, 1, 1)
    src_rows = (rows - dst_top.view(-1, 1, 1) + 0.5) * scale_y - 0.5 + src_top.view(-1, 1, 1)
    src_cols = (cols - dst_left.view(-1, 1, 1) + 0.5) * scale_x - 0.5 + src_left.view(-1, 1, 1)
    # (B, H, 1) and (B, 1, W), the cut's edge replicated beyond it
    first_row, first_col = src_top.view(-1, 1, 1).float(), src_left.view(-1, 1, 1).float()
    src_rows = torch.clamp(src_rows, first_row, first_row + src_h.view(-1, 1, 1) - 1)
    src_cols = torch.clamp(src_cols, first_col, first_col + src_w.view(-1, 1, 1) - 1)
    grid_x = ((src_cols + 0.5) / width * 2 - 1).expand(-1, height, -1)  # (B, H, W)
    grid_y = ((src_rows + 0.5) / height * 2 - 1).expand(-1, -1, width)
    grid = torch.stack([grid_x, grid_y], dim=-1)  # (B, H, W, 2) as (x, y)
    placed = F.grid_sample(donors.float(), grid, mode="bilinear", align_corners=False)  # (B, 3, H, W)
    # NSA zeroes the mask's border, so OpenCV solves inside the box less its rim, the rim as boundary;
    # OpenCV truncates the solution to uint8
    inner = torch.stack([dst_top + 1, dst_left + 1, dst_h - 2, dst_w - 2], dim=1)  # (B, 4)
    blended = poisson_blend(images.float(), placed, inner, gradients, erosion)
    blended = blended.clamp(0, 255).floor().to(torch.uint8)
    in_rows = (rows >= dst_top.view(-1, 1, 1)) & (rows < (dst_top + dst_h).view(-1, 1, 1))
    in_cols = (cols >= dst_left.view(-1, 1, 1)) & (cols < (dst_left + dst_w).view(-1, 1, 1))
    box_mask = (in_rows & in_cols).unsqueeze(1)  # (B, 1, H, W)
    return blended, box_mask
