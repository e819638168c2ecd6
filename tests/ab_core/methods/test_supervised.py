import pytest
import torch
from pydantic import ValidationError

from ab_core.contracts import Batch, BuildContext
from ab_core.errors import DataError
from ab_core.methods.supervised import SupervisedParams, build, random_hflip
from ab_core.spec_sections import BackboneSpec, DataSpec


def make_ctx(num_classes: int = 3) -> BuildContext:
    data = DataSpec(dataset="image_folder", root="unused", resize=32, crop=32)
    return BuildContext(BackboneSpec(), data, num_classes, torch.device("cpu"), seed=0)


def make_batch(size: int = 4, classes: int = 3) -> Batch:
    images = torch.randint(0, 256, (size, 3, 32, 32), dtype=torch.uint8)
    return Batch(images, torch.arange(size) % classes)


def test_supervised_step_gives_a_finite_loss_with_gradients_on_every_trainable_parameter():
    torch.manual_seed(0)
    model = build(SupervisedParams(), make_ctx())
    loss = model.training_step(make_batch())
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    metrics = model.step_metrics()
    assert set(metrics) == {"top1", "top5"}
    assert metrics["top5"] == 1.0  # 3 classes: every label is in the top 3


def test_supervised_saves_the_classifier_as_its_head():
    model = build(SupervisedParams(), make_ctx(num_classes=5))
    head = model.head_state()
    assert head["classifier.weight"].shape == (5, 512)
    assert head["classifier.bias"].shape == (5,)


def test_label_smoothing_raises_the_loss_of_a_confident_correct_prediction():
    torch.manual_seed(0)
    hard = build(SupervisedParams(flip=False), make_ctx())
    smooth = build(SupervisedParams(flip=False, label_smoothing=0.5), make_ctx())
    smooth.load_state_dict(hard.state_dict())
    hard.eval()
    smooth.eval()
    batch = make_batch()
    with torch.no_grad():
        hard.classifier.weight.zero_()
        hard.classifier.bias.copy_(torch.tensor([20.0, 0, 0]))
        smooth.classifier.load_state_dict(hard.classifier.state_dict())
    batch.labels.zero_()
    assert smooth.training_step(batch) > hard.training_step(batch) + 1


def test_random_hflip_mirrors_some_images_and_keeps_others():
    torch.manual_seed(0)
    images = torch.arange(16 * 4.0).view(16, 1, 1, 4)
    flipped = random_hflip(images)
    mirrored = [torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images, strict=True)]
    kept = [torch.equal(f, i) for f, i in zip(flipped, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and any(mirrored) and any(kept)


def test_supervised_refuses_a_single_class_dataset():
    with pytest.raises(DataError, match="1"):
        build(SupervisedParams(), make_ctx(num_classes=1))


def test_supervised_label_smoothing_out_of_range_names_the_field():
    with pytest.raises(ValidationError, match="label_smoothing"):
        SupervisedParams(label_smoothing=1.0)
