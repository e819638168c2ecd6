"""SPD: both bases train, lambda weighs the regulariser, specs spell it `lambda`, views are aligned."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from ab_core.methods.spd import SPDParams, build
from ab_core.specs import json_schema, parse_spec
from tests.ab_core.methods.tiny import make_batch, make_ctx


@pytest.mark.parametrize("base", ["simsiam", "simclr"])
def test_each_base_trains_and_lambda_adds_the_spd_term(base):
    params = SPDParams.model_validate({"base": base, "lambda": 0.0, "dim": 128, "pred_dim": 32})
    torch.manual_seed(0)
    model = build(params, make_ctx())
    torch.manual_seed(1)
    without = model.training_step(make_batch())
    similarity = model.step_metrics()["spd_similarity"]
    weighted = build(params.model_copy(update={"lambda_": 2.0}), make_ctx())
    weighted.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    with_term = weighted.training_step(make_batch())
    assert with_term.item() == pytest.approx(without.item() + 2.0 * similarity, abs=1e-5)
    with_term.backward()
    assert all(p.grad is not None for p in weighted.backbone.parameters())


def test_lambda_is_spelled_lambda_in_specs_dumps_and_the_schema():
    raw = {"kind": "pretrain", "method": {"method": "spd", "lambda": 0.3},
           "data": {"dataset": "image_folder", "root": "/data"}}
    spec = parse_spec(raw)
    assert spec.method.lambda_ == 0.3
    assert spec.model_dump(mode="json")["method"]["lambda"] == 0.3
    assert parse_spec(spec.model_dump(mode="json")) == spec  # a worker re-validates the dump
    assert "lambda" in json_schema()["$defs"]["SPDParams"]["properties"]
    with pytest.raises(ValidationError):
        SPDParams.model_validate({"lambda_": 0.3})
    with pytest.raises(ValidationError, match="lambda"):
        SPDParams.model_validate({"lambda": -1})


def test_views_keep_the_layout_by_default_and_the_copy_differs_only_locally():
    model = build(SPDParams.model_validate({"dim": 64, "pred_dim": 16}), make_ctx())
    assert model.params.aligned
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    images[:, :, :, :16] = 255  # left half white: a flip or a crop would move the edge
    torch.manual_seed(0)
    view1, view2, blended = model.views(images)
    edge1 = view1.mean(dim=(1, 2))[:, :16].mean() > view1.mean(dim=(1, 2))[:, 16:].mean()
    assert bool(edge1) and (view2.mean(dim=(1, 2))[:, :16].mean() > view2.mean(dim=(1, 2))[:, 16:].mean())
    changed = ((blended - view1).abs().amax(dim=1) > 1e-4).float().mean(dim=(1, 2))  # (B,) fraction
    assert (changed < 0.2).all()


def test_a_reversed_blend_area_is_refused():
    with pytest.raises(ValidationError, match="blend_area"):
        SPDParams.model_validate({"blend_area": [0.1, 0.01]})
