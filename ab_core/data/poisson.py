"""Poisson image editing (Pérez et al. 2003, "seamless cloning") of rectangular patches, solved exactly.

The interior of each box is solved by a direct discrete-sine-transform solve of the 5-point Poisson
equation with the destination as Dirichlet boundary: no iterations, no tolerance, pure torch.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Gradients = Literal["source", "mixed"]


def _sine_basis(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(size, size) DST-I matrix S[i, k] = sin(pi (i + 1)(k + 1) / (size + 1)); S @ S = (size + 1) / 2 I."""
    index = torch.arange(1, size + 1, dtype=dtype, device=device)
    return torch.sin(math.pi * index.view(-1, 1) * index.view(1, -1) / (size + 1))


def solve_dirichlet_poisson(rhs: Tensor) -> Tensor:
    """f with 4 f_p - sum of f over p's neighbours inside the grid = rhs_p, f = 0 outside (C, m, n).

    The 5-point Dirichlet Laplacian is diagonal in the DST-I basis, with eigenvalues
    4 sin^2(pi k / 2(m + 1)) + 4 sin^2(pi l / 2(n + 1)).
    """
    _, rows, cols = rhs.shape
    s_rows = _sine_basis(rows, rhs.dtype, rhs.device)  # (m, m)
    s_cols = _sine_basis(cols, rhs.dtype, rhs.device)  # (n, n)
    k = torch.arange(1, rows + 1, dtype=rhs.dtype, device=rhs.device).view(-1, 1)
    col = torch.arange(1, cols + 1, dtype=rhs.dtype, device=rhs.device).view(1, -1)
    eigen = 4 * torch.sin(math.pi * k / (2 * (rows + 1))) ** 2  # (m, 1) + (1, n) -> (m, n)
    eigen = eigen + 4 * torch.sin(math.pi * col / (2 * (cols + 1))) ** 2
    spectrum = s_rows @ rhs @ s_cols / eigen  # (C, m, n)
    return s_rows @ spectrum @ s_cols * (4.0 / ((rows + 1) * (cols + 1)))


def _forward_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """(C, h, w) -> x[p + right] - x[p], x[p + down] - x[p], each (C, h, w), 0 past the last column / row."""
    gx, gy = torch.zeros_like(x), torch.zeros_like(x)
    gx[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    gy[:, :-1, :] = x[:, 1:, :] - x[:, :-1, :]
    return gx, gy


def _guidance_divergence(source: Tensor, dest: Tensor, gradients: Gradients, margin: int) -> Tensor:
    """sum over the 4 neighbours q of v_pq for the interior pixels p of a (C, h, w) box -> (C, h-2, w-2).

    The guidance field is a forward gradient per pixel, the edges right of and below it: the source's
    ("source": Pérez eq. 11, importing gradients; OpenCV's NORMAL_CLONE), or, "mixed" (OpenCV's
    MIXED_CLONE rule), per pixel and channel the source's where |g_x - g_y| beats the destination's
    |f*_x - f*_y|, else the destination's. Pixels within `margin` of the box's edge keep the
    destination's own gradients: OpenCV's seamlessClone, which NSA's code calls, erodes the mask 3
    times, so the patch fades in over 3 pixels. Then sum_q v_pq = -(div v) with backward differences.
    """
    height, width = source.shape[-2:]
    guided = torch.zeros(height, width, dtype=torch.bool, device=source.device)  # (h, w)
    guided[margin : height - margin, margin : width - margin] = True
    src_x, src_y = _forward_gradients(source)
    dst_x, dst_y = _forward_gradients(dest)
    if gradients == "mixed":
        guided = guided & ((src_x - src_y).abs() > (dst_x - dst_y).abs())  # (C, h, w)
    v_x, v_y = torch.where(guided, src_x, dst_x), torch.where(guided, src_y, dst_y)
    divergence = (
        v_x[:, 1:-1, 1:-1] - v_x[:, 1:-1, :-2] + v_y[:, 1:-1, 1:-1] - v_y[:, :-2, 1:-1]
    )  # (C, h-2, w-2)
    return -divergence


def clone_box(source: Tensor, dest: Tensor, gradients: Gradients = "source", margin: int = 0) -> Tensor:
    """Seamless cloning of one (C, h, w) box, h, w >= 3: the rim keeps `dest`, the interior solves
    Pérez eq. 7, |N_p| f_p - sum_{q in N_p and Omega} f_q = sum_{q on the rim} f*_q + sum_q v_pq."""
    rhs = _guidance_divergence(source, dest, gradients, margin)  # (C, h-2, w-2)
    rhs[:, 0, :] += dest[:, 0, 1:-1]
    rhs[:, -1, :] += dest[:, -1, 1:-1]
    rhs[:, :, 0] += dest[:, 1:-1, 0]
    rhs[:, :, -1] += dest[:, 1:-1, -1]
    out = dest.clone()
    out[:, 1:-1, 1:-1] = solve_dirichlet_poisson(rhs)
    return out


def poisson_blend(
    dest: Tensor, source: Tensor, boxes: Tensor, gradients: Gradients = "source", margin: int = 0
) -> Tensor:
    """Seamlessly clone `source` into `dest` inside each image's box.

    dest, source: float (B, C, H, W), `source` already placed in the destination's coordinates;
    boxes: int (B, 4) rows of (top, left, height, width), each at least 3 x 3 and inside the image.
    `margin`: see `_guidance_divergence` (0: Pérez's cloning, the whole interior guided by the source).
    Returns float (B, C, H, W), unclamped: equal to `dest` outside each box's interior.
    """
    out = dest.clone()
    for index, (top, left, height, width) in enumerate(boxes.tolist()):
        if height < 3 or width < 3:
            raise ValueError(f"a Poisson box needs an interior: got {height} x {width}, need >= 3 x 3")
        region = (slice(top, top + height), slice(left, left + width))
        out[index, :, region[0], region[1]] = clone_box(
            source[index, :, region[0], region[1]].double(), dest[index, :, region[0], region[1]].double(),
            gradients,
            margin,
        ).to(dest.dtype)
    return out
