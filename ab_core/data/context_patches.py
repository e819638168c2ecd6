"""Doersch et al.'s context-prediction patches: a jittered 3x3 grid with gaps, and colour guards per patch.

Label k in 0..7 names where a neighbour sits relative to the centre patch, in reading order (the
paper's Fig. 2 numbers them 1..8): NEIGHBOURS[k] is its (row, column) step from the centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ab_core.data.augment import colour_jitter, normalize

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
CENTRE = 4  # index of the centre patch in the 3x3 grid, read row by row
NEIGHBOUR_CELLS = tuple(3 * (1 + dr) + (1 + dc) for dr, dc in NEIGHBOURS)  # (0, 1, 2, 3, 5, 6, 7, 8)
GREEN_MAGENTA = (-1.0, 2.0, -1.0)  # the paper's colour axis a, projected out by "projection"
ColourGuard = Literal["drop", "project", "jitter", "none"]


def grid_extent(patch: int, gap: int, jitter: int) -> int:
    """Side of the square a jittered 3x3 grid needs: 3 patches, 2 gaps, a jitter margin at each end."""
    return 3 * patch + 2 * gap + 2 * jitter


def patch_grid(images: Tensor, patch: int, gap: int, jitter: int) -> Tensor:
    """A 3x3 grid of `patch` x `patch` crops per image, cells `patch + gap` apart, the grid placed at
    random and each patch moved by up to `jitter` pixels in each direction (the paper: 96 px patches,
    48 px gaps, 7 px jitter). (B, C, H, W) -> (B, 9, C, patch, patch), cells in reading order."""
    batch, _, height, width = images.shape
    extent = grid_extent(patch, gap, jitter)
    if extent > min(height, width):
        raise ValueError(
            f"a 3x3 grid of {patch} px patches with {gap} px gaps and {jitter} px jitter needs "
            f"{extent} px, the images are {height}x{width}"
        )
    device = images.device
    cell = torch.arange(3, device=device).repeat_interleave(3) * (patch + gap)  # (9,) row offsets
    cell_cols = torch.arange(3, device=device).repeat(3) * (patch + gap)  # (9,) column offsets

    def starts(side: int, offsets: Tensor) -> Tensor:  # (B, 9) top-left coordinate of each patch
        origin = jitter + torch.randint(0, side - extent + 1, (batch, 1), device=device)
        shake = torch.randint(-jitter, jitter + 1, (batch, 9), device=device)
        return origin + offsets + shake

    top, left = starts(height, cell), starts(width, cell_cols)
    steps = torch.arange(patch, device=device)
    rows = (top.unsqueeze(2) + steps).view(batch, 9, 1, patch, 1)  # (B, 9, 1, p, 1)
    cols = (left.unsqueeze(2) + steps).view(batch, 9, 1, 1, patch)  # (B, 9, 1, 1, p)
    index = torch.arange(batch, device=device).view(batch, 1, 1, 1, 1)
    channel = torch.arange(images.shape[1], device=device).view(1, 1, -1, 1, 1)
    return images[index, channel, rows, cols]  # (B, 9, C, p, p)


def project_out_green_magenta(x: Tensor) -> Tensor:
    """"Shift green and magenta toward gray": every pixel times B = I - a a^T / (a^T a), a = (-1, 2, -1).
    (N, 3, h, w) -> (N, 3, h, w)."""
    a = torch.tensor(GREEN_MAGENTA, dtype=x.dtype, device=x.device)
    projection = torch.eye(3, dtype=x.dtype, device=x.device) - torch.outer(a, a) / a.dot(a)  # (3, 3)
    return torch.einsum("ij,njhw->nihw", projection, x)


def drop_colours(x: Tensor) -> Tensor:
    """"Randomly drop 2 of the 3 color channels from each patch, replacing the dropped colors with
    Gaussian noise (standard deviation ~1/100 the standard deviation of the remaining channel)".
    (N, 3, h, w) normalised patches -> (N, 3, h, w)."""
    count = x.shape[0]
    kept = torch.randint(0, 3, (count,), device=x.device)
    keep = torch.nn.functional.one_hot(kept, 3).to(torch.bool).view(count, 3, 1, 1)  # (N, 3, 1, 1)
    remaining = x[torch.arange(count, device=x.device), kept]  # (N, h, w)
    noise = torch.randn_like(x) * (remaining.flatten(1).std(dim=1) / 100).view(count, 1, 1, 1)
    return torch.where(keep, x, noise)


def guarded_patches(
    patches: Tensor, guard: ColourGuard, mean: Sequence[float], std: Sequence[float]
) -> Tensor:
    """uint8 (N, 3, h, w) patches -> normalised float (N, 3, h, w) with the colour guard applied to each
    patch on its own: "drop" and "project" are the paper's two answers to chromatic aberration, "jitter"
    a SimCLR colour jitter per patch, "none" leaves colour alone."""
    x = patches.float() / 255.0
    if guard == "project":
        x = project_out_green_magenta(x)
    elif guard == "jitter":
        x = colour_jitter(x)
    out = normalize(x, mean, std)
    return drop_colours(out) if guard == "drop" else out
