import pytest
import torch
from pydantic import ValidationError

from ab_core.methods.simclr import SimCLRParams, build
from tests.ab_core.methods.tiny import make_batch, make_ctx


@pytest.mark.parametrize("aligned", [False, True])
def test_simclr_step_gives_a_finite_loss_with_gradients_on_every_trainable_parameter(aligned):
    torch.manual_seed(0)
    model = build(SimCLRParams(aligned=aligned), make_ctx())
    loss = model.training_step(make_batch())
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_simclr_defaults_follow_the_seed_findings():
    params = SimCLRParams()
    assert (params.temperature, params.hidden_dim, params.out_dim) == (0.5, 512, 128)
    assert params.aligned is False


def test_simclr_saves_the_projection_head_and_exports_the_plain_backbone():
    model = build(SimCLRParams(out_dim=64), make_ctx())
    assert model.head_state()["projection.layers.3.weight"].shape == (64, 512)
    assert not any(k.startswith("projection") for k in model.backbone.state_dict())


@pytest.mark.parametrize("temperature", [0.0, -1.0, 10.5])
def test_simclr_temperature_out_of_range_names_the_field(temperature):
    with pytest.raises(ValidationError, match="temperature"):
        SimCLRParams(temperature=temperature)


def test_simclr_forwards_each_view_in_its_own_pass_and_scores_them_with_nt_xent(monkeypatch):
    torch.manual_seed(0)
    model = build(SimCLRParams(), make_ctx())
    batch = make_batch()
    view0, view1 = torch.randn(2, *batch.images.shape)
    monkeypatch.setattr("ab_core.methods.simclr.simclr_views", lambda *args, **kwargs: (view0, view1))
    passes: list[int] = []
    model.backbone.register_forward_hook(lambda module, inputs, output: passes.append(inputs[0].shape[0]))
    loss = model.training_step(batch)
    assert passes == [len(batch.images)] * 2  # one pass per view: BatchNorm statistics per view
    with torch.no_grad():  # train mode: each pass normalises with its own batch statistics again
        z0, z1 = (model.projection(model.backbone(view)) for view in (view0, view1))
        expected = model.loss(z0, z1)
    assert torch.allclose(loss, expected, atol=1e-6)
