"""The momentum encoder's update is the EMA formula on parameters, a copy on buffers."""

from __future__ import annotations

import torch
from torch import nn

from ab_core.components.momentum import ema_update, momentum_copy


def make() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def test_the_update_is_m_target_plus_one_minus_m_online_and_buffers_are_copied():
    torch.manual_seed(0)
    online = make()
    target = momentum_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    online(torch.randn(8, 4))  # moves the BatchNorm running statistics
    before = {k: v.clone() for k, v in target.state_dict().items()}
    m = 0.9
    ema_update(target, online, m)
    for name, param in online.named_parameters():
        expected = m * before[name] + (1 - m) * param.detach()
        assert torch.allclose(dict(target.named_parameters())[name], expected, atol=1e-7), name
    for name, buffer in online.named_buffers():
        assert torch.equal(dict(target.named_buffers())[name], buffer), name


def test_momentum_one_keeps_the_target_and_zero_copies_the_online():
    online, other = make(), make()
    target = momentum_copy(other)
    kept = {k: v.clone() for k, v in target.named_parameters()}
    ema_update(target, online, 1.0)
    assert all(torch.equal(v, kept[k]) for k, v in target.named_parameters())
    ema_update(target, online, 0.0)
    assert all(torch.equal(v, dict(online.named_parameters())[k]) for k, v in target.named_parameters())
