"""Spatial transformer on feature maps (RegAD's registration): a small localisation net predicts a 2-D
transform, the map is resampled by it, and the inverse warp maps registered features back.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

StnMode = Literal["rotation_scale", "affine", "translation"]
STN_MODES: tuple[str, ...] = get_args(StnMode)
N_PARAMS = {"rotation_scale": 3, "affine": 6, "translation": 2}  # what the localisation net outputs
IDENTITY_PARAMS = {  # the output bias at the start: every mode starts as the identity transform
    "rotation_scale": (0.0, 1.0, 1.0),  # angle, x scale, y scale
    "affine": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),  # the 2x3 matrix, row-major
    "translation": (0.0, 0.0),  # tx, ty
}


def pooled_size(size: int) -> int:
    """Side after one stride-2 step of the ResNet stem / localisation net (k3 p1 or k7 p3): ceil(size / 2)."""
    return (size + 1) // 2


def theta_of(params: Tensor, mode: str) -> Tensor:
    """The localisation net's output (B, n) -> the (B, 2, 3) matrix `F.affine_grid` takes.

    rotation_scale, as the RegAD reference builds it: [[s_x cos a, -sin a, 0], [sin a, s_y cos a, 0]].
    """
    if mode == "affine":
        return params.view(-1, 2, 3)
    zero, one = params.new_zeros(params.shape[0]), params.new_ones(params.shape[0])
    if mode == "translation":
        rows = [[one, zero, params[:, 0]], [zero, one, params[:, 1]]]
    elif mode == "rotation_scale":
        angle, scale_x, scale_y = params.unbind(dim=1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rows = [[cos * scale_x, -sin, zero], [sin, cos * scale_y, zero]]
    else:
        raise ValueError(f"unknown spatial transformer mode {mode!r}; accepted: {', '.join(STN_MODES)}")
    return torch.stack([torch.stack(row, dim=1) for row in rows], dim=1)  # (B, 2, 3)


def warp(maps: Tensor, theta: Tensor) -> Tensor:
    """Resample (B, C, H, W) at `theta` (B, 2, 3) applied to each output pixel's normalised coordinates;
    bilinear, reflected borders, align_corners False (the identity returns `maps` exactly)."""
    grid = F.affine_grid(theta.to(maps.dtype), list(maps.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def invert(theta: Tensor) -> Tensor:
    """(B, 2, 3) -> the (B, 2, 3) inverse transform (of [theta; 0 0 1]), detached, as the reference does."""
    bottom = theta.new_tensor([0.0, 0.0, 1.0]).expand(theta.shape[0], 1, 3)
    square = torch.cat([theta.detach(), bottom], dim=1).double()  # (B, 3, 3)
    return torch.linalg.inv(square)[:, :2, :].to(theta.dtype)


def rotation(angle: float) -> Tensor:
    """(1, 2, 3) rotation by `angle` radians about the centre."""
    cos, sin = math.cos(angle), math.sin(angle)
    return torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])


def translation(dx: float, dy: float) -> Tensor:
    """(1, 2, 3) shift by (dx, dy) in normalised coordinates ([-1, 1] spans the map)."""
    return torch.tensor([[[1.0, 0.0, dx], [0.0, 1.0, dy]]])


class SpatialTransformer(nn.Module):
    """Jaderberg et al. 2015 as RegAD uses it (Huang et al. 2022): "we adopt the spatial transformer
    network (STN) ... to perform feature registration", one after each of ResNet layers 1-3.

    Localisation net (the reference's): conv3x3 -> 64, BN, ReLU, maxpool /2, conv3x3 -> 16, BN, ReLU,
    maxpool /2, then FC 1024, ReLU, FC n_params. The last FC starts at weight 0 and the identity's
    parameters as bias, so the module starts as the identity whatever its input.
    """

    def __init__(self, channels: int, size: int, mode: StnMode = "rotation_scale"):
        super().__init__()
        if mode not in N_PARAMS:
            raise ValueError(f"unknown spatial transformer mode {mode!r}; accepted: {', '.join(STN_MODES)}")
        self.mode = mode
        self.localisation = nn.Sequential(
            nn.Conv2d(channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(64, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )  # fmt: skip
        side = pooled_size(pooled_size(size))
        self.regressor = nn.Sequential(nn.Linear(16 * side * side, 1024), nn.ReLU(True),
                                       nn.Linear(1024, N_PARAMS[mode]))  # fmt: skip
        last = self.regressor[2]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor(IDENTITY_PARAMS[mode]))

    def forward(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) -> (the warped maps (B, C, H, W), theta (B, 2, 3))."""
        params = self.regressor(self.localisation(maps).flatten(1))  # (B, n_params)
        theta = theta_of(params, self.mode)
        return warp(maps, theta), theta
