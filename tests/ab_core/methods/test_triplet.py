import pytest
import torch
from pydantic import ValidationError

from ab_core.methods.triplet import TripletParams, build
from tests.ab_core.methods.tiny import make_batch, make_ctx


@pytest.mark.parametrize(
    "params",
    [TripletParams(), TripletParams(defect="blended", aligned=True), TripletParams(projection=False)],
    ids=["cutpaste", "blended-aligned", "no-projection"],
)
def test_triplet_step_gives_a_finite_loss_with_gradients_on_every_trainable_parameter(params):
    torch.manual_seed(0)
    model = build(params, make_ctx())
    loss = model.training_step(make_batch())
    assert loss.dim() == 0 and torch.isfinite(loss) and loss >= 0
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_triplet_reports_distances_of_unit_embeddings_and_the_share_of_satisfied_triplets():
    torch.manual_seed(0)
    model = build(TripletParams(), make_ctx())
    model.training_step(make_batch())
    metrics = model.step_metrics()
    assert set(metrics) == {"d_pos", "d_neg", "satisfied"}
    assert 0 <= metrics["d_pos"] <= 2 and 0 <= metrics["d_neg"] <= 2
    assert 0 <= metrics["satisfied"] <= 1


def test_triplet_without_projection_has_no_head_state():
    assert build(TripletParams(projection=False), make_ctx()).head_state() == {}
    assert "projection.layers.0.weight" in build(TripletParams(), make_ctx()).head_state()


@pytest.mark.parametrize("field, value", [("margin", 0.0), ("margin", 2.5), ("defect", "scratch")])
def test_triplet_bad_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        TripletParams(**{field: value})
