import pytest
import torch

from ab_core.contracts import Batch, BuildContext
from ab_core.evaluation.metrics import top_k_accuracy
from ab_core.methods.linear_probe import EncoderChangedError, LinearProbeParams, build
from ab_core.specs import BackboneSpec, DataSpec


def make_ctx(num_classes: int = 2) -> BuildContext:
    data = DataSpec(dataset="image_folder", root="unused", resize=32, crop=32)
    return BuildContext(BackboneSpec(), data, num_classes, torch.device("cpu"), seed=0)


def bright_or_dark(count: int, seed: int) -> Batch:
    """Class 0: dark images, class 1: bright ones: linearly separable in any encoder's features."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    noise = torch.randint(0, 60, (count, 3, 32, 32), generator=generator)
    images = (noise + 150 * labels.view(-1, 1, 1, 1)).to(torch.uint8)
    return Batch(images, labels)


@pytest.mark.parametrize("optimizer", ["sgd", "lbfgs"])
def test_linear_probe_leaves_the_encoder_unchanged_and_separates_easy_classes(optimizer):
    torch.manual_seed(0)
    probe = build(LinearProbeParams(optimizer=optimizer, epochs=20, lr=0.1 if optimizer == "sgd" else 1.0),
                  make_ctx())
    before = {name: value.clone() for name, value in probe.encoder.state_dict().items()}
    probe.fit([bright_or_dark(8, seed) for seed in range(3)])
    for name, value in probe.encoder.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(not p.requires_grad for p in probe.encoder.parameters())
    test = bright_or_dark(8, seed=99)
    logits = probe.score(test)["logits"]
    assert logits.shape == (8, 2)
    assert top_k_accuracy(logits, test.labels, 1) == 1.0


def test_linear_probe_refuses_a_result_when_the_encoder_moved():
    probe = build(LinearProbeParams(epochs=1), make_ctx())

    def leaky_features(images):  # a bug: the encoder runs in train mode and its BN statistics move
        probe.encoder.train()
        return probe.encoder(images.float())

    probe.features = leaky_features
    with pytest.raises(EncoderChangedError, match="running_mean"):
        probe.fit([bright_or_dark(4, 0)])


def test_top_k_accuracy_counts_labels_among_the_k_highest_logits():
    logits = torch.tensor([[3.0, 2, 1, 0], [0.0, 1, 2, 3], [1.0, 3, 2, 0]])
    labels = torch.tensor([0, 1, 2])
    assert top_k_accuracy(logits, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(logits, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(logits, labels, 5) == 1.0  # k capped at the 4 classes
