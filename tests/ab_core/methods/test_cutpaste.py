"""CutPaste 3-way: three views per image with labels 0 / 1 / 2, cross-entropy, pretext top-1."""

import math

import pytest
import torch
from pydantic import ValidationError

from ab_core.errors import SpecError
from ab_core.methods.cutpaste import CutPasteParams, build
from ab_core.specs import parse_spec
from tests.ab_core.methods.tiny import make_batch, make_ctx


def test_views_are_the_image_its_cutpaste_and_its_scar_labelled_0_1_2():
    torch.manual_seed(0)
    model = build(CutPasteParams(jitter=0.0), make_ctx())
    batch = make_batch()
    views, labels = model.views(batch.images)
    assert views.shape == (12, 3, 32, 32) and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(views[:4], batch.images)  # normal: untouched
    changed = (views != batch.images.repeat(3, 1, 1, 1)).any(1).flatten(1).sum(1)  # (12,) pixels
    assert (changed[4:] > 0).all()  # each CutPaste and scar copy differs from its image


def test_a_step_gives_a_finite_loss_gradients_everywhere_and_the_pretext_top1():
    torch.manual_seed(0)
    model = build(CutPasteParams(head_dims=[64, 32]), make_ctx())
    loss = model.training_step(make_batch())
    assert torch.isfinite(loss) and loss.dim() == 0
    assert 0.2 < loss.item() < 3 * math.log(3)  # near ln 3 at init
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    top1 = model.step_metrics()["pretext_top1"]
    assert 0 <= top1 <= 1 and abs(top1 * 12 - round(top1 * 12)) < 1e-6  # a share of the 12 views
    assert "head.0.weight" in model.head_state()


def test_the_default_head_is_the_authors_eight_512_layers_then_128_then_three_classes():
    model = build(CutPasteParams(), make_ctx())
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [512] * 8 + [128, 3]


@pytest.mark.parametrize(
    "field, value",
    [("area", (0.2, 0.1)), ("aspect", 0.0), ("scar_width", (1.0, 4.0)), ("jitter", 0.6), ("head_dims", [4])],
)
def test_bad_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        CutPasteParams(**{field: value})


def test_a_scar_that_cannot_fit_the_crop_is_a_spec_problem_naming_the_field():
    spec = {
        "kind": "pretrain",
        "method": {"method": "cutpaste"},
        "data": {"dataset": "image_folder", "root": "/data", "resize": 24, "crop": 24},
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert caught.value.problems[0].startswith("method.scar_length: ")
    assert "spans 29.0 px, more than data.crop 24" in caught.value.problems[0]
    with pytest.raises(SpecError, match="spans 25.0 px"):  # upright, the length alone is 25 px
        parse_spec({**spec, "method": {"method": "cutpaste", "scar_rotation": 0}})
    parse_spec({**spec, "method": {"method": "cutpaste", "scar_rotation": 0, "scar_length": [10, 20]}})
    parse_spec({**spec, "data": {**spec["data"], "resize": 32, "crop": 32}})  # 29 px fits 32
