"""CutPaste's two augmentations (Li et al. 2021) as whole-batch tensor ops: the pasted patch and the scar.

Both take and return uint8 (B, 3, H, W), draw from the global torch RNG of the images' device, cut the
patch from the same image, colour-jitter it, and paste it wholly inside the image; the returned
(B, 1, H, W) uint8 0/1 mask marks the pasted pixels (the only ones that may change).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ab_core.data.augment import apply_colour, colour_affine
from ab_core.data.defects import _boxes, _gather, _grids, _randint


def _uniform(count: int, low: float, high: float, device: torch.device) -> Tensor:
    return torch.rand(count, device=device) * (high - low) + low  # (count,)


def jitter_patch(images: Tensor, pasted: Tensor, inside: Tensor, amount: float) -> Tensor:
    """torchvision's ColorJitter(brightness=amount, contrast=amount, saturation=amount, hue=amount) on
    the patch only: factors uniform in [1 - amount, 1 + amount], hue in [-amount, amount] turns.

    `pasted`: uint8 (B, 3, H, W) holding the patch where `inside` (B, 1, H, W) is true; returns uint8
    (B, 3, H, W), to be used inside the mask only.
    """
    batch, device = images.shape[0], images.device
    low = max(0.0, 1 - amount)
    brightness, contrast, saturation = (_uniform(batch, low, 1 + amount, device) for _ in range(3))
    hue = _uniform(batch, -amount, amount, device)
    return colour_patch(pasted, inside, brightness, contrast, saturation, hue)


def colour_patch(
    pasted: Tensor, inside: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor, hue: Tensor
) -> Tensor:
    """The (B,) factors applied to each patch as torchvision's adjust_brightness, adjust_contrast (its
    pivot the patch's own mean grey, as when the cut patch is jittered on its own), adjust_saturation and
    a hue turn, composed into one affine colour map and clamped once (torchvision shuffles the order,
    clamps after each step and turns hue in HSV). uint8 (B, 3, H, W) -> uint8 (B, 3, H, W)."""
    with torch.autocast(pasted.device.type, enabled=False):  # exact colours under bf16 training
        x = pasted.float() / 255.0
        weight = inside.float()
        area = weight.sum(dim=(2, 3), keepdim=True).clamp(min=1)  # (B, 1, 1, 1)
        patch_mean = (x * weight).sum(dim=(2, 3), keepdim=True) / area  # (B, 3, 1, 1)
        # a 1x1 "image" whose mean grey is the patch's: colour_affine reads only its mean
        matrices, offsets = colour_affine(patch_mean, brightness, contrast, saturation, hue)
        jittered = apply_colour(x, matrices, offsets)  # (B, 3, H, W) in [0, 1]
    return (jittered * 255).round().to(torch.uint8)


def cutpaste_patch(
    images: Tensor,
    area: tuple[float, float] = (0.02, 0.15),
    aspect: float = 0.3,
    jitter: float = 0.1,
) -> tuple[Tensor, Tensor]:
    """CutPaste: "cut a small rectangular area of variable sizes and aspect ratios from a normal training
    image and paste it back to an image at a random location". Area ratio uniform in `area`, aspect
    ratio (h / w) log-uniform in (aspect, 1 / aspect), i.e. (0.3, 1) U (1, 3.3); source and destination
    boxes uniform among the positions that keep the box inside the image.
    uint8 (B, 3, H, W) -> (uint8 (B, 3, H, W), uint8 (B, 1, H, W)).
    """
    batch, _, height, width = images.shape
    device = images.device
    box_h, box_w = _boxes(batch, height, width, area, (aspect, 1 / aspect), device)  # (B,) each
    src_top, src_left = _randint(0, height - box_h, device), _randint(0, width - box_w, device)
    dst_top, dst_left = _randint(0, height - box_h, device), _randint(0, width - box_w, device)
    rows, cols = _grids(height, width, device)
    top, left = dst_top.view(-1, 1, 1), dst_left.view(-1, 1, 1)
    inside = (rows >= top) & (rows < top + box_h.view(-1, 1, 1)) & (cols >= left)
    inside = inside & (cols < left + box_w.view(-1, 1, 1))  # (B, H, W)
    src_rows = torch.where(inside, rows - top + src_top.view(-1, 1, 1), rows)
    src_cols = torch.where(inside, cols - left + src_left.view(-1, 1, 1), cols)
    pasted = _gather(images, torch.arange(batch, device=device), src_rows, src_cols)  # (B, 3, H, W)
    mask = inside.unsqueeze(1)  # (B, 1, H, W)
    return torch.where(mask, jitter_patch(images, pasted, mask, jitter), images), mask.to(torch.uint8)


def scar_extent(width: float, length: float, max_degrees: float) -> float:
    """The largest side of the bounding box of a width x length scar turned by up to +-max_degrees."""
    angles = [0.0, math.radians(min(max_degrees, 90.0))]
    critical = math.atan2(length, width)  # where width*sin + length*cos peaks
    if critical <= angles[1]:
        angles.append(critical)
    sides = []
    for a in angles:
        cos, sin = abs(math.cos(a)), abs(math.sin(a))
        sides += [width * cos + length * sin, width * sin + length * cos]
    return max(sides)


def cutpaste_scar(
    images: Tensor,
    width: tuple[float, float] = (2.0, 16.0),
    length: tuple[float, float] = (10.0, 25.0),
    rotation: float = 45.0,
    jitter: float = 0.1,
) -> tuple[Tensor, Tensor]:
    """CutPaste-Scar: "a long-thin rectangular box filled with an image patch" (width uniform in `width`,
    length in `length` pixels, as the paper's 2-16 x 10-25), cut upright from the same image,
    colour-jittered, turned by an angle uniform in [-rotation, rotation] degrees and pasted where its
    turned bounding box lies inside the image. Nearest-neighbour resampling, as PIL's rotate.
    uint8 (B, 3, H, W) -> (uint8 (B, 3, H, W), uint8 (B, 1, H, W)).
    """
    batch, _, height, width_px = images.shape
    device = images.device
    needed = scar_extent(width[1], length[1], rotation)
    if needed > min(height, width_px):
        raise ValueError(
            f"a scar up to {width[1]:g} x {length[1]:g} px turned up to {rotation:g} degrees spans "
            f"{needed:.1f} px, more than the {height}x{width_px} image"
        )
    scar_w = _uniform(batch, *width, device).view(-1, 1, 1)  # (B, 1, 1)
    scar_l = _uniform(batch, *length, device).view(-1, 1, 1)
    angle = torch.deg2rad(_uniform(batch, -rotation, rotation, device)).view(-1, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    half_x = (scar_w * cos.abs() + scar_l * sin.abs()) / 2  # half sides of the turned bounding box
    half_y = (scar_w * sin.abs() + scar_l * cos.abs()) / 2

    def centre(half: Tensor, side: int) -> Tensor:  # (B, 1, 1) uniform in [half, side - half]
        return half + torch.rand_like(half) * (side - 2 * half).clamp(min=0)

    dst_y, dst_x = centre(half_y, height), centre(half_x, width_px)
    src_y, src_x = centre(scar_l / 2, height), centre(scar_w / 2, width_px)  # the upright cut
    rows, cols = _grids(height, width_px, device)
    dy, dx = rows + 0.5 - dst_y, cols + 0.5 - dst_x  # (B, H, W) pixel centre from the scar's centre
    u = cos * dx + sin * dy  # turned back into the scar's own frame: across its width
    v = -sin * dx + cos * dy  # along its length
    inside = (u.abs() <= scar_w / 2) & (v.abs() <= scar_l / 2)  # (B, H, W)
    src_rows = torch.where(inside, (src_y + v).floor().long().clamp(0, height - 1), rows.expand_as(inside))
    src_cols = torch.where(inside, (src_x + u).floor().long().clamp(0, width_px - 1), cols.expand_as(inside))
    pasted = _gather(images, torch.arange(batch, device=device), src_rows, src_cols)  # (B, 3, H, W)
    mask = inside.unsqueeze(1)  # (B, 1, H, W)
    return torch.where(mask, jitter_patch(images, pasted, mask, jitter), images), mask.to(torch.uint8)
