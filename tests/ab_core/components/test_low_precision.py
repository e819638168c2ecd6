import copy
import weakref

import torch
from torch import nn

import ab_core.components.low_precision as low_precision
from ab_core.components.low_precision import with_cast_weights


def student() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.ConvTranspose2d(8, 4, 2, stride=2, bias=False))


def test_cast_weights_give_autocasts_outputs_and_gradients_bit_for_bit():
    images = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    ours, autocast = student(), student()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = with_cast_weights(ours, torch.bfloat16, images)
        expected = autocast(images)
    assert out.dtype == torch.bfloat16 and torch.equal(out, expected)
    out.float().square().sum().backward()
    expected.float().square().sum().backward()
    for mine, theirs in zip(ours.parameters(), autocast.parameters(), strict=True):
        assert mine.grad.dtype == torch.float32 and torch.equal(mine.grad, theirs.grad)
    assert torch.equal(ours[1].running_mean, autocast[1].running_mean)  # BN buffers updated in place


def test_no_cast_weight_outlives_the_forward(monkeypatch):
    casts: list[weakref.ref] = []
    functional_call = torch.func.functional_call

    def spy(module, weights, inputs):
        casts.extend(weakref.ref(w) for w in weights.values())
        return functional_call(module, weights, inputs)

    monkeypatch.setattr(low_precision.torch.func, "functional_call", spy)
    model = student()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = with_cast_weights(model, torch.bfloat16, torch.randn(2, 3, 6, 6))
    assert len(casts) == 2 and all(ref() is None for ref in casts)  # the two conv weights, freed
    out.float().sum().backward()  # backward casts them again
    assert all(p.grad is not None for p in model.parameters())

    kept = copy.deepcopy(model)  # the control: plain autocast keeps its casts until backward
    with torch.autocast("cpu", dtype=torch.bfloat16):
        casts.clear()
        out = spy(kept, {n: p.to(torch.bfloat16) for n, p in kept.named_parameters() if p.dim() == 4},
                  (torch.randn(2, 3, 6, 6),))
    assert casts and all(ref() is not None for ref in casts)
