"""Momentum (EMA) encoders: a frozen copy of a network that trails it, as MoCo, BYOL and PsCo keep."""

from __future__ import annotations

import copy

import torch
from torch import nn


def momentum_copy(online: nn.Module) -> nn.Module:
    """A copy of `online` with the same weights that takes no gradient."""
    return copy.deepcopy(online).requires_grad_(False)


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_target <- m * theta_target + (1 - m) * theta_online for every parameter; buffers (BatchNorm
    statistics) copied, as the PsCo code does. Both modules must have the same structure."""
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    online_params = dict(online.named_parameters())
    for name, param in target.named_parameters():
        param.mul_(momentum).add_(online_params[name].detach(), alpha=1 - momentum)
    online_buffers = dict(online.named_buffers())
    for name, buffer in target.named_buffers():
        buffer.copy_(online_buffers[name])
