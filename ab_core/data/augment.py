"""Batched augmentations (SimCLR views, normalisation) as plain tensor ops: the same code on CPU and GPU.

Every random draw is per sample from the global torch RNG of the images' device, and no op loops over
samples, so two views of a batch cost a few whole-batch kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

_GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale
# RGB <-> YIQ: hue is an angle in the (I, Q) chroma plane
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """uint8 (B, 3, H, W) (or float in [0, 1]) -> float (B, 3, H, W), (x / 255 - mean) / std."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def _uniform(count: int, low: float, high: float, device: torch.device) -> Tensor:
    return torch.rand(count, device=device) * (high - low) + low  # (count,)


def grey(x: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luminance."""
    weights = torch.tensor(_GREY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def random_resized_crop(x: Tensor, flip: bool = True, min_scale: float = 0.2) -> Tensor:
    """A random crop of area [min_scale, 1] and aspect [3/4, 4/3] per sample, resampled back to (H, W).

    One affine_grid + grid_sample for the whole batch; a random horizontal flip folds into the same grid.
    """
    batch, device = x.shape[0], x.device
    area = _uniform(batch, min_scale, 1.0, device)
    aspect = torch.exp(_uniform(batch, math.log(3 / 4), math.log(4 / 3), device))
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fraction of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (torch.rand(batch, device=device) * 2 - 1) * (1 - width)  # in [-1, 1] grid units
    centre_y = (torch.rand(batch, device=device) * 2 - 1) * (1 - height)
    sign = torch.where(torch.rand(batch, device=device) < 0.5, -1.0, 1.0) if flip else torch.ones_like(width)
    theta = torch.zeros(batch, 2, 3, dtype=x.dtype, device=device)  # (B, 2, 3)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _hue_matrices(shift: Tensor) -> Tensor:
    """(B,) hue shifts in turns -> (B, 3, 3) RGB matrices turning chroma in YIQ (linear HSV-hue stand-in)."""
    to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=shift.dtype, device=shift.device)
    angle = shift * 2 * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(shift.shape[0], 3, 3, dtype=shift.dtype, device=shift.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    return torch.linalg.inv(to_yiq) @ rotation @ to_yiq


def _grey_matrix(x: Tensor) -> Tensor:
    """(3, 3) matrix whose every row gives the luminance: greyscale as a matrix."""
    return torch.tensor(_GREY_WEIGHTS, dtype=x.dtype, device=x.device).expand(3, 3)


def jitter_transform(x: Tensor, strength: float = 1.0, p: float = 0.8) -> tuple[Tensor, Tensor]:
    """SimCLR's colour jitter as one affine map per image: out = matrix @ rgb + offset.

    brightness, contrast, saturation factors in [1 - 0.4s, 1 + 0.4s], hue in [-0.1s, 0.1s] turns, each
    image jittered with probability p (identity otherwise). torchvision clamps after each of the four
    steps; composing them and clamping once is what makes this one pass over the pixels.
    Returns matrices (B, 3, 3) and offsets (B, 3).
    """
    batch, device, dtype = x.shape[0], x.device, x.dtype
    on = (torch.rand(batch, device=device) < p).to(dtype)  # (B,) 1 where jittered

    def factor(amount: float) -> Tensor:  # (B,); 1 where not jittered
        return 1 + on * (_uniform(batch, max(0.0, 1 - amount), 1 + amount, device) - 1)

    brightness, contrast, saturation = factor(0.4 * strength), factor(0.4 * strength), factor(0.4 * strength)
    hue = on * _uniform(batch, -0.1 * strength, 0.1 * strength, device)  # (B,)
    return colour_affine(x, brightness, contrast, saturation, hue)


def colour_affine(
    x: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor, hue: Tensor
) -> tuple[Tensor, Tensor]:
    """(B,) factors -> matrices (B, 3, 3), offsets (B, 3) of brightness, contrast, saturation, hue in turn."""
    dtype, device = x.dtype, x.device
    eye = torch.eye(3, dtype=dtype, device=device)
    # (B, 3, 3): s * x + (1 - s) * grey(x)
    saturate = saturation.view(-1, 1, 1) * eye + (1 - saturation).view(-1, 1, 1) * _grey_matrix(x)
    colour = _hue_matrices(hue.to(dtype)) @ saturate  # (B, 3, 3)
    mean_grey = (x.mean(dim=(2, 3)) * torch.tensor(_GREY_WEIGHTS, dtype=dtype, device=device)).sum(1)  # (B,)
    matrices = colour * (contrast * brightness).view(-1, 1, 1)
    offsets = colour.sum(2) * ((1 - contrast) * brightness * mean_grey).view(-1, 1)  # colour @ (k, k, k)
    return matrices, offsets


def greyscale_transform(x: Tensor, p: float = 0.2) -> Tensor:
    """(B, 3, 3): the greyscale matrix for each image chosen with probability p, identity for the others."""
    chosen = (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1)
    return torch.where(chosen, _grey_matrix(x), torch.eye(3, dtype=x.dtype, device=x.device))


def apply_colour(x: Tensor, matrices: Tensor, offsets: Tensor) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> clamp(matrices @ rgb + offsets) per pixel, one batched matmul."""
    batch, channels, height, width = x.shape
    out = torch.baddbmm(offsets.unsqueeze(2), matrices, x.reshape(batch, channels, height * width))
    return out.clamp_(0, 1).view(batch, channels, height, width)


def colour_jitter(x: Tensor, strength: float = 1.0, p: float = 0.8) -> Tensor:
    return apply_colour(x, *jitter_transform(x, strength, p))


def random_greyscale(x: Tensor, p: float = 0.2) -> Tensor:
    no_offset = torch.zeros(x.shape[0], 3, dtype=x.dtype, device=x.device)
    return apply_colour(x, greyscale_transform(x, p), no_offset)


def random_gaussian_blur(x: Tensor, p: float = 0.5, sigma: tuple[float, float] = (0.1, 2.0)) -> Tensor:
    """SimCLR's blur: kernel ~10% of the side, sigma in `sigma`, on each image with probability p."""
    chosen = torch.nonzero(torch.rand(x.shape[0], device=x.device) < p).flatten()
    if chosen.numel() == 0:
        return x
    picked = x[chosen]  # (b, 3, H, W)
    count, channels, height, width = picked.shape
    size = max(3, int(0.1 * min(height, width)) // 2 * 2 + 1)  # odd
    sigmas = _uniform(count, sigma[0], sigma[1], x.device).view(count, 1)
    offsets = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2  # (k,)
    kernels = torch.exp(-(offsets**2) / (2 * sigmas**2))  # (b, k)
    kernels = (kernels / kernels.sum(1, keepdim=True)).repeat_interleave(channels, 0)  # (b*3, k)
    planes = picked.reshape(1, count * channels, height, width)
    pad = size // 2
    planes = F.conv2d(
        F.pad(planes, (pad, pad, 0, 0), mode="reflect"), kernels.view(-1, 1, 1, size), groups=count * channels
    )
    planes = F.conv2d(
        F.pad(planes, (0, 0, pad, pad), mode="reflect"), kernels.view(-1, 1, size, 1), groups=count * channels
    )
    out = x.clone()
    out[chosen] = planes.view(count, channels, height, width)
    return out


def simclr_views(
    images: Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    aligned: bool = False,
    strength: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Two independently augmented, normalised views of uint8 (B, 3, H, W) images (Chen et al. 2020).

    SimCLR's recipe: random resized crop (scale 0.2-1) + horizontal flip, colour jitter (p=0.8),
    greyscale (p=0.2), Gaussian blur (p=0.5). aligned=True keeps the spatial layout (no crop, no flip)
    for dense / anomaly methods whose views must match pixel for pixel.
    """
    batch = images.shape[0]
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    x = torch.cat([x, x])  # (2B, 3, H, W): both views in one pass
    if not aligned:
        x = random_resized_crop(x, flip=True)
    matrices, offsets = jitter_transform(x, strength)
    grey = greyscale_transform(x)  # (2B, 3, 3)
    x = apply_colour(x, grey @ matrices, (grey @ offsets.unsqueeze(2)).squeeze(2))  # jitter then greyscale
    x = random_gaussian_blur(x)
    views = normalize(x, mean, std)
    return views[:batch], views[batch:]
