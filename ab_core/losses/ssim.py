"""SSIM and DRAEM's reconstruction loss (L2 + SSIM), for images in a known value range."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32) -> Tensor:
    """(size, size) normalised Gaussian weights, the outer product of the 1-D window."""
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    line = torch.exp(-(offsets**2) / (2 * sigma**2))
    line = line / line.sum()
    return (line[:, None] * line[None, :]).to(dtype)


def ssim_map(x: Tensor, y: Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> Tensor:
    """Per-pixel SSIM of (B, C, H, W) images (Wang et al., IEEE TIP 2004, eq. 13):

        SSIM = (2 mu_x mu_y + C1) (2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2)),

    local statistics under a Gaussian window (11 x 11, sigma 1.5) per channel, C1 = (0.01 L)^2 and
    C2 = (0.03 L)^2 with L = `data_range`. As DRAEM's loss.py, the window slides over a zero-padded image
    (the map keeps the image's size). -> (B, C, H, W).
    """
    channels = x.shape[1]
    weights = gaussian_window(window, sigma, x.dtype).to(x.device).expand(channels, 1, window, window)

    def local_mean(t: Tensor) -> Tensor:
        return F.conv2d(t, weights, padding=window // 2, groups=channels)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


class ReconstructionLoss(nn.Module):
    """DRAEM's reconstructive loss (Zavrtanik et al., ICCV 2021, eq. 2): "L_rec(I, I_r) = lambda
    L_SSIM(I, I_r) + l2(I, I_r)", with L_SSIM = 1 - mean SSIM (the authors' code uses lambda = 1).

    Images (B, 3, H, W) in [0, `data_range`]: the reconstruction and its target -> scalar loss; the last
    call's two terms are kept in `last` (detached) for the step's metrics.
    """

    def __init__(self, ssim_weight: float = 1.0, data_range: float = 1.0):
        super().__init__()
        if not (ssim_weight >= 0 and math.isfinite(ssim_weight)):
            raise ValueError(f"ssim_weight must be a finite number >= 0, got {ssim_weight}")
        self.ssim_weight, self.data_range = ssim_weight, data_range
        self.last: dict[str, Tensor] = {}

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        with torch.autocast(reconstruction.device.type, enabled=False):  # SSIM's variances need float32
            reconstruction, target = reconstruction.float(), target.float()
            l2 = F.mse_loss(reconstruction, target)
            ssim_loss = 1 - ssim_map(reconstruction, target, data_range=self.data_range).mean()
        self.last = {"l2": l2.detach(), "ssim_loss": ssim_loss.detach()}
        return l2 + self.ssim_weight * ssim_loss
