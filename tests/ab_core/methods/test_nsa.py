"""NSA: a mask head over layer taps trained with pixel-wise BCE on the logistic label of NSA copies."""

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from ab_core.contracts import Batch, BuildContext
from ab_core.methods.nsa import NSAParams, build
from ab_core.spec_sections import BackboneSpec, DataSpec


def make_ctx() -> BuildContext:
    data = DataSpec(dataset="image_folder", root="unused", resize=48, crop=48)
    return BuildContext(BackboneSpec(), data, num_classes=1, device=torch.device("cpu"), seed=0)


def make_batch(size: int = 4) -> Batch:
    torch.manual_seed(0)
    images = F.avg_pool2d(torch.rand(size, 3, 48, 48), 5, 1, 2) * 255
    images[::2] *= 0.4  # dark and bright images: blends between them change the intensity
    return Batch(images.round().to(torch.uint8), torch.zeros(size, dtype=torch.int64))


@pytest.mark.parametrize(
    "params",
    [NSAParams(), NSAParams(gradients="mixed", layers=["layer2"], erosion=0, patches=1)],
    ids=["default", "mixed-one-patch"],
)
def test_a_step_is_the_bce_of_the_upsampled_logits_against_the_label(params):
    model = build(params, make_ctx())
    batch = make_batch()
    torch.manual_seed(1)
    loss = model.training_step(batch)
    torch.manual_seed(1)
    _, target = model.synthesize(batch.images)  # the same draws: the same target
    logits, last_target = model._last
    assert torch.equal(target, last_target) and logits.shape == (4, 1, 48, 48)
    assert torch.allclose(loss, F.binary_cross_entropy_with_logits(logits, target))
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    metrics = model.step_metrics()
    assert 0 <= metrics["target_mean"] <= 1 and 0 < metrics["predicted_mean"] < 1


def test_layers_past_the_deepest_read_are_frozen():
    model = build(NSAParams(layers=["layer2", "layer1"]), make_ctx())
    assert model.params.layers == ["layer1", "layer2"]  # depth order
    assert not any(p.requires_grad for p in model.backbone.layer3.parameters())
    assert not any(p.requires_grad for p in model.backbone.layer4.parameters())
    assert all(p.requires_grad for p in model.backbone.layer2.parameters())
    assert model.head.layers[0].in_channels == 64 + 128


@pytest.mark.parametrize(
    "field, value",
    [("width_bounds", (0.3, 0.1)), ("width_bounds", (0.1, 0.6)), ("layers", ["layer1", "layer1"]),
     ("gradients", "poisson"), ("logistic_k", 0.0), ("erosion", -1), ("patches", 0)],
)
def test_bad_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        NSAParams(**{field: value})
