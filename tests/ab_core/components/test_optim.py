import copy

import torch
from torch import nn

from ab_core.components.optim import AdamInBackward


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten())


def test_adam_in_backward_steps_bit_identically_to_fused_adam_after_backward_and_keeps_no_grads():
    ours, reference = _model(), _model()
    reference.load_state_dict(ours.state_dict())
    AdamInBackward(ours.parameters(), lr=0.01, betas=(0.5, 0.999))  # its hooks hold it
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01, betas=(0.5, 0.999), fused=True)
    generator = torch.Generator().manual_seed(1)
    for _ in range(4):
        x = torch.randn(4, 3, 6, 6, generator=generator)
        ours(x).square().mean().backward()
        assert all(p.grad is None for p in ours.parameters())  # each consumed by its own step
        optimizer.zero_grad(set_to_none=True)
        reference(x).square().mean().backward()
        optimizer.step()
    for (name, a), b in zip(ours.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    moved = [n for n, v in _model().state_dict().items() if not torch.equal(v, ours.state_dict()[n])]
    assert "0.weight" in moved


def test_adam_in_backward_stops_stepping_once_removed():
    model = _model()
    stepper = AdamInBackward(model.parameters(), lr=0.01, betas=(0.9, 0.999))
    stepper.remove()
    before = copy.deepcopy(model.state_dict())
    model(torch.randn(2, 3, 6, 6)).sum().backward()
    after = model.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in ("0.weight", "0.bias", "3.weight", "1.weight"))
    assert model[0].weight.grad is not None  # an ordinary backward again
