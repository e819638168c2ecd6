"""Relative position: 8 (centre, neighbour) pairs per image, concatenated features, 8-way cross-entropy."""

import math

import pytest
import torch
from pydantic import ValidationError

from ab_core.errors import SpecError
from ab_core.methods.relative_position import RelativePositionParams, build
from ab_core.specs import parse_spec
from tests.ab_core.methods.tiny import make_batch, make_ctx

SMALL = {"patch_size": 8, "gap": 2, "jitter": 1, "hidden_dim": 32}


@pytest.mark.parametrize("colour", ["drop", "jitter"])  # all four: tests/ab_core/data/test_context_patches
def test_a_step_classifies_eight_pairs_per_image(colour):
    torch.manual_seed(0)
    model = build(RelativePositionParams(colour=colour, **SMALL), make_ctx())
    loss = model.training_step(make_batch(3))
    logits, labels = model.last.value
    assert logits.shape == (24, 8) and labels.tolist() == list(range(8)) * 3
    assert 0.5 < loss.item() < 2 * math.log(8)  # near ln 8 at init
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert 0 <= model.step_metrics()["pretext_top1"] <= 1


def test_the_pair_head_reads_the_centre_then_the_neighbour():
    """Swap the halves of the head's first layer and the prediction changes: the order is part of it."""
    torch.manual_seed(0)
    model = build(RelativePositionParams(**SMALL), make_ctx()).eval()
    patches, _ = model.pairs(make_batch(1).images)  # (1, 9, 3, 8, 8)
    with torch.no_grad():
        features = model.backbone(patches.flatten(0, 1))  # (9, 512)
        centre, neighbour = features[4:5], features[5:6]  # neighbour label 4: right of the centre
        forward = model.head(torch.cat([centre, neighbour], 1))
        backward = model.head(torch.cat([neighbour, centre], 1))
    assert model.head[0].in_features == 2 * 512
    assert not torch.allclose(forward, backward)


def test_a_grid_too_large_for_the_crop_is_a_spec_problem_naming_the_field():
    spec = {
        "kind": "pretrain",
        "method": {"method": "relative_position", "patch_size": 20, "gap": 10, "jitter": 2},
        "data": {"dataset": "image_folder", "root": "/data", "resize": 64, "crop": 64},
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    (problem,) = caught.value.problems
    assert problem.startswith("method.patch_size: ") and "= 84 px, more than data.crop 64" in problem
    with pytest.raises(SpecError, match="= 66 px"):  # 42 + 20 + 4
        parse_spec({**spec, "method": {**spec["method"], "patch_size": 14}})
    parse_spec({**spec, "method": {**spec["method"], "patch_size": 13}})  # 39 + 20 + 4 = 63 fits


@pytest.mark.parametrize(
    "field, value", [("patch_size", 4), ("gap", -1), ("jitter", -2), ("colour", "grey"), ("hidden_dim", 2)]
)
def test_bad_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        RelativePositionParams(**{field: value})
