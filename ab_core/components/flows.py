"""Conditional normalising flows on feature vectors: FrEIA-style all-in-one affine coupling blocks.

The block is written here rather than taken from FrEIA (one dependency less); it follows the
`AllInOneBlock` of FrEIA 0.2 that CFlow-AD and anomalib's `Cflow` build their decoders from, with the
options they use: hard permutation, SOFTPLUS global affine, no GIN, no Householder, no pre-permutation.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def subnet_fc(dims_in: int, dims_out: int) -> nn.Sequential:
    """The coupling subnet of CFlow-AD: Linear(in, 2 in), ReLU, Linear(2 in, out)."""
    return nn.Sequential(nn.Linear(dims_in, 2 * dims_in), nn.ReLU(), nn.Linear(2 * dims_in, dims_out))


class ConditionalAffineCoupling(nn.Module):
    """One FrEIA `AllInOneBlock` (Ardizzone et al.) as CFlow-AD uses it: "affine coupling, permutation
    and global affine transformation ('ActNorm')" in one invertible block, conditioned on a vector.

    Forward, x (N, C) split into x1 (C - C//2) and x2 (C//2), condition c (N, P):
        a = 0.1 * subnet([x1, c]);  s = clamp * tanh(a[:, :C//2]);  t = a[:, C//2:]
        y = [x1, x2 * exp(s) + t] * g + b,  then a fixed channel permutation,
    with the global scale g = 0.1 * softplus_{beta=0.5}(global_scale) > 0 (1 at init) and offset b;
    log|det J| = sum(s) + sum(log g). `inverse` undoes it exactly (the subnet only sees x1 and c).
    """

    perm: Tensor
    perm_inverse: Tensor

    def __init__(self, channels: int, condition: int, clamp: float = 1.9,
                 generator: torch.Generator | None = None):
        super().__init__()
        if channels < 2:
            raise ValueError(f"a coupling block needs at least 2 channels, got {channels}")
        self.splits = [channels - channels // 2, channels // 2]
        self.clamp = clamp
        self.subnet = subnet_fc(self.splits[0] + condition, 2 * self.splits[1])
        init = 2.0 * math.log(math.exp(0.5 * 10.0 * 1.0) - 1)  # softplus activation -> global scale 1.0
        self.global_scale = nn.Parameter(torch.full((1, channels), init))
        self.global_offset = nn.Parameter(torch.zeros(1, channels))
        perm = torch.randperm(channels, generator=generator)
        self.register_buffer("perm", perm)  # output channel i is channel perm[i]
        self.register_buffer("perm_inverse", torch.argsort(perm))

    def scale(self) -> Tensor:
        """The global affine scale g (1, C), SOFTPLUS activation: 0.1 * softplus(global_scale, beta 0.5)."""
        return 0.1 * F.softplus(self.global_scale, beta=0.5)

    def _coefficients(self, x1: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        a = 0.1 * self.subnet(torch.cat([x1, condition], dim=1))  # (N, 2 * C2)
        return self.clamp * torch.tanh(a[:, : self.splits[1]]), a[:, self.splits[1] :]  # s, t: (N, C2)

    def forward(self, x: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, C), condition (N, P) -> (z (N, C), log|det dz/dx| (N,))."""
        x1, x2 = torch.split(x, self.splits, dim=1)
        s, t = self._coefficients(x1, condition)
        scale = self.scale()
        y = torch.cat([x1, x2 * torch.exp(s) + t], dim=1) * scale + self.global_offset
        return y[:, self.perm], s.sum(dim=1) + torch.log(scale).sum()

    def inverse(self, z: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """z (N, C), condition (N, P) -> (x (N, C), log|det dx/dz| (N,))."""
        scale = self.scale()
        y = (z[:, self.perm_inverse] - self.global_offset) / scale
        x1, y2 = torch.split(y, self.splits, dim=1)
        s, t = self._coefficients(x1, condition)
        return torch.cat([x1, (y2 - t) * torch.exp(-s)], dim=1), -s.sum(dim=1) - torch.log(scale).sum()


class ConditionalFlow(nn.Module):
    """A chain of `blocks` conditional coupling blocks: CFlow-AD's decoder ("freia-cflow") for one layer.

    "The decoder ... is a conditional normalizing flow ... trained to maximize the log-likelihood of
    the encoder's feature vectors given their positional encoding" (Gudovskiy et al., WACV 2022).
    """

    def __init__(self, channels: int, condition: int, blocks: int = 8, clamp: float = 1.9,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.channels = channels
        self.blocks = nn.ModuleList(
            ConditionalAffineCoupling(channels, condition, clamp, generator) for _ in range(blocks)
        )

    def couplings(self) -> list[ConditionalAffineCoupling]:
        return cast(list[ConditionalAffineCoupling], list(self.blocks))

    def forward(self, x: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, C), condition (N, P) -> (z (N, C), log|det dz/dx| (N,))."""
        log_det = x.new_zeros(x.shape[0])
        for block in self.couplings():
            x, block_log_det = block(x, condition)
            log_det = log_det + block_log_det
        return x, log_det

    def inverse(self, z: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """z (N, C), condition (N, P) -> (x (N, C), log|det dx/dz| (N,))."""
        log_det = z.new_zeros(z.shape[0])
        for block in reversed(self.couplings()):
            z, block_log_det = block.inverse(z, condition)
            log_det = log_det + block_log_det
        return z, log_det

    def log_likelihood_per_dim(self, x: Tensor, condition: Tensor) -> Tensor:
        """log p(x | c) / C (N,), standard normal base: (-C ln sqrt(2 pi) - |z|^2 / 2 + log|det J|) / C."""
        z, log_det = self(x, condition)
        return gaussian_log_likelihood(z, log_det) / self.channels


def gaussian_log_likelihood(z: Tensor, log_det: Tensor) -> Tensor:
    """CFlow-AD's `get_logp`: log N(z; 0, I) + log|det J|, summed over the C channels of z (N, C) -> (N,)."""
    return -z.shape[1] * LOG_SQRT_2PI - 0.5 * z.square().sum(dim=1) + log_det
