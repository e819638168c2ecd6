"""PsCo: a step trains the online branch only, the momentum encoder follows by EMA, the queue fills with
momentum keys, and a queue smaller than the batch is a spec problem naming the field."""

from __future__ import annotations

import pytest
import torch

from ab_core.errors import SpecError
from ab_core.methods.psco import PsCoParams, build
from ab_core.specs import parse_spec
from tests.ab_core.methods.tiny import make_batch, make_ctx

SMALL = PsCoParams(queue_size=16, hidden_dim=64, out_dim=32, shots=2, momentum=0.9)


def test_a_step_trains_the_online_branch_enqueues_keys_and_the_momentum_encoder_follows():
    torch.manual_seed(0)
    model = build(SMALL, make_ctx())
    old_queue = model.queue.features.clone()
    loss = model.training_step(make_batch())
    assert torch.isfinite(loss) and set(model.step_metrics()) == {"supcon", "moco"}
    assert int(model.queue.pointer) == 4
    assert torch.allclose(model.queue.features[:4].norm(dim=1), torch.ones(4))
    assert torch.equal(model.queue.features[4:], old_queue[4:])
    loss.backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.momentum_backbone.parameters())
    momentum_before = {k: v.clone() for k, v in model.momentum_projector.named_parameters()}
    with torch.no_grad():
        for p in model.projector.parameters():
            p.add_(1.0)
    model.after_step()
    for name, param in model.momentum_projector.named_parameters():
        online = dict(model.projector.named_parameters())[name]
        assert torch.allclose(param, 0.9 * momentum_before[name] + 0.1 * online, atol=1e-6), name


def test_heads_are_saved_and_the_exported_backbone_is_the_online_one():
    model = build(SMALL, make_ctx())
    assert any(k.startswith("projector.") for k in model.head_state())
    assert any(k.startswith("predictor.") for k in model.head_state())
    assert model.backbone is not model.momentum_backbone


def spec(queue_size: int, batch_size: int, workers: int = 1) -> dict:
    return {"kind": "pretrain", "method": {"method": "psco", "queue_size": queue_size},
            "data": {"dataset": "image_folder", "root": "/data", "batch_size": batch_size},
            "resources": {"workers": workers}}


def test_a_queue_smaller_than_the_global_batch_is_a_problem_naming_queue_size():
    with pytest.raises(SpecError) as caught:
        parse_spec(spec(16, 32))
    (problem,) = caught.value.problems
    assert problem.startswith("method.queue_size: 16 is smaller") and "data.batch_size 32" in problem
    with pytest.raises(SpecError, match="x resources.workers 2 = 32"):
        parse_spec(spec(16, 16, workers=2))
    assert parse_spec(spec(32, 32)).method.queue_size == 32


def test_more_shots_than_queue_items_are_refused():
    with pytest.raises(SpecError, match="shots"):
        parse_spec({**spec(32, 8), "method": {"method": "psco", "queue_size": 32, "shots": 64}})
