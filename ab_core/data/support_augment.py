"""RegAD's fixed augmentation of a few-shot support set: 21 transformed copies beside each original image.

As the reference test code: 8 small rotations, 8 shifts (reflected borders), a horizontal flip, a
greyscale copy and the three right-angle rotations, applied to images in [0, 1] before normalisation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ab_core.components.spatial_transformer import rotation, translation, warp
from ab_core.data.augment import grey

SMALL_ANGLES = tuple(sign * math.pi * n / 16 for sign in (-1, 1) for n in (4, 3, 2, 1))  # +-pi/4 .. +-pi/16
SHIFTS = (
    (0.2, 0.2),
    (-0.2, 0.2),
    (-0.2, -0.2),
    (0.2, -0.2),
    (0.1, 0.1),
    (-0.1, 0.1),
    (-0.1, -0.1),
    (0.1, -0.1),
)
VIEWS_PER_IMAGE = 1 + len(SMALL_ANGLES) + len(SHIFTS) + 1 + 1 + 3


def _affine(images: Tensor, theta: Tensor) -> Tensor:
    return warp(images, theta.to(images.device).expand(images.shape[0], 2, 3))


def support_views(images: Tensor) -> Tensor:
    """Float images in [0, 1] (K, 3, H, W) -> (22 K, 3, H, W): the originals first, then each transform of
    all K images in turn."""
    views = [images]
    views += [_affine(images, rotation(angle)) for angle in sorted(SMALL_ANGLES)]
    views += [_affine(images, translation(dx, dy)) for dx, dy in SHIFTS]
    views.append(images.flip(-1))  # horizontal flip
    views.append(grey(images).expand(-1, 3, -1, -1))
    views += [torch.rot90(images, k, dims=(-2, -1)) for k in (1, 2, 3)]
    return torch.cat(views)
