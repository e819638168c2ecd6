"""Conditional normalising flows on feature vectors: FrEIA-style all-in-one affine coupling blocks.

The block is written here rather than taken from FrEIA (one dependency less); it follows the
`AllInOneBlock` of FrEIA 0.2 that CFlow-AD and anomalib's `Cflow` build their decoders from, with the
options they use: hard permutation, SOFTPLUS global affine, no GIN, no Householder, no pre-permutation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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

    def _first_weights(self) -> tuple[Tensor, Tensor]:
        """The subnet's first weight split by input, (W_x (2 C1', C1), W_c (2 C1', P)): one split, so
        that its backward is one concatenation (two slices would each fill a zero weight-sized grad)."""
        first = cast(nn.Linear, self.subnet[0])
        return cast(tuple[Tensor, Tensor], torch.split(first.weight, [self.splits[0], first.in_features
                                                                      - self.splits[0]], dim=1))

    def project_condition(self, condition: Tensor) -> Tensor:
        """condition (M, P) -> its share of the subnet's first layer, W_c c + b (M, 2 C1'): the same
        for every fiber at one position, so it is computed once per position, not once per fiber."""
        return F.linear(condition, self._first_weights()[1], cast(nn.Linear, self.subnet[0]).bias)

    def _coefficients(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """The subnet's first layer's output (N, 2 C1') -> s, t (N, C2)."""
        a = 0.1 * self.subnet[2](self.subnet[1](hidden))  # (N, 2 C2)
        s, t = torch.split(a, self.splits[1], dim=1)  # a split, not slices: a cheaper backward
        return self.clamp * torch.tanh(s), t

    def forward(self, x: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, C), condition (N, P) -> (z (N, C), log|det dz/dx| (N,))."""
        x1, _ = torch.split(x, self.splits, dim=1)
        return self._couple(x, self.subnet[0](torch.cat([x1, condition], dim=1)))

    def forward_factored(self, x: Tensor, factors: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """`forward(x, c)` with fiber i's condition c_i = [table_1[index_1[i]], table_2[index_2[i]], ...]
        given as `factors` (table_k (M_k, P_k), index_k (N,)), sum P_k = P: W [x1; c] + b =
        W_x x1 + b + sum_k (W_k table_k)[index_k], each product once per table row (M_k <= N), its
        gradient summed per row, none formed for the condition: the same to float rounding."""
        x1, _ = torch.split(x, self.splits, dim=1)
        first = cast(nn.Linear, self.subnet[0])
        tables = [table for table, _ in factors]
        indices = [index for _, index in factors]
        hidden = _FactoredLinear.apply(x1, first.weight, first.bias, tables, indices)  # (N, 2 C1')
        return self._couple(x, hidden)

    def forward_projected(self, x: Tensor, projected: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """`forward(x, conditions[index])` given `project_condition(conditions)` (M, 2 C1') (inference)."""
        x1, _ = torch.split(x, self.splits, dim=1)
        return self._couple(x, torch.addmm(projected.index_select(0, index), x1, self._first_weights()[0].T))

    def _couple(self, x: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2 = torch.split(x, self.splits, dim=1)
        s, t = self._coefficients(hidden)
        scale = self.scale()
        y = torch.cat([x1, x2 * torch.exp(s) + t], dim=1) * scale + self.global_offset
        return _Permute.apply(y, self.perm, self.perm_inverse), s.sum(dim=1) + torch.log(scale).sum()

    def inverse(self, z: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """z (N, C), condition (N, P) -> (x (N, C), log|det dx/dz| (N,))."""
        scale = self.scale()
        y = (z[:, self.perm_inverse] - self.global_offset) / scale
        x1, y2 = torch.split(y, self.splits, dim=1)
        s, t = self._coefficients(self.subnet[0](torch.cat([x1, condition], dim=1)))
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

    def log_likelihood_per_dim(self, x: Tensor, condition: Tensor | Sequence[Tensor],
                               position: Sequence[Tensor] | None = None) -> Tensor:
        """log p(x | c) / C (N,), standard normal base: (-C ln sqrt(2 pi) - |z|^2 / 2 + log|det J|) / C.

        condition (N, P); or, with `position`, the condition in factors: tables (M_k, P_k) and each
        fiber's row of each, `position[k]` (N,), c_i = [table_1[position_1[i]], ...] (see
        `forward_factored`): fewer products, the same values and gradients to float rounding.
        """
        if position is None:
            assert isinstance(condition, Tensor)
            z, log_det = self(x, condition)
        else:
            factors = list(zip(condition, position, strict=True))
            log_det = x.new_zeros(x.shape[0])
            z = x
            for block in self.couplings():
                z, block_log_det = block.forward_factored(z, factors)
                log_det = log_det + block_log_det
        return gaussian_log_likelihood(z, log_det) / self.channels

    def project_conditions(self, condition: Tensor) -> list[Tensor]:
        """condition (M, P) -> each block's `project_condition` (M, 2 C1): for `log_likelihood_projected`."""
        return [block.project_condition(condition) for block in self.couplings()]

    def log_likelihood_projected(self, x: Tensor, projected: list[Tensor], index: Tensor) -> Tensor:
        """`log_likelihood_per_dim(x, conditions[index])` (N,) from the blocks' projections of the M
        distinct conditions (`project_conditions`), `index` (N,) naming each fiber's: the same to float
        rounding, without the N x P x 2 C1 condition products per block (inference)."""
        log_det = x.new_zeros(x.shape[0])
        for block, table in zip(self.couplings(), projected, strict=True):
            x, block_log_det = block.forward_projected(x, table, index)
            log_det = log_det + block_log_det
        return gaussian_log_likelihood(x, log_det) / self.channels


class _FactoredLinear(torch.autograd.Function):
    """W [x1; c] + b with c_i = [table_1[index_1[i]], ...] (`forward_factored`), its weight gradient
    written blockwise into one buffer (splitting W would concatenate, slicing would zero-fill)."""

    @staticmethod
    def forward(ctx, x1: Tensor, weight: Tensor, bias: Tensor,  # type: ignore[override]
                tables: list[Tensor], indices: list[Tensor]) -> Tensor:
        ctx.save_for_backward(x1, weight)
        ctx.tables, ctx.indices = tables, indices
        c1, n = x1.shape[1], x1.shape[0]
        hidden = torch.addmm(bias, x1, weight[:, :c1].T)  # (N, 2 C1')
        start = c1
        for table, index in zip(tables, indices, strict=True):
            block = weight[:, start : start + table.shape[1]]
            if table.shape[0] > n:  # more rows than fibers: each fiber's own row
                hidden.addmm_(table.index_select(0, index), block.T)
            else:
                hidden.add_((table @ block.T).index_select(0, index))
            start += table.shape[1]
        return hidden

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x1, weight = ctx.saved_tensors
        c1 = x1.shape[1]
        grad_weight = torch.empty_like(weight)
        grad_weight[:, :c1] = grad.T @ x1
        start = c1
        for table, index in zip(ctx.tables, ctx.indices, strict=True):
            width = table.shape[1]
            if table.shape[0] > x1.shape[0]:
                grad_weight[:, start : start + width] = grad.T @ table.index_select(0, index)
            else:
                summed = grad.new_zeros(table.shape[0], grad.shape[1]).index_add_(0, index, grad)
                grad_weight[:, start : start + width] = summed.T @ table
            start += width
        grad_x1 = grad @ weight[:, :c1] if ctx.needs_input_grad[0] else None
        return grad_x1, grad_weight, grad.sum(0), None, None


class _Permute(torch.autograd.Function):
    """y[:, perm] whose backward is the gather grad[:, perm_inverse]: the same gradient (each entry
    receives one value) without indexing's zero-filled scatter-add."""

    @staticmethod
    def forward(ctx, y: Tensor, perm: Tensor, perm_inverse: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(perm_inverse)
        return y.index_select(1, perm)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (perm_inverse,) = ctx.saved_tensors
        return grad.index_select(1, perm_inverse), None, None


def gaussian_log_likelihood(z: Tensor, log_det: Tensor) -> Tensor:
    """CFlow-AD's `get_logp`: log N(z; 0, I) + log|det J|, summed over the C channels of z (N, C) -> (N,)."""
    return -z.shape[1] * LOG_SQRT_2PI - 0.5 * z.square().sum(dim=1) + log_det
